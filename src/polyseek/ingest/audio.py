"""Audio files (WAV, MP3, FLAC, M4A, OGG, Opus, ...): streamed decoding, speech segments with timestamps.

Decoding is PyAV (FFmpeg) in one streaming pass; speech is found and transcribed by :mod:`polyseek.ingest.speech`
(Silero VAD + Whisper) window by window, so a two-hour recording never sits in memory. Each segment is a
run of speech of at most ``MAX_SEGMENT`` seconds, cut at pauses; silence yields nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import (
    CorruptFileError,
    MissingDependencyError,
    UnsupportedFileError,
)
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.ingest.speech import (
    SAMPLE_RATE,
    Segment,
    StreamingTranscriber,
    whisper_model_name,
)
from polyseek.types import Locator, Modality

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({"wav", "mp3", "flac", "m4a", "ogg", "oga", "opus", "aac"})
MAX_SEGMENT = 15.0  # seconds of speech per searchable segment: long enough for context, short enough to point at
PAUSE = 0.8  # a silence this long between recognised segments starts a new searchable segment
MAX_DECODE_ERRORS = 50  # damaged packets tolerated before a file counts as corrupt
SYNC_TOLERANCE = 0.25  # seconds of timestamp jump in the audio stream before silence is inserted


def import_av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("av") from exc
    return av


def open_media(path: Path) -> Any:
    """Open a media container, turning FFmpeg's errors into polyseek's."""
    av = import_av()
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path.name}: empty file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise CorruptFileError(f"{path.name}: not a media file FFmpeg can read ({exc.strerror or exc})") from exc
    if not container.streams.audio and not container.streams.video:
        container.close()
        raise UnsupportedFileError(f"{path.name}: no audio or video stream", hint="accepted: files with sound or pictures")
    return container


def media_origin(container: Any) -> float:
    """The container's start time in seconds: what polyseek calls media time 0 (MPEG-TS rarely starts at 0)."""
    return container.start_time / 1_000_000 if container.start_time else 0.0


def media_duration(container: Any) -> float:
    """Duration in seconds from the container or its streams (0.0 when nothing says)."""
    if container.duration:
        return container.duration / 1_000_000
    for stream in list(container.streams.video) + list(container.streams.audio):
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return 0.0


class AudioTrack:
    """Decodes one audio stream to 16 kHz mono float32, inserting silence where timestamps jump."""

    def __init__(self, stream: Any, origin: float = 0.0) -> None:
        av = import_av()
        self.stream = stream
        self.origin = origin  # the container's start time: media time 0
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self.start: float | None = None
        self.samples = 0

    @property
    def position(self) -> float:
        return (self.start or 0.0) + self.samples / SAMPLE_RATE

    def convert(self, frame: Any) -> np.ndarray:
        if self.start is None:
            self.start = max(0.0, float(frame.time) - self.origin) if frame.time is not None else 0.0
        pieces = []
        time = float(frame.time) - self.origin if frame.time is not None else None
        if time is not None and time - self.position > SYNC_TOLERANCE:
            gap = int((time - self.position) * SAMPLE_RATE)
            pieces.append(np.zeros(gap, np.float32))
        try:
            converted = self.resampler.resample(frame)
        except ValueError:  # a damaged stream changed sample format, layout or rate mid-way: a fresh resampler
            self.resampler = import_av().AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            converted = self.resampler.resample(frame)
        for out in converted:
            pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        self.samples += samples.size
        return samples

    def drain(self) -> np.ndarray:
        pieces = [out.to_ndarray().reshape(-1) for out in self.resampler.resample(None)]
        samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
        self.samples += samples.size
        return samples


