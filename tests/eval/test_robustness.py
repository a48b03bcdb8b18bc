"""Robustness perturbations: deterministic and seeded, each doing what its name says; the report's contract."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.eval.robustness import (
    ATTRIBUTES,
    DILUTION,
    IMAGE_PERTURBATIONS,
    TEXT_PERTURBATIONS,
    RobustnessOptions,
    ranks_metrics,
    relative_drop,
    run_robustness,
    write_perturbed,
)

CAPTION = "A black dog is running through the grass near a small white fence"


def rng(seed: int) -> random.Random:
    return random.Random(f"{seed}:test")


@pytest.mark.parametrize("name", sorted(TEXT_PERTURBATIONS))
def test_text_perturbations_are_seeded(name):
    perturb = TEXT_PERTURBATIONS[name]
    first, again = perturb(CAPTION, rng(1)), perturb(CAPTION, rng(1))
    assert first == again != CAPTION
    assert len({perturb(CAPTION, rng(seed)) for seed in range(8)}) > 1  # another seed, another perturbation


def test_text_perturbations_do_what_they_say():
    attributed = TEXT_PERTURBATIONS["attribute"](CAPTION, rng(0)).split()
    added = [w for w in attributed if w in ATTRIBUTES]
    assert len(attributed) == len(CAPTION.split()) + 1 and len(added) == 1
    assert attributed[attributed.index(added[0]) - 1].lower() in {"a", "an", "the"}
    for seed in range(20):  # the article agrees with the inserted adjective
        words = TEXT_PERTURBATIONS["attribute"]("an apple on a table", rng(seed)).split()
        at = next(i for i, w in enumerate(words) if w in ATTRIBUTES)
        assert words[at - 1] == ("an" if words[at][0] in "aeiou" else "a")
    typed = TEXT_PERTURBATIONS["typos"](CAPTION, rng(0)).split()
    assert len(typed) == len(CAPTION.split()) and sum(a != b for a, b in zip(typed, CAPTION.split())) >= 1
    diluted = TEXT_PERTURBATIONS["dilution"](CAPTION, rng(0))
    assert diluted.startswith(CAPTION) and sum(s in diluted for s in DILUTION) == 3
    shuffled = TEXT_PERTURBATIONS["shuffle"](CAPTION, rng(0))
    assert sorted(shuffled.split()) == sorted(CAPTION.split()) and shuffled != CAPTION


def test_every_typo_changes_its_word():
    from polyseek.eval.robustness import _typo

    for seed in range(200):
        for word in ("bennch", "playing", "rope", "sitting", "zoom"):
            assert _typo(word, random.Random(seed)) != word


def test_image_perturbations(tmp_path):
    source = tmp_path / "photo.png"
    y, x = np.mgrid[0:300, 0:400]
    pixels = np.stack([x * 255 // 400, y * 255 // 300, (x + y) * 255 // 700], axis=-1).astype(np.uint8)  # smooth: JPEG keeps it
    Image.fromarray(pixels).save(source)
    image = Image.open(source).convert("RGB")
    assert IMAGE_PERTURBATIONS["crop"](image, rng(0)).size == (300, 225)
    assert IMAGE_PERTURBATIONS["crop"](image, rng(0)).tobytes() == IMAGE_PERTURBATIONS["crop"](image, rng(0)).tobytes()
    assert len({IMAGE_PERTURBATIONS["crop"](image, rng(seed)).tobytes() for seed in range(4)}) > 1
    assert IMAGE_PERTURBATIONS["rotate90"](image, rng(0)).size == (300, 400)
    assert max(IMAGE_PERTURBATIONS["downscale128"](image, rng(0)).size) == 128
    grey = np.asarray(IMAGE_PERTURBATIONS["grayscale"](image, rng(0))).astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    compressed = np.asarray(IMAGE_PERTURBATIONS["jpeg20"](image, rng(0))).astype(int)
    assert compressed.shape == pixels.shape and np.abs(compressed - pixels).mean() > 0.5
    # the fix: rotated pixels with the EXIF tag that undoes the rotation read back upright
    fixed = write_perturbed(source, "rotate90+exif", tmp_path / "fixed.jpg", seed=0)
    from polyseek.ingest.images import open_image

    upright = np.asarray(open_image(fixed)).astype(int)
    assert upright.shape == pixels.shape and np.abs(upright - pixels).mean() < 3  # JPEG noise, not a rotation


def test_metrics_and_drops():
    assert ranks_metrics([1, 3, None, 11]) == {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.5, "mrr@10": 0.3333}
    assert relative_drop({"recall@1": 0.5, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 0.0},
                         {"recall@1": 0.25, "recall@5": 1.0, "recall@10": 0.8, "mrr@10": 0.0}) == {
        "recall@1": 0.5, "recall@5": 0.0, "recall@10": 0.2, "mrr@10": None}
    with pytest.raises(InvalidInputError):
        RobustnessOptions(text=("spelling",))


def test_report_contract_on_a_tiny_set(tmp_path):
    root = tmp_path / "captions"
    (root / "images").mkdir(parents=True)
    colours = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220)}
    for name, rgb in colours.items():
        Image.new("RGB", (64, 48), rgb).save(root / "images" / f"{name}.png")
    (root / "captions.json").write_text(json.dumps([{"image": f"{n}.png", "captions": [f"a {n} square", n]} for n in colours]))
    options = RobustnessOptions(limit=3, captions_per_image=1, text=("shuffle",), images=("grayscale",))
    report = run_robustness(root, options, workdir=tmp_path / "work", image_encoder="deterministic", text_encoder="deterministic")
    assert report["dataset"]["n_text_queries"] == 3 and report["dataset"]["n_image_queries"] == 3
    assert set(report["text_to_photo"]) == {"clean", "shuffle"} and set(report["indexed_photo"]) == {"clean", "grayscale"}
    assert report["text_to_photo"]["clean"]["metrics"]["recall@1"] == 1.0  # each colour word finds its photo
    # grey photos lose their colour: the plumbing encoder can no longer tell them apart by colour words
    assert report["indexed_photo"]["grayscale"]["relative_drop"]["recall@1"] > 0
    assert report["text_to_photo"]["shuffle"]["relative_drop"]["recall@10"] == 0.0  # bag of words: order is free
    again = run_robustness(root, options, workdir=tmp_path / "work", image_encoder="deterministic", text_encoder="deterministic")
    assert again["text_to_photo"] == report["text_to_photo"] and again["indexed_photo"] == report["indexed_photo"]
    json.dumps(report)
