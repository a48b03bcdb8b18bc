"""Audio ingestion: speech segments with timestamps from espeak-ng speech in several formats; windowed recognition."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import EncoderError
from polyseek.ingest.audio import (
    AudioIngestor,
    audio_segments,
    speech_runs,
    transcript_between,
)
from polyseek.ingest.speech import (
    SAMPLE_RATE,
    Segment,
    StreamingTranscriber,
    load_whisper,
    quietest_cut,
)
from polyseek.types import Modality
from tests.ingest._media import RATE, have_espeak, soundtrack, write_audio

needs_espeak = pytest.mark.skipif(not have_espeak(), reason="needs Debian espeak-ng")
FIRST, SECOND = "Welcome to the weather report.", "The red fire truck is parked outside."


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    audio, spans = soundtrack(10.0, [(1.0, FIRST), (6.0, SECOND)], root)
    return root, audio, spans


# ---- grouping (pure) --------------------------------------------------------------------------------------------
def test_speech_runs_split_at_pauses_and_length():
    segments = [Segment(0.0, 2.0, "a"), Segment(2.3, 4.0, "b"), Segment(6.0, 7.0, "c")]
    assert [(r.start, r.end, r.text) for r in speech_runs(segments, pause=0.8)] == [(0.0, 4.0, "a b"), (6.0, 7.0, "c")]
    long = [Segment(i * 2.0, i * 2.0 + 1.9, str(i)) for i in range(10)]
    runs = speech_runs(long, max_length=6.0, pause=0.8)
    assert len(runs) > 1 and all(r.end - r.start <= 6.0 for r in runs)


def test_transcript_between_ignores_slivers():
    segments = [Segment(0.0, 4.0, "first"), Segment(4.0, 8.0, "second")]
    assert transcript_between(segments, 0.0, 4.1) == "first"
    assert transcript_between(segments, 3.0, 5.0) == "first second"


def test_quietest_cut_lands_in_the_silence():
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.3, SAMPLE_RATE * 10).astype(np.float32)
    audio[int(6.5 * SAMPLE_RATE): int(7.5 * SAMPLE_RATE)] = 0.0
    cut = quietest_cut(audio, 5 * SAMPLE_RATE)
    assert 6.5 * SAMPLE_RATE <= cut <= 7.5 * SAMPLE_RATE


def test_unknown_whisper_model_fails_with_a_hint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="POLYSEEK_WHISPER_MODEL"):
        load_whisper("no-such-whisper-size")


def test_a_missing_core_media_package_names_a_real_install_command(monkeypatch):
    """It named a 'media' extra that polyseek does not have; av is a core dependency."""
    import sys

    from polyseek.errors import MissingDependencyError
    from polyseek.ingest.audio import import_av

    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    with pytest.raises(MissingDependencyError) as caught:
        import_av()
    assert "'av'" in str(caught.value) and "[media]" not in caught.value.hint
    assert "pip install --force-reinstall polyseek" in caught.value.hint


# ---- recognition on real speech ---------------------------------------------------------------------------------
@needs_espeak
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_segments_carry_the_times_they_were_said(speech, suffix):
    root, audio, spans = speech
    path = root / f"talk{suffix}"
    write_audio(path, audio)
    events = []
    chunks = list(AudioIngestor().ingest(path, lambda done, total, unit: events.append((done, total, unit))))
    assert [c.modality for c in chunks] == [Modality.AUDIO_SEGMENT] * 2 and all(c.image is None for c in chunks)
    assert "weather" in chunks[0].text.lower() and "fire truck" in chunks[1].text.lower()
    for chunk, (start, end) in zip(chunks, spans):
        assert abs(chunk.locator.start - start) <= 0.5 and abs(chunk.locator.end - end) <= 0.5, (chunk.locator, start, end)
    assert events and events[-1][2] == "s" and abs(events[-1][0] - 10.0) < 0.5


@needs_espeak
@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".m4a"])
def test_other_formats(speech, suffix):
    root, audio, spans = speech
    path = root / f"talk{suffix}"
    write_audio(path, audio)
    chunks = list(audio_segments(path))
    assert len(chunks) == 2 and abs(chunks[1].locator.start - spans[1][0]) <= 0.5


@needs_espeak
@pytest.mark.slow
def test_windows_keep_file_time(speech):
    """With 4-second windows, both sentences still come back at their own times."""
    from scipy.signal import resample_poly

    _root, audio, spans = speech
    samples = resample_poly(audio, SAMPLE_RATE // 50, RATE // 50).astype(np.float32)
    transcriber = StreamingTranscriber(window=4.0)
    segments = []
    for offset in range(0, len(samples), 4000):
        segments += transcriber.feed(samples[offset: offset + 4000])
    segments += transcriber.flush()
    truck = [s for s in segments if "truck" in s.text.lower()]
    assert truck and abs(truck[0].start - spans[1][0]) <= 0.5
    assert abs(transcriber.done_until - 10.0) < 0.01


def test_silence_gives_no_segments(tmp_path):
    path = tmp_path / "quiet.wav"
    write_audio(path, np.zeros(RATE * 3, dtype=np.float32))
    assert list(audio_segments(path)) == []