class DecodeErrors:
    """Counts damaged packets; too many and the file is reported as corrupt."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def add(self, exc: Exception) -> None:
        self.count += 1
        log.debug("%s: decode error %s", self.path, exc)
        if self.count > MAX_DECODE_ERRORS:
            raise CorruptFileError(f"{self.path.name}: damaged media, {self.count} packets could not be decoded ({exc})")


def decode_packet(packet: Any, errors: DecodeErrors) -> list[Any]:
    av = import_av()
    try:
        return list(packet.decode())
    except av.error.FFmpegError as exc:
        errors.add(exc)
        return []


@dataclass(frozen=True)
class Span:
    """A stretch of media time with the transcript said in it."""

    start: float
    end: float
    text: str = ""


def speech_runs(segments: Iterable[Segment], max_length: float = MAX_SEGMENT, pause: float = PAUSE) -> list[Span]:
    """Group consecutive recognised segments into runs split at pauses and kept under ``max_length`` seconds.

    A single recognised segment longer than ``max_length`` stays whole (it is one utterance).
    """
    runs: list[Span] = []
    for segment in sorted(segments, key=lambda s: s.start):
        if runs:
            last = runs[-1]
            if segment.start - last.end < pause and segment.end - last.start <= max_length:
                runs[-1] = Span(last.start, max(last.end, segment.end), f"{last.text} {segment.text}")
                continue
        runs.append(Span(segment.start, segment.end, segment.text))
    return runs


def transcript_between(segments: Iterable[Segment], start: float, end: float, min_overlap: float = 0.25) -> str:
    """Text of the segments overlapping ``[start, end]``; a sliver of overlap counts only for a segment inside it."""
    texts = []
    for segment in segments:
        overlap = min(end, segment.end) - max(start, segment.start)
        if overlap > 0 and (overlap >= min_overlap or overlap >= 0.5 * (segment.end - segment.start)):
            texts.append(segment.text)
    return " ".join(texts)


def audio_segments(path: Path, progress: ProgressFn | None = None, container: Any = None) -> Iterator[Chunk]:
    """Stream one file's audio track into AUDIO_SEGMENT chunks (transcript text, start/end locator)."""
    av = import_av()
    container = container or open_media(path)
    try:
        if not container.streams.audio:
            raise UnsupportedFileError(f"{path.name}: no audio stream", hint="accepted: audio files with sound")
        stream = container.streams.audio[0]
        total = media_duration(container)
        track = AudioTrack(stream, media_origin(container))
        errors = DecodeErrors(path)
        transcriber: StreamingTranscriber | None = None
        pending: list[Segment] = []
        try:
            for packet in container.demux(stream):
                for frame in decode_packet(packet, errors):
                    samples = track.convert(frame)
                    if transcriber is None:
                        transcriber = StreamingTranscriber(start=track.start or 0.0)
                    pending += transcriber.feed(samples)
                if pending:
                    yield from _emit(path, pending, final=False)
                if progress:
                    progress(min(track.position, total or track.position), total or track.position, "s")
        except av.error.FFmpegError as exc:
            errors.add(exc)
            log.warning("%s: stopped reading at %.1f s: %s", path, track.position, exc)
        if transcriber is None:
            raise CorruptFileError(f"{path.name}: the audio stream holds no decodable sound")
        transcriber.feed(track.drain())
        pending += transcriber.flush()
        yield from _emit(path, pending, final=True)
        if progress:
            progress(track.position, max(total, track.position), "s")
    finally:
        container.close()


def _emit(path: Path, pending: list[Segment], final: bool) -> Iterator[Chunk]:
    """Yield the runs that can no longer grow; keep the last run's segments pending unless at the end."""
    runs = speech_runs(pending)
    ready = runs if final else runs[:-1]
    for run in ready:
        yield Chunk(modality=Modality.AUDIO_SEGMENT, locator=Locator(start=round(run.start, 3), end=round(run.end, 3)),
                    text=run.text, metadata={"kind": "speech", "asr": whisper_model_name()})
    if final:
        pending.clear()
    elif ready:
        pending[:] = [s for s in pending if s.start >= runs[-1].start]


@ingestors.register("audio")
class AudioIngestor:
    name = "audio"
    extensions = AUDIO_EXTENSIONS
    pictures = False  # speech segments: words only

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
        yield from audio_segments(path, progress)
