"""A fuzz corpus of damaged files of every supported type, fed through every ingestor.

The corpus is generated here from small valid seeds (nothing binary is committed): each seed is also cut short at
several points, bit-flipped at seeded random places, emptied, replaced by noise, given another type's extension,
and some types get a decompression bomb. Every input must either give chunks or raise a ``PolyseekError`` with a
message, never hang (pytest-timeout) and never raise anything else. ``docs/reliability.md`` records the figures;
a bigger campaign: ``POLYSEEK_FUZZ_SEED=1 POLYSEEK_FUZZ_COPIES=12 POLYSEEK_FUZZ_TIMEOUT=1800 pytest -s`` on this file.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import wave
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polyseek.errors import PolyseekError
from polyseek.ingest.base import ingestor_for, supported_extensions

SEED = int(os.environ.get("POLYSEEK_FUZZ_SEED", "20261129"))
COPIES = int(os.environ.get("POLYSEEK_FUZZ_COPIES", "2"))  # bit-flipped copies per flip count (docs/reliability.md: 12)
FLIPS = (1, 8, 64)  # bits flipped per damaged copy
CUTS = (0.02, 0.3, 0.6, 0.95)  # truncation points, as a share of the file


# ---- valid seeds, one per supported family ----------------------------------------------------------------

def _image(fmt: str) -> bytes:
    picture = Image.new("RGB", (48, 32), (200, 40, 30))
    picture.paste((20, 160, 220), (10, 6, 30, 26))
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def _pdf() -> bytes:
    from tests.ingest._pdf import pdf_bytes, text_page

    return pdf_bytes([text_page(1), text_page(2)])


def _wav(seconds: float = 1.0) -> bytes:
    rate = 16_000
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return out.getvalue()


def _mp4(tmp: Path) -> bytes:
    from tests.ingest._media import write_video

    path = tmp / "seed.mp4"
    write_video(path, [((200, 30, 30), 0.6), ((30, 30, 200), 0.6)], size=(64, 48), fps=5)
    return path.read_bytes()


def _audio(tmp: Path, suffix: str) -> bytes:
    """Two seconds of speech (espeak-ng) so that damaged copies reach the transcriber; a tone where it is missing."""
    from tests.ingest._media import RATE, have_espeak, speak, write_audio

    path = tmp / f"seed{suffix}"
    if have_espeak() and suffix in SPOKEN_SUFFIXES:  # speech in one format only: the transcriber costs ~3 s a file
        samples = speak("The invoice was paid in March.", tmp)
    else:
        t = np.arange(int(RATE * 1.0)) / RATE
        samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    write_audio(path, samples)
    return path.read_bytes()


def _mkv(tmp: Path) -> bytes:
    import av

    path = tmp / "seed.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(6):
            pixels = np.full((48, 64, 3), (30 * index, 200, 90), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


def _catalogue_jsonl() -> bytes:
    records = [{"id": str(n), "title": f"Film {n}", "text": f"A story about item {n}.", "metadata": {"year": 2000 + n}}
               for n in range(4)]
    return "\n".join(json.dumps(r) for r in records).encode()


def _catalogue_csv() -> bytes:
    return b'id,title,text\n1,Film one,A story\n2,"Film, two","Another ""quoted"" story"\n'


TEXT = ("# Notes\n\nThe invoice was paid on 12 March 2024.\n\nRex loved the beach. " * 20).encode()
SEEDS: dict[str, Callable[[Path], bytes]] = {
    "png": lambda tmp: _image("PNG"),
    "jpg": lambda tmp: _image("JPEG"),
    "gif": lambda tmp: _image("GIF"),
    "webp": lambda tmp: _image("WEBP"),
    "bmp": lambda tmp: _image("BMP"),
    "tiff": lambda tmp: _image("TIFF"),
    "txt": lambda tmp: TEXT,
    "md": lambda tmp: TEXT,
    "pdf": lambda tmp: _pdf(),
    "wav": lambda tmp: _audio(tmp, ".wav"),
    "mp3": lambda tmp: _audio(tmp, ".mp3"),
    "flac": lambda tmp: _audio(tmp, ".flac"),
    "ogg": lambda tmp: _audio(tmp, ".ogg"),
    "mp4": _mp4,
    "mkv": _mkv,
    "jsonl": lambda tmp: _catalogue_jsonl(),
    "csv": lambda tmp: _catalogue_csv(),
}


# ---- damage ---------------------------------------------------------------------------------------------

def flip(data: bytes, bits: int, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(bits):
        position = rng.randrange(len(out) * 8)
        out[position // 8] ^= 1 << (position % 8)
    return bytes(out)


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG header claiming 3.6 gigapixels, with a little real (highly compressed) pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (3 * width + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A GIF whose logical screen is 65535 x 65535."""
    data = bytearray(_image("GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def pdf_flate_bomb() -> bytes:
    """A one-page PDF whose content stream inflates from ~100 KB to 100 MB of spaces."""
    inflated = zlib.compress(b" " * 100_000_000, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(inflated) + inflated + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wav_header_lie() -> bytes:
    """A WAV header that claims 4 GB of samples over one second of data."""
    data = bytearray(_wav(0.2))
    data[40:44] = struct.pack("<I", 0xFFFFFF00)
    data[4:8] = struct.pack("<I", 0xFFFFFF24)
    return bytes(data)


BOMBS: dict[str, Callable[[], bytes]] = {
    "png": png_bomb, "gif": gif_bomb, "pdf": pdf_flate_bomb, "wav": wav_header_lie,
    "txt": lambda: b"\x00" * 2_000_000,  # two million NUL bytes: not text
    "jsonl": lambda: (b'{"id": "1", "text": "' + b"[" * 200_000 + b'"}\n' + b"[" * 100_000 + b"\n"
                      + b'{"id": "2", "text": "deep", "metadata": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}\n"),
    "csv": lambda: b"id,text,metadata\n1,deep," + b'"' + b"[" * 100_000 + b'"\n',
}
AUDIO = {"wav", "mp3", "flac", "ogg"}
SPOKEN = {"mp3"}
SPOKEN_SUFFIXES = {"." + ext for ext in SPOKEN}
WRONG_EXTENSION = {"jpg": "pdf", "pdf": "jpg", "txt": "mp4", "png": "wav", "wav": "png", "mp4": "txt",
                   "jsonl": "png", "csv": "pdf", "mp3": "mkv", "mkv": "flac", "ogg": "gif", "flac": "webp"}


def corpus(tmp: Path) -> list[tuple[str, str, bytes]]:
    """``[(case name, extension, bytes)]``: every damaged variant of every seed."""
    rng = random.Random(SEED)
    cases: list[tuple[str, str, bytes]] = []
    seeds = {ext: make(tmp) for ext, make in SEEDS.items()}
    for ext, data in seeds.items():
        cases.append((f"{ext}-valid", ext, data))
        cases.append((f"{ext}-empty", ext, b""))
        cases.append((f"{ext}-noise", ext, bytes(rng.randrange(256) for _ in range(2048))))
        for share in CUTS:
            cases.append((f"{ext}-cut{int(share * 100)}", ext, data[:max(1, int(len(data) * share))]))
        for bits in FLIPS:
            for copy in range(COPIES):
                cases.append((f"{ext}-flip{bits}-{copy}", ext, flip(data, bits, rng)))
        if ext in WRONG_EXTENSION:
            cases.append((f"{ext}-as-{WRONG_EXTENSION[ext]}", WRONG_EXTENSION[ext], data))
    for ext, make in BOMBS.items():
        cases.append((f"{ext}-bomb", ext, make()))
    return cases


# ---- the run --------------------------------------------------------------------------------------------

def feed(path: Path) -> tuple[str, int | str]:
    """``("chunks", n)`` or ``("refused", message)``; anything else propagates and fails the test."""
    try:
        chunks = list(ingestor_for(path).ingest(path))
    except PolyseekError as exc:
        return "refused", str(exc)
    return "chunks", len(chunks)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("fuzz")
    paths = []
    for name, ext, data in corpus(root):
        path = root / f"{name}.{ext}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_the_corpus_covers_every_ingestor(damaged):
    """A new ingestor (a new family of extensions) must add a seed here."""
    from polyseek.ingest.base import _by_extension

    covered = {ingestor_for(p).name for p in damaged}
    assert covered == {ingestor.name for ingestor in _by_extension.values()}, set(supported_extensions())


@pytest.mark.slow
@pytest.mark.timeout(int(os.environ.get("POLYSEEK_FUZZ_TIMEOUT", "600")))
def test_every_damaged_file_gives_chunks_or_a_clear_error(damaged, record_property):
    outcomes: dict[str, tuple[str, int | str]] = {}
    crashes: list[str] = []
    for path in damaged:
        try:
            outcomes[path.name] = feed(path)
        except Exception as exc:  # noqa: BLE001 - the point of the test: collect every crash, then fail
            crashes.append(f"{path.name}: {type(exc).__name__}: {exc}"[:300])
    refused = sum(1 for kind, _ in outcomes.values() if kind == "refused")
    record_property("inputs", len(damaged))
    record_property("refused", refused)
    print(f"fuzz: {len(damaged)} inputs, {len(outcomes) - refused} gave chunks or nothing, {refused} refused, "
          f"{len(crashes)} crashed")
    assert not crashes, "\n".join(crashes)
    for name, (kind, detail) in outcomes.items():
        if kind == "refused":
            assert isinstance(detail, str) and 10 <= len(detail) <= 600 and "\n" not in detail, (name, detail)
            assert "object at 0x" not in detail, (name, detail)
    from tests.ingest._media import have_espeak

    for ext in SEEDS:  # the undamaged seeds still work (a tone, where espeak-ng is missing, has no speech)
        kind, count = outcomes[f"{ext}-valid.{ext}"]
        assert kind == "chunks" and (count > 0 or ext in AUDIO - SPOKEN or not have_espeak()), (ext, kind, count)
    for name in ("png-empty.png", "pdf-empty.pdf", "wav-empty.wav", "mp4-empty.mp4"):  # an empty note is just empty
        assert outcomes[name][0] == "refused", (name, outcomes[name])
    for name in ("png-bomb.png", "gif-bomb.gif"):
        assert outcomes[name][0] == "refused", (name, outcomes[name])


def test_an_audio_stream_that_changes_format_midway_keeps_decoding():
    """Found by the corpus: a bit-flipped MP3 whose frames change sample rate and layout mid-stream made the
    resampler raise ``ValueError: Frame does not match AudioResampler setup``."""
    import av

    from polyseek.ingest.audio import AudioTrack

    track = AudioTrack(stream=None)
    first = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    first.sample_rate = 22_050
    second = av.AudioFrame.from_ndarray(np.zeros((2, 1152), np.float32), format="fltp", layout="stereo")
    second.sample_rate = 44_100
    total = track.convert(first).size + track.convert(second).size + track.drain().size
    assert total > 0
