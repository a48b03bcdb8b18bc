"""Aligner training: a real run on a tiny generated dataset must beat chance clearly; mining and metrics on toy data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.align.metrics import recall
from polyseek.align.train import TrainOptions, mine_hard_negatives, train_projector
from polyseek.encoders.base import load_encoder, normalize
from polyseek.errors import InvalidInputError
from tests.align.conftest import CLASSES, captions_for, shape_image


@pytest.mark.slow
def test_trained_aligner_beats_chance_on_new_images(trained_aligner):
    model_dir, metrics = trained_aligner
    for name in ("config.json", "weights.safetensors", "labels.txt", "data.json", "metrics.json"):
        assert (model_dir / name).is_file()
    assert metrics["train_images"] == 36 and metrics["holdout_images"] == 12
    encoder = load_encoder(f"aligner:{model_dir}")
    assert encoder.name == f"aligner:{model_dir}" and encoder.text_encoder_name == "bge-small-onnx"
    # fresh images the model never saw, one per class; chance is 1/12 both ways
    rng = np.random.default_rng(123)
    images = encoder.encode_images([shape_image(c, s, rng) for c, s in CLASSES])
    queries = encoder.encode_queries([captions_for(c, s)[0] for c, s in CLASSES])
    docs = encoder.encode_documents([captions_for(c, s)[0] for c, s in CLASSES])
    truth = np.arange(len(CLASSES))
    text_to_image = float(((queries @ images.T).argmax(1) == truth).mean())
    image_to_text = float(((images @ docs.T).argmax(1) == truth).mean())
    assert text_to_image >= 0.4, text_to_image
    assert image_to_text >= 0.4, image_to_text
    # the holdout figures agree: far above chance (1/12)
    assert metrics["holdout"]["t2i_R@5"] >= 0.6


@pytest.mark.slow
def test_training_is_seeded_and_deterministic(trained_aligner, tiny_pairs, tmp_path):
    from polyseek.align.pipeline import AlignOptions, run_align

    model_dir, metrics = trained_aligner
    cache = json.loads((model_dir / "metrics.json").read_text())
    again = run_align(AlignOptions(pairs=str(tiny_pairs), output=None, holdout=12, cache=str(tmp_path),
                                   train=TrainOptions(epochs=40, batch_size=12, lr=5e-3, seed=0)))
    assert again["holdout"] == pytest.approx(metrics["holdout"], abs=1e-6)
    assert [h["loss"] for h in again["history"]] == pytest.approx([h["loss"] for h in cache["history"]], rel=1e-5)


def test_projector_learns_a_toy_alignment():
    """No backbone: image features are a noisy linear view of the captions' space; training must recover it."""
    rng = np.random.default_rng(0)
    n, dim = 120, 16
    concepts = normalize(rng.normal(size=(n, dim)))
    owner = np.repeat(np.arange(n), 2)
    captions = normalize(concepts[owner] + 0.1 * rng.normal(size=(2 * n, dim)))
    mixing = rng.normal(size=(dim, 40))
    features = (concepts @ mixing + 0.05 * rng.normal(size=(n, 40))).astype(np.float32)
    train, test = np.arange(80), np.arange(80, n)
    options = TrainOptions(epochs=60, batch_size=40, lr=1e-2, input_dropout=0.0, seed=1)
    projector, history = train_projector(features[train], None, captions[:160], captions[:160], owner[:160], options)
    assert history[-1]["loss"] < history[0]["loss"]
    import torch

    with torch.no_grad():
        projected = normalize(projector(torch.from_numpy(features[test])).numpy())
    figures = recall(projected, captions[160:], captions[160:], owner[160:] - 80)
    assert figures["t2i_R@1"] > 0.5 and figures["i2t_R@1"] > 0.5  # chance: 1/40


def test_hard_negative_mining_skips_self_and_near_duplicates():
    rng = np.random.default_rng(0)
    images = normalize(rng.normal(size=(30, 8)))
    captions = normalize(images + 0.01 * rng.normal(size=(30, 8)))
    captions[1] = captions[0]  # images 0 and 1 have the same captions: never each other's negatives
    t2i, i2t = mine_hard_negatives(images, captions, captions, k=5, false_negative_cos=0.99)
    for mined in (t2i, i2t):
        assert mined.shape == (30, 5)
        assert not (mined == np.arange(30)[:, None]).any()
        assert 1 not in mined[0] and 0 not in mined[1]
    # the hardest text->image negative of image i is the other image its captions score highest
    scores = captions[5] @ images.T
    scores[[5]] = -np.inf
    assert t2i[5, 0] == int(np.argmax(scores))


