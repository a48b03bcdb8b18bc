"""Video files: one streaming decode pass → shots, keyframes and transcript → timestamped moments.

Pictures are sampled at ``SAMPLE_FPS`` (downscaled) for PySceneDetect's content detector; candidate keyframes are
kept as small JPEGs only for the stretch not yet emitted; the audio track is transcribed window by window
(:mod:`polyseek.ingest.speech`). A moment is a shot, or a piece of a shot cut at speech boundaries and at most
``MAX_MOMENT`` seconds long; each has one keyframe (the sampled frame nearest its middle) and the transcript
it overlaps. Memory is bounded by the window length, not by the file's duration.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from polyseek.errors import CorruptFileError, InvalidInputError, UnsupportedFileError
from polyseek.ingest.audio import (
    AudioTrack,
    DecodeErrors,
    audio_segments,
    decode_packet,
    import_av,
    media_duration,
    media_origin,
    open_media,
    speech_runs,
    transcript_between,
)
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.ingest.speech import Segment, StreamingTranscriber, whisper_model_name
from polyseek.types import Locator, Modality

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "wmv", "flv", "3gp"})
SAMPLE_FPS = 4.0  # pictures per second shown to the shot detector
KEYFRAME_EVERY = 2  # every 2nd sample (2 per second) is kept as a keyframe candidate
DETECT_WIDTH = 160  # the content detector compares HSV histograms-worth of pixels: small is enough
KEYFRAME_SHORT_SIDE = 256  # encoders look at 224-256 px
JPEG_QUALITY = 90
CUT_THRESHOLD = 27.0  # PySceneDetect's default for ContentDetector
MIN_SHOT = 1.0  # seconds; shorter flickers are merged
MAX_MOMENT = 15.0  # a moment longer than this is cut (at speech pauses where there are any)
MIN_MOMENT = 4.0  # a silent stretch shorter than this joins its neighbour: too short to be a result of its own
EMIT_EVERY = 30.0  # media seconds between emissions of finished moments
DECODE_THREADS = 2
PROGRESS_EVERY = 5.0  # media seconds between progress reports
MAX_CANDIDATES = 600  # keyframe JPEGs held (~20 KB each); more are thinned, e.g. when the sound lags the pictures


@dataclass(frozen=True)
class Piece:
    """A planned moment inside one shot."""

    start: float
    end: float
    shot: int


def split_shot(start: float, end: float, segments: list[Segment], max_moment: float = MAX_MOMENT,
               min_moment: float = MIN_MOMENT) -> list[tuple[float, float]]:
    """Cut one shot into moments: runs of speech and the silences between them, none over ``max_moment``.

    Silences shorter than ``min_moment`` join the neighbouring speech, so a shot with one sentence in it
    becomes one moment; a shot with a sentence and a long silence becomes two. Splitting never crosses shots.
    """
    inside = [Segment(max(start, s.start), min(end, s.end), s.text) for s in segments
              if min(end, s.end) - max(start, s.start) > 0.2]
    runs = speech_runs(inside, max_length=max_moment)
    pieces: list[list[Any]] = []  # [start, end, is_speech]
    cursor = start
    for run in runs:
        if run.start > cursor:
            pieces.append([cursor, run.start, False])
        pieces.append([max(cursor, run.start), run.end, True])
        cursor = max(cursor, run.end)
    if end > cursor:
        pieces.append([cursor, end, False])
    merged: list[list[Any]] = []
    for index, piece in enumerate(pieces):
        short_silence = not piece[2] and piece[1] - piece[0] < min_moment
        if short_silence and len(pieces) > 1:
            if index == 0:
                pieces[1][0] = piece[0]  # a short lead-in belongs to what follows
            elif index == len(pieces) - 1:
                merged[-1][1] = piece[1]  # a short tail belongs to what precedes
            else:
                middle = (piece[0] + piece[1]) / 2
                merged[-1][1] = middle
                pieces[index + 1][0] = middle
            continue
        merged.append(piece)
    out: list[tuple[float, float]] = []
    for piece_start, piece_end, _speech in merged or [[start, end, False]]:
        parts = max(1, math.ceil((piece_end - piece_start) / max_moment - 1e-9))
        step = (piece_end - piece_start) / parts
        out += [(piece_start + i * step, piece_start + (i + 1) * step) for i in range(parts)]
    return out


def _lazy_jpeg(data: bytes) -> Image.Image:
    """A PIL image that holds only its JPEG bytes until an encoder reads the pixels."""
    return Image.open(io.BytesIO(data))


def _keyframe_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, KEYFRAME_SHORT_SIDE / max(1, min(width, height)))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class ShotSampler:
    """Samples decoded frames at a low rate: feeds the shot detector and keeps candidate keyframes."""

    def __init__(self, width: int, height: int) -> None:
        from scenedetect.common import FrameTimecode
        from scenedetect.detectors import ContentDetector

        self._timecode = FrameTimecode
        self.detector = ContentDetector(threshold=CUT_THRESHOLD, min_scene_len=MIN_SHOT)
        self.size = _keyframe_size(width, height)
        self.count = 0
        self.next_time = 0.0
        self.last_time = 0.0
        self.times: deque[float] = deque(maxlen=4096)  # sample index → time, for cuts reported late
        self.cuts: list[float] = []
        self.candidates: list[tuple[float, bytes]] = []

    def add(self, frame: Any, time: float) -> None:
        if time + 1e-6 < self.next_time:
            return
        import cv2

        self.next_time = max(self.next_time + 1.0 / SAMPLE_FPS, time + 0.5 / SAMPLE_FPS)
        width, height = self.size
        rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
        small = cv2.resize(rgb, (DETECT_WIDTH, max(2, DETECT_WIDTH * height // width)), interpolation=cv2.INTER_AREA)
        index = self.count
        self.count += 1
        self.times.append(time)
        for timecode in self.detector.process_frame(self._timecode(index, fps=SAMPLE_FPS), small[:, :, ::-1].copy()):
            self._cut(int(timecode.frame_num))
        if index % KEYFRAME_EVERY == 0:
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, "JPEG", quality=JPEG_QUALITY)
            self.candidates.append((time, buffer.getvalue()))
            if len(self.candidates) > MAX_CANDIDATES:  # a badly interleaved file: keep memory flat, thin the oldest half
                half = len(self.candidates) // 2
                self.candidates = self.candidates[:half:2] + self.candidates[half:]
        self.last_time = time

    def _cut(self, index: int) -> None:
        first = self.count - len(self.times)
        if index - first < 1 or index - first >= len(self.times):
            return
        # the cut happened between the previous sample and this one
        at = (self.times[index - first - 1] + self.times[index - first]) / 2
        if not self.cuts or at > self.cuts[-1] + 1e-3:
            self.cuts.append(at)

    def finish(self) -> None:
        if self.count:
            for timecode in self.detector.post_process(self._timecode(self.count - 1, fps=SAMPLE_FPS)):
                self._cut(int(timecode.frame_num))

    def settled_until(self) -> float:
        """Cuts before this time will not change (the detector reports cuts up to ``MIN_SHOT`` late)."""
        return self.last_time - (MIN_SHOT + 1.0)

    def keyframe(self, start: float, end: float) -> tuple[float, bytes] | None:
        if not self.candidates:
            return None
        middle = (start + end) / 2
        return min(self.candidates, key=lambda c: abs(c[0] - middle))

    def forget_before(self, time: float) -> None:
        keep = [c for c in self.candidates if c[0] >= time - 1.0]
        self.candidates = keep or self.candidates[-1:]


class MomentPlanner:
    """Turns shots and transcript into moments, emitting those that later media cannot change."""

    def __init__(self, path: Path, sampler: ShotSampler) -> None:
        self.path = path
        self.sampler = sampler
        self.start = 0.0
        self.shot = 0
        self.segments: list[Segment] = []

    def emit(self, until: float, final: bool) -> Iterator[Chunk]:
        cuts = [c for c in self.sampler.cuts if self.start + 1e-3 < c < until - 1e-3]
        if final and cuts and until - cuts[-1] < MIN_SHOT / 2:  # a cut in the last frames (a fade out) is no shot
            cuts.pop()
        bounds = [self.start, *cuts, until]
        pieces: list[Piece] = []
        next_start, next_shot = self.start, self.shot
        for number, (shot_start, shot_end) in enumerate(itertools.pairwise(bounds)):
            shot = self.shot + number
            planned = [Piece(a, b, shot) for a, b in split_shot(shot_start, shot_end, self.segments)]
            if number == len(bounds) - 2 and not final:  # the last shot may still be going on
                next_start, next_shot = planned[-1].start, shot
                planned = planned[:-1]
            pieces += planned
        for piece in pieces:
            yield self._chunk(piece)
        if final:
            return
        self.start, self.shot = next_start, next_shot
        self.segments = [s for s in self.segments if s.end > self.start]
        self.sampler.forget_before(self.start)

    def _chunk(self, piece: Piece) -> Chunk:
        keyframe = self.sampler.keyframe(piece.start, piece.end)
        metadata: dict[str, Any] = {"shot": piece.shot}
        image = None
        if keyframe is not None:
            metadata["keyframe_time"] = round(keyframe[0], 3)  # seconds; keyframe_at(path, it) gives the picture
            image = _lazy_jpeg(keyframe[1])
        text = transcript_between(self.segments, piece.start, piece.end)
        if text:
            metadata["asr"] = whisper_model_name()  # which recogniser heard it: re-index after changing models
        return Chunk(modality=Modality.VIDEO_MOMENT, locator=Locator(start=round(piece.start, 3), end=round(piece.end, 3)),
                     text=text, image=image, metadata=metadata)


def _is_still_image(stream: Any) -> bool:
    """Cover art in audio files shows up as a one-picture video stream."""
    try:
        import av

        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except Exception:  # noqa: BLE001 - older PyAV without dispositions
        return False


def video_moments(path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
    """Stream a video file into VIDEO_MOMENT chunks (keyframe image, transcript text, start/end)."""
    av = import_av()
    container = open_media(path)
    videos = [s for s in container.streams.video if not _is_still_image(s)]
    if not videos:  # sound only, in a video container
        yield from audio_segments(path, progress, container)
        return
    try:
        video = videos[0]
        if video.codec_context is None:  # a damaged header names a codec that cannot be opened
            raise CorruptFileError(f"{path.name}: the video stream cannot be decoded (damaged or unknown codec)")
        video.thread_type = "AUTO"
        video.thread_count = DECODE_THREADS
        # pictures are looked at 4 times a second: frames nothing refers to (most B-frames) need not be decoded;
        # 1080p H.264 decodes in ~55% of the time
        video.codec_context.skip_frame = "NONREF"
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise CorruptFileError(f"{path.name}: the video stream has no picture size")
        total = media_duration(container)
        sampler = ShotSampler(width, height)
        planner = MomentPlanner(path, sampler)
        origin = media_origin(container)
        track = AudioTrack(audio, origin) if audio is not None else None
        transcriber: StreamingTranscriber | None = None
        errors = DecodeErrors(path)
        frames = 0
        reported = 0.0
        fps = float(video.average_rate or video.guessed_rate or 25)
        try:
            for packet in container.demux(*[s for s in (video, audio) if s is not None]):
                if packet.stream.index == video.index:
                    for frame in decode_packet(packet, errors):
                        time = frame.time - origin if frame.time is not None else frames / fps
                        frames += 1
                        sampler.add(frame, max(0.0, time))
                elif track is not None:
                    for frame in decode_packet(packet, errors):
                        samples = track.convert(frame)
                        if transcriber is None:
                            transcriber = StreamingTranscriber(start=track.start or 0.0)
                        planner.segments += transcriber.feed(samples)
                settled = sampler.settled_until()
                if track is not None:
                    settled = min(settled, transcriber.done_until if transcriber else 0.0)
                if settled - planner.start >= EMIT_EVERY:
                    yield from planner.emit(settled, final=False)
                if progress and sampler.last_time - reported >= PROGRESS_EVERY:
                    reported = sampler.last_time
                    progress(reported, max(total, reported), "s")
        except av.error.FFmpegError as exc:
            raise CorruptFileError(f"{path.name}: damaged media at {sampler.last_time:.1f} s ({exc})") from exc
        sampler.finish()
        if not frames:
            raise CorruptFileError(f"{path.name}: the video stream holds no decodable picture")
        if transcriber is not None and track is not None:
            transcriber.feed(track.drain())
            planner.segments += transcriber.flush()
        end = max(sampler.last_time + 1.0 / fps, track.position if track is not None and track.samples else 0.0)
        if total and end < total - max(2.0, 0.1 * total):  # the container promised more: cut off in transfer
            raise CorruptFileError(f"{path.name}: truncated, pictures end at {end:.1f} s of {total:.1f} s")
        if total and abs(total - end) < 2.0:
            end = total
        yield from planner.emit(end, final=True)
        if progress:
            progress(end, end, "s")
    finally:
        container.close()


def keyframe_at(path: str | Path, seconds: float) -> Image.Image:
    """The video frame shown at ``seconds`` (for thumbnails and previews).

    >>> keyframe_at("talk.mp4", 751.0).save("at-12m31s.jpg")  # doctest: +SKIP
    """
    try:
        target = float(seconds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"seconds must be a number, got {seconds!r}") from None
    if not math.isfinite(target) or target < 0:
        raise InvalidInputError(f"seconds must be a finite time from 0, got {seconds!r}")
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"video file not found: {path}")
    av = import_av()
    container = open_media(path)
    try:
        videos = [s for s in container.streams.video if not _is_still_image(s)]
        if not videos:
            raise UnsupportedFileError(f"{path.name}: no video stream to take a frame from")
        stream = videos[0]
        start = media_origin(container)
        best = None
        try:
            container.seek(int((start + target) / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if best is not None and frame.time - start > target + 1e-3:
                    break
                best = frame
        except av.error.FFmpegError as exc:
            if best is None:
                raise CorruptFileError(f"{path.name}: cannot decode a frame at {target:.2f} s ({exc})") from exc
        if best is None:
            raise CorruptFileError(f"{path.name}: no frame at {target:.2f} s")
        return best.to_image()
    finally:
        container.close()


@ingestors.register("video")
class VideoIngestor:
    name = "video"
    extensions = VIDEO_EXTENSIONS

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
        yield from video_moments(path, progress)
