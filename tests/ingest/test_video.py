"""Video ingestion: shots, moments, keyframes and transcript spans on a generated video; corrupt media; the CLI."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyseek.errors import CorruptFileError, InvalidInputError, UnsupportedFileError
from polyseek.ingest.speech import Segment
from polyseek.ingest.video import MAX_MOMENT, keyframe_at, split_shot, video_moments
from polyseek.types import Modality
from tests.ingest._media import have_espeak, soundtrack, write_audio, write_video

pytestmark = pytest.mark.skipif(not have_espeak(), reason="needs Debian espeak-ng")

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)
SCENES = [(RED, 3.5), (GREEN, 3.5), (BLUE, 3.0)]  # cuts at 3.5 s and 7.0 s, ends at 10.0 s
SENTENCE = "The wiring diagram is on the next slide."
SAID_AT = 4.0


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    """talk.mp4: red, green (with the sentence spoken), blue; song.mp3: two sentences; made once per module."""
    root = tmp_path_factory.mktemp("media")
    track, spans = soundtrack(10.0, [(SAID_AT, SENTENCE)], root)
    write_video(root / "talk.mp4", SCENES, track)
    write_video(root / "silent.mkv", [(RED, 2.0), (BLUE, 2.0)])
    voice, said = soundtrack(10.0, [(1.0, "Welcome to the weather report."), (6.0, "The red fire truck is parked outside.")], root)
    write_audio(root / "song.mp3", voice)
    return {"root": root, "talk": root / "talk.mp4", "silent": root / "silent.mkv", "song": root / "song.mp3",
            "spoken": spans[0], "said": said}


@pytest.fixture(scope="module")
def talk_chunks(media) -> tuple[list, list]:
    events: list[tuple[float, float, str]] = []
    chunks = list(video_moments(media["talk"], lambda done, total, unit: events.append((done, total, unit))))
    return chunks, events


# ---- planning moments inside a shot (pure) -----------------------------------------------------------------------
def test_one_sentence_in_a_short_shot_is_one_moment():
    assert split_shot(10.0, 16.0, [Segment(10.4, 13.5, "hello there")]) == [(10.0, 16.0)]


def test_a_long_silence_after_speech_stands_alone():
    pieces = split_shot(0.0, 20.0, [Segment(0.5, 4.0, "hello there")])
    assert pieces == [(0.0, 4.0), (4.0, 20.0)] or pieces[0] == (0.0, 4.0)
    assert all(b - a <= MAX_MOMENT + 1e-6 for a, b in pieces)
    assert pieces[-1][1] == 20.0 and all(p[1] == q[0] for p, q in itertools.pairwise(pieces))


def test_a_long_silent_shot_is_cut_evenly_under_the_limit():
    pieces = split_shot(0.0, 40.0, [])
    assert len(pieces) == 3 and all(abs((b - a) - 40 / 3) < 1e-6 for a, b in pieces)


def test_speech_outside_the_shot_is_ignored_and_pauses_split_runs():
    segments = [Segment(-3.0, 0.1, "before"), Segment(1.0, 5.0, "one"), Segment(10.0, 14.0, "two")]
    pieces = split_shot(0.0, 14.0, segments)
    assert pieces[0][0] == 0.0 and pieces[-1][1] == 14.0
    assert any(a <= 10.0 <= b and b - a < 8 for a, b in pieces)  # the second sentence gets its own moment


# ---- a generated video ----------------------------------------------------------------------------------------------
def test_moments_follow_the_shots(talk_chunks):
    chunks, _ = talk_chunks
    assert [c.modality for c in chunks] == [Modality.VIDEO_MOMENT] * 3
    spans = [(c.locator.start, c.locator.end) for c in chunks]
    for (start, end), expected in zip(spans, [(0.0, 3.5), (3.5, 7.0), (7.0, 10.0)]):
        assert abs(start - expected[0]) <= 0.3 and abs(end - expected[1]) <= 0.3, spans


def test_transcript_is_attached_to_the_moment_it_was_said_in(talk_chunks):
    chunks, _ = talk_chunks
    assert "wiring diagram" in chunks[1].text.lower()
    assert chunks[0].text == "" and chunks[2].text == ""


def test_each_moment_has_a_keyframe_of_its_shot(talk_chunks, media):
    chunks, _ = talk_chunks
    for chunk, colour in zip(chunks, (RED, GREEN, BLUE)):
        seconds = chunk.metadata["keyframe_time"]
        assert chunk.locator.start <= seconds <= chunk.locator.end
        for picture in (chunk.image.convert("RGB"), keyframe_at(media["talk"], seconds)):
            pixel = picture.resize((8, 8)).getpixel((3, 3))
            assert all(abs(a - b) < 60 for a, b in zip(pixel, colour)), (pixel, colour)


def test_progress_is_reported_in_media_seconds(talk_chunks):
    _, events = talk_chunks
    assert events and all(unit == "s" for _, _, unit in events)
    done = [d for d, _, _ in events]
    assert done == sorted(done) and abs(done[-1] - 10.0) < 0.3 and abs(events[-1][1] - 10.0) < 0.3


def test_video_without_sound_gives_picture_moments(media):
    chunks = list(video_moments(media["silent"]))
    assert [round(c.locator.start) for c in chunks] == [0, 2] and all(c.image is not None and not c.text for c in chunks)


def test_keyframe_at_refuses_bad_times_and_audio(media):
    with pytest.raises(InvalidInputError):
        keyframe_at(media["talk"], -1)
    with pytest.raises(InvalidInputError):
        keyframe_at(media["root"] / "missing.mp4", 1.0)
    with pytest.raises(UnsupportedFileError):
        keyframe_at(media["song"], 1.0)


# ---- damaged files ----------------------------------------------------------------------------------------------
def _damaged(folder: Path, talk: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    files = {
        "random.mp4": bytes(range(256)) * 64,
        "empty.mkv": b"",
        "text.mp3": b"this is not a song\n" * 50,
        "truncated.mp4": talk.read_bytes()[: talk.stat().st_size // 3],  # index (moov) at the end: lost
    }
    faststart = folder / "faststart.mp4"  # index first: the pictures simply stop half-way
    write_video(faststart, SCENES, faststart=True)
    files["cut-short.mp4"] = faststart.read_bytes()[: faststart.stat().st_size // 2]
    faststart.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def test_corrupt_media_raise_corrupt_file_error(media, tmp_path):
    from polyseek.ingest.audio import audio_segments

    damaged = _damaged(tmp_path / "bad", media["talk"])
    for name in ("random.mp4", "empty.mkv", "truncated.mp4", "cut-short.mp4"):
        with pytest.raises(CorruptFileError):
            list(video_moments(damaged[name]))
    with pytest.raises(CorruptFileError):
        list(audio_segments(damaged["text.mp3"]))


@pytest.mark.slow
def test_index_reports_and_skips_corrupt_media(media, tmp_path, engine_factory):
    damaged = _damaged(tmp_path / "bad", media["talk"])
    engine = engine_factory(tmp_path / "store")
    summary = engine.index([str(p) for p in damaged.values()] + [str(media["silent"])])
    failed = {Path(f["path"]).name: f["reason"] for f in summary.failed}
    assert set(failed) == set(damaged), failed
    expected = {"random.mp4": "not a media file", "empty.mkv": "empty file", "text.mp3": "not a media file",
                "truncated.mp4": "not a media file", "cut-short.mp4": "truncated"}
    assert all(expected[name] in reason for name, reason in failed.items()), failed
    assert summary.added == 1 and summary.items == 2


# ---- end to end through the CLI ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_index_then_search_returns_moments_with_timestamps(media, tmp_path):
    from polyseek.cli.app import app

    store = str(tmp_path / "store")
    plumbing = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result

    summary = json.loads(run("index", str(media["talk"]), str(media["song"]), "--store", store, "--json", *plumbing).stdout)
    assert summary["added"] == 2 and summary["failed"] == []

    def top(query: str) -> dict:
        return json.loads(run("search", query, "--store", store, "--k", "3", "--json").stdout)["hits"][0]

    hit = top("wiring diagram next slide")
    assert hit["path"].endswith("talk.mp4") and hit["modality"] == "video_moment"
    assert isinstance(hit["locator"]["start"], float) and isinstance(hit["locator"]["end"], float)
    assert abs(hit["locator"]["start"] - 3.5) <= 0.3 and abs(hit["locator"]["end"] - 7.0) <= 0.3

    hit = top("red fire truck parked outside")
    said_start, said_end = media["said"][1]
    assert hit["path"].endswith("song.mp3") and hit["modality"] == "audio_segment"
    assert abs(hit["locator"]["start"] - said_start) <= 0.6 and abs(hit["locator"]["end"] - said_end) <= 0.6

    hit = top("blue")  # the plumbing encoder maps colour words onto mean colour: finds the blue scene
    assert hit["path"].endswith("talk.mp4") and abs(hit["locator"]["start"] - 7.0) <= 0.3

    from PIL import Image

    red = tmp_path / "red.png"
    Image.new("RGB", (32, 32), RED).save(red)
    hit = json.loads(run("search", "--image", str(red), "--store", store, "--k", "1", "--json").stdout)["hits"][0]
    assert hit["path"].endswith("talk.mp4") and hit["locator"]["start"] == 0.0  # image → moment
    green = tmp_path / "green.png"
    Image.new("RGB", (32, 32), GREEN).save(green)
    hit = json.loads(run("search", "next slide", "--image", str(green), "--store", store, "--k", "1", "--json").stdout)["hits"][0]
    assert hit["path"].endswith("talk.mp4") and abs(hit["locator"]["start"] - 3.5) <= 0.3  # image + text → moment

    table = run("search", "wiring diagram", "--store", store, "--k", "1").stdout
    assert re.search(r"00:0[34]–00:07", table), table
