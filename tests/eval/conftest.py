"""Fixtures for the evaluation tests: tiny generated captions folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

COLOURS = [(220, 20, 20), (20, 200, 40), (30, 40, 220), (200, 200, 30)]


@pytest.fixture
def make_captions():
    """``make(root, {"a.jpg": ["caption", ...]})``: solid-colour images in ``root/images`` plus ``captions.json``."""
    def make(root: Path, entries: dict[str, list[str]]) -> Path:
        (root / "images").mkdir(parents=True)
        for n, name in enumerate(entries):
            Image.new("RGB", (40, 30), COLOURS[n % len(COLOURS)]).save(root / "images" / name)
        (root / "captions.json").write_text(json.dumps([{"image": k, "captions": v} for k, v in entries.items()]))
        return root

    return make