def test_recall_breaks_ties_against_the_positive():
    images = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)  # identical images: a tie for every query
    texts = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    figures = recall(images, texts, texts, np.array([0, 1]))
    assert figures["t2i_R@1"] == 0.0 and figures["t2i_R@5"] == 1.0


def test_bad_pairs_are_refused_with_a_reason(tmp_path):
    from polyseek.align.data import load_pairs

    with pytest.raises(InvalidInputError, match="pairs.jsonl"):
        load_pairs(tmp_path)
    (tmp_path / "pairs.jsonl").write_text('{"image": "missing.jpg", "captions": ["a cat"]}\n')
    with pytest.raises(InvalidInputError, match="not found"):
        load_pairs(tmp_path)
    (tmp_path / "pairs.jsonl").write_text("not json\n")
    with pytest.raises(InvalidInputError, match="not a pairs row"):
        load_pairs(tmp_path)


def test_index_refuses_retrained_weights_under_the_same_name(trained_aligner, tiny_pairs, tmp_path):
    """An index built with one set of aligner weights refuses other weights in the same model folder."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from polyseek.engine import Engine
    from polyseek.errors import IndexMismatchError

    model = tmp_path / "model"
    shutil.copytree(trained_aligner[0], model)
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in sorted((tiny_pairs / "images").iterdir())[:3]:
        shutil.copy(image, folder / image.name)
    engine = Engine(tmp_path / "store", image_encoder=f"aligner:{model}")
    engine.index([folder])
    recorded = engine.catalog.get_meta("index")["spaces"]["image"]["revision"]
    assert engine.search("a red square", k=1)
    engine.close()

    tensors = load_file(str(model / "weights.safetensors"))  # "retrain": other weights, same folder and name
    tensors["projector.linear.bias"] = tensors["projector.linear.bias"] + 1
    save_file(tensors, str(model / "weights.safetensors"))
    engine = Engine(tmp_path / "store")
    with pytest.raises(IndexMismatchError, match="other weights") as error:
        engine.search("a red square", k=1)
    assert recorded in str(error.value) and "--store" in error.value.hint
    new_photo = sorted((tiny_pairs / "images").iterdir())[3]
    shutil.copy(new_photo, folder / new_photo.name)
    with pytest.raises(IndexMismatchError):
        engine.index([folder])  # a new photo is not embedded beside the old vectors either
    assert engine.catalog.get_meta("index")["spaces"]["image"]["revision"] == recorded
    assert not any(key.endswith(new_photo.name) for key in engine.catalog.files())
    meta = engine.catalog.get_meta("index")
    del meta["spaces"]["image"]["revision"]  # an index from before revisions were recorded
    engine.catalog.set_meta("index", meta)
    engine.close()
    engine = Engine(tmp_path / "store")
    with pytest.raises(IndexMismatchError, match="not recorded"):
        engine.search("a red square", k=1)
    engine.close()


def test_matryoshka_loss_makes_a_prefix_rank_on_its_own():
    """With ``matryoshka=(4,)`` the first 4 of 16 dimensions, renormalised, must rank held-out captions better than
    the same prefix of a projector trained on the full dimension only, and the full dimension must not collapse."""
    rng = np.random.default_rng(0)
    n, dim = 120, 16
    concepts = normalize(rng.normal(size=(n, dim)))
    owner = np.repeat(np.arange(n), 2)
    captions = normalize(concepts[owner] + 0.1 * rng.normal(size=(2 * n, dim))).astype(np.float32)
    features = (concepts @ rng.normal(size=(dim, 40)) + 0.05 * rng.normal(size=(n, 40))).astype(np.float32)
    import torch

    figures = {}
    for dims in ((), (4,)):
        options = TrainOptions(epochs=60, batch_size=40, lr=1e-2, input_dropout=0.0, seed=1, matryoshka=dims)
        projector, _ = train_projector(features[:80], None, captions[:160], captions[:160], owner[:160], options)
        with torch.no_grad():
            projected = projector(torch.from_numpy(features[80:])).numpy()
        test_captions = captions[160:]
        figures[dims] = (recall(normalize(projected[:, :4]), normalize(test_captions[:, :4]), normalize(test_captions[:, :4]),
                                owner[160:] - 80)["t2i_R@5"],
                         recall(normalize(projected), test_captions, test_captions, owner[160:] - 80)["t2i_R@1"])
    assert figures[(4,)][0] > figures[()][0], figures
    assert figures[(4,)][1] > 0.5, figures  # chance: 1/40


def test_matryoshka_dimensions_are_parsed_or_refused():
    from polyseek.align.train import parse_dims

    assert parse_dims("256, 64,128") == (64, 128, 256)
    assert parse_dims("") == ()
    for bad in ("64,abc", "0", "-8", "1.5"):
        with pytest.raises(InvalidInputError, match="positive whole numbers"):
            parse_dims(bad)
