"""Modality-aware negatives: synthetic renders, group positives in the loss, and a run of `polyseek align --negatives`."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.align.negatives import CAPTIONS, KINDS, modality_separation, render_negatives
from polyseek.align.train import TrainOptions, project, train_projector
from polyseek.encoders.base import normalize


def test_renders_are_seeded_cached_and_cover_every_kind(tmp_path):
    captions = ["a dog runs through the grass", "two children play on a beach"]
    paths, texts = render_negatives(12, tmp_path, captions, seed=3)
    assert len(paths) == 12 and [p.rsplit("-", 1)[1] for p in paths[:10]] == [f"{k}.png" for k in KINDS]
    assert texts[2] == CAPTIONS["table"]
    again, _ = render_negatives(12, tmp_path / "other", captions, seed=3)
    assert [open(a, "rb").read() for a in paths] == [open(b, "rb").read() for b in again]  # same seed: same pixels
    other, _ = render_negatives(12, tmp_path, captions, seed=4)
    assert open(other[0], "rb").read() != open(paths[0], "rb").read()
    mtime = [p.stat().st_mtime_ns for p in map(__import__("pathlib").Path, paths)]
    render_negatives(12, tmp_path, captions, seed=3)  # reused, not redrawn
    assert mtime == [p.stat().st_mtime_ns for p in map(__import__("pathlib").Path, paths)]


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, dim = 60, 12
    concepts = normalize(rng.normal(size=(n, dim)))
    owner = np.repeat(np.arange(n), 2)
    captions = normalize(concepts[owner] + 0.1 * rng.normal(size=(2 * n, dim))).astype(np.float32)
    features = (concepts @ rng.normal(size=(dim, 30)) + 0.05 * rng.normal(size=(n, 30))).astype(np.float32)
    return features, captions, owner


def test_singleton_groups_train_exactly_like_the_photo_only_loss():
    features, captions, owner = _toy()
    options = TrainOptions(epochs=5, batch_size=20, lr=5e-3, input_dropout=0.0, seed=0)
    plain, history = train_projector(features, None, captions, captions, owner, options)
    grouped, grouped_history = train_projector(features, None, captions, captions, owner, options, groups=np.arange(60))
    assert [h["loss"] for h in grouped_history] == pytest.approx([h["loss"] for h in history], rel=1e-4)
    assert np.allclose(project(plain, features), project(grouped, features), atol=1e-4)


def test_group_positives_let_renders_of_a_kind_share_captions():
    """Ten renders share one caption: with groups they all move toward it; without, they fight over it."""
    features, captions, owner = _toy()
    rng = np.random.default_rng(1)
    renders = (rng.normal(size=(10, 30)) * 0.3 + 2.0).astype(np.float32)  # one tight cluster far from the photos
    render_caption = normalize(rng.normal(size=(1, 12))).astype(np.float32)
    x = np.concatenate([features, renders])
    texts = np.concatenate([captions, np.repeat(render_caption, 10, 0)])
    owners = np.concatenate([owner, 60 + np.arange(10)])
    groups = np.concatenate([np.arange(60), np.full(10, 60)])
    options = TrainOptions(epochs=30, batch_size=35, lr=5e-3, input_dropout=0.0, seed=0)
    projector, history = train_projector(x, None, texts, texts, owners, options, groups=groups)
    vectors = project(projector, x)
    assert float((vectors[60:] @ render_caption.T).mean()) > 0.5  # renders sit at their caption
    photo_queries = captions[::2]
    separation = modality_separation(vectors[:60], vectors[60:], photo_queries, np.arange(60))
    assert separation["caption_top1_photo"] == 1.0 and separation["photo_share_top5"] > 0.9
    assert np.isfinite([h["loss"] for h in history]).all()


def test_modality_separation_counts_what_it_says():
    photos = normalize(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32))
    renders = normalize(np.array([[0.1, 1.0]], dtype=np.float32))
    queries = normalize(np.array([[1.0, 0.05], [0.05, 1.0]], dtype=np.float32))
    out = modality_separation(photos, renders, queries, np.array([0, 2]))
    assert out["caption_top1_photo"] == 0.5  # the second query's best match is the render
    assert out["caption_r1_mixed"] == 0.5
    assert out["photo_share_top5"] == pytest.approx(2 / 3)  # each photo's 3 neighbours: 2 photos and the render


@pytest.mark.slow
def test_align_with_negatives_runs_end_to_end(tiny_pairs, align_cache, tmp_path):
    from polyseek.align.pipeline import AlignOptions, run_align
    from polyseek.encoders.base import load_encoder

    output = tmp_path / "model"
    metrics = run_align(AlignOptions(pairs=str(tiny_pairs), output=str(output), holdout=12, cache=str(align_cache),
                                     negatives=20, modality_check=10, low_res_augment=0,
                                     train=TrainOptions(epochs=10, batch_size=16, lr=5e-3, seed=0)))
    check = metrics["holdout_modality"]
    assert check["renders"] == 10 and all(0.0 <= check[k] <= 1.0 for k in ("photo_share_top5", "caption_top1_photo"))
    assert metrics["train_images"] == 36  # renders train beside the photos but are not counted as photos
    encoder = load_encoder(f"aligner:{output}")
    assert encoder.encode_images([__import__("PIL.Image", fromlist=["Image"]).new("RGB", (50, 70), "white")]).shape == (1, 384)
