"""Shared fixtures: generated collections, engines on the deterministic plumbing encoder."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220)}


def make_images(folder: Path, colours=COLOURS, size=(64, 48)) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, rgb in colours.items():
        path = folder / f"{name}.jpg"
        Image.new("RGB", size, rgb).save(path, quality=90)
        out[name] = path
    return out


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb) without the pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 1000))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """Three coloured photos and a Markdown note."""
    root = tmp_path / "collection"
    make_images(root / "photos")
    (root / "notes").mkdir()
    (root / "notes" / "pets.md").write_text("# Dogs\nA dog running on grass.\n\n# Cats\n" + "Cats sleep a lot. " * 60 + "\n")
    return root


@pytest.fixture
def engine_factory(tmp_path: Path):
    """Make engines on the deterministic encoders (plumbing only) and close them afterwards."""
    from polyseek.engine import Engine

    engines = []

    def make(store: str | Path | None = None, **kwargs):
        kwargs.setdefault("image_encoder", "deterministic")
        kwargs.setdefault("text_encoder", "deterministic")
        engine = Engine(str(store or tmp_path / "store"), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()
