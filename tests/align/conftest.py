"""A tiny generated caption dataset (coloured shapes) and one aligner trained on it, shared by the align tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

COLOURS = {"red": (210, 30, 30), "green": (30, 170, 50), "blue": (40, 60, 220), "yellow": (235, 215, 40),
           "purple": (130, 40, 160), "orange": (240, 130, 20)}
SHAPES = ("circle", "square")
CLASSES = [(c, s) for c in COLOURS for s in SHAPES]


def shape_image(colour: str, shape: str, rng: np.random.Generator) -> Image.Image:
    """A coloured shape at a random place and size on a random light background."""
    grey = int(rng.integers(200, 250))
    image = Image.new("RGB", (160, 120), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    side = int(rng.integers(50, 90))
    x, y = int(rng.integers(0, 160 - side)), int(rng.integers(0, 120 - side))
    box = (x, y, x + side, y + side)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[colour])
    return image


def captions_for(colour: str, shape: str) -> list[str]:
    return [f"a {colour} {shape}", f"a {colour} {shape} on a grey background", f"a picture of a {colour} {shape}"]


def make_pairs(folder: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "pairs.jsonl").open("w") as out:
        for variant in range(per_class):
            for colour, shape in CLASSES:
                name = f"images/{colour}-{shape}-{variant}.jpg"
                shape_image(colour, shape, rng).save(folder / name, quality=92)
                out.write(json.dumps({"image": name, "captions": captions_for(colour, shape)}) + "\n")
    return folder


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp("tiny-pairs"), per_class=4, seed=0)


@pytest.fixture(scope="session")
def align_cache(tmp_path_factory) -> Path:
    """One feature/caption cache for every align test: the backbone runs once per image and view."""
    return tmp_path_factory.mktemp("align-cache")


@pytest.fixture(scope="session")
def trained_aligner(tiny_pairs, align_cache, tmp_path_factory):
    """(model dir, metrics) of an aligner trained on the tiny pairs with the real Lite0 and bge-small."""
    from polyseek.align.pipeline import AlignOptions, run_align
    from polyseek.align.train import TrainOptions

    output = tmp_path_factory.mktemp("aligner") / "model"
    options = AlignOptions(pairs=str(tiny_pairs), output=str(output), holdout=12,
                           cache=str(align_cache),
                           train=TrainOptions(epochs=40, batch_size=12, lr=5e-3, seed=0))
    return output, run_align(options)
