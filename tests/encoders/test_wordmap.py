"""Word maps (``polyseek.encoders.wordmap``): bags of Chinese / German words fitted into bge's query space, and their
part in the ``multilingual`` query encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.encoders.wordmap import (
    fit_word_map,
    german_tokens,
    read_word_map,
    refine_word_map,
    save_word_map,
    tokens,
    word_map,
)
from polyseek.errors import EncoderError, PolyseekError


def _toy(rng: np.random.Generator):
    """Sentences of 2-4 words out of 12; each word has a hidden direction, a sentence's target is their normalised sum."""
    words = [f"w{i}" for i in range(12)]
    directions = rng.normal(size=(12, 16)).astype(np.float32)
    bags, targets = [], []
    for _ in range(400):
        picked = rng.choice(12, size=int(rng.integers(2, 5)), replace=False)
        bags.append([words[i] for i in picked])
        target = directions[picked].sum(0)
        targets.append(target / np.linalg.norm(target))
    return words, directions, bags, np.stack(targets)


def test_a_fitted_map_sends_an_unseen_bag_near_its_target_and_unknown_words_to_zero(tmp_path):
    rng = np.random.default_rng(0)
    words, directions, bags, targets = _toy(rng)
    fitted = fit_word_map("de", bags, targets, ridge=0.1)
    assert len(fitted.vocabulary) == 12 and fitted.dim == 16
    new = directions[[1, 5, 7]].sum(0)
    vector = fitted.encode_bags([["w1", "w5", "w7"], ["zzz"], []])
    assert float(vector[0] @ (new / np.linalg.norm(new))) > 0.9  # a combination never seen as such
    assert not vector[1].any() and not vector[2].any()  # no known word: no opinion
    save_word_map(tmp_path, fitted)
    again = read_word_map(tmp_path, "de")
    assert again.vocabulary == fitted.vocabulary and again.notes["ridge"] == 0.1
    assert np.allclose(again.encode_bags([["w1", "w5", "w7"]]), vector[:1], atol=2e-3)  # float16 weights on disk
    # the vocabulary keeps the most common words only, and never one seen fewer than min_count times
    small = fit_word_map("de", bags + [["rare"]], np.vstack([targets, targets[:1]]), max_words=5)
    assert len(small.vocabulary) == 5 and "rare" not in small.vocabulary


def _own_rank(vectors: np.ndarray, gallery: np.ndarray, owners: np.ndarray) -> float:
    scores = vectors @ gallery.T
    return float((scores > scores[np.arange(len(owners)), owners][:, None]).sum(1).mean())


def test_contrastive_refinement_ranks_each_bag_s_own_row_higher_and_is_reproducible():
    """Bags of 3 words out of 30; each of 60 gallery rows is its bag's words' directions plus a shared offset and noise,
    so a least-squares map lands near the offset; InfoNCE should learn to tell the rows apart."""
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(30, 16)).astype(np.float32)
    picks = [rng.choice(30, size=3, replace=False) for _ in range(60)]
    offset = 4.0 * rng.normal(size=16).astype(np.float32)
    gallery = np.stack([directions[p].sum(0) + offset + rng.normal(size=16).astype(np.float32) for p in picks])
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    owners = np.repeat(np.arange(60), 4)
    bags = [[f"w{i}" for i in picks[row] if rng.random() > 0.2] or [f"w{picks[row][0]}"] for row in owners]
    ridge = fit_word_map("de", bags, gallery[owners], ridge=1.0, min_count=1)
    refined = refine_word_map(ridge, bags, owners, gallery, epochs=30, batch=64, lr=3e-2)
    before = _own_rank(ridge.encode_bags(bags), gallery, owners)
    after = _own_rank(refined.encode_bags(bags), gallery, owners)
    assert after < 0.7 * before, (before, after)
    assert refined.notes["contrastive"]["epochs"] == 30 and refined.vocabulary == ridge.vocabulary
    again = refine_word_map(ridge, bags, owners, gallery, epochs=30, batch=64, lr=3e-2)
    assert np.array_equal(again.weights, refined.weights)  # seeded: the fitting script reproduces the shipped map
    with pytest.raises(EncoderError, match="one gallery row per bag"):
        refine_word_map(ridge, bags, owners[:3], gallery, epochs=1)


def test_broken_or_foreign_word_map_files_fail_with_one_clear_error(tmp_path):
    with pytest.raises(EncoderError, match="cannot read the zh word map"):
        read_word_map(tmp_path, "zh")
    (tmp_path / "zh.json").write_text(json.dumps({"format": "something-else", "words": []}))
    with pytest.raises(EncoderError, match="is not a polyseek word map"):
        read_word_map(tmp_path, "zh")
    (tmp_path / "zh.json").write_text(json.dumps({"format": "polyseek-word-map", "words": ["a"]}))
    (tmp_path / "zh.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(PolyseekError, match="weights"):
        read_word_map(tmp_path, "zh")
    with pytest.raises(EncoderError, match="one target per bag"):
        fit_word_map("zh", [["a"]], np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(EncoderError, match="no word map for language"):
        tokens("fr", "un chien")
    assert word_map("fr") is None  # none ships: the multilingual encoder leaves French as it was


def test_tokens_are_words_and_for_chinese_also_characters():
    assert german_tokens("Ein Hund, 2 Katzen und ÄPFEL!") == ["ein", "hund", "katzen", "und", "äpfel"]
    bag = tokens("zh", "小黄狗在草地上。")
    assert "草地" in bag and "#狗" in bag and "#草" in bag and "。" not in bag


def test_shipped_word_maps_put_a_native_description_near_its_english_meaning():
    from polyseek.encoders.base import load_encoder

    bge = load_encoder("bge-small-onnx")
    english = bge.encode_queries(["a dog runs across a grassy field", "a man rides a bicycle down a city street",
                                  "two children swim in a blue pool", "a woman climbs a snowy mountain"])
    for language, texts in (("zh", ["草地上奔跑的小狗", "在街上骑自行车的男人", "在游泳池里游泳的两个孩子", "正在爬雪山的女人"]),
                            ("de", ["Ein Hund rennt über eine Wiese", "Ein Mann fährt Fahrrad in der Stadt",
                                    "Zwei Kinder schwimmen im Schwimmbecken", "Eine Frau klettert auf einen verschneiten Berg"])):
        table = word_map(language)
        assert table is not None and table.dim == 384, language
        scores = table.encode(texts) @ english.T
        assert list(scores.argmax(1)) == [0, 1, 2, 3], (language, scores.round(2))


def test_multilingual_mixes_the_word_map_into_foreign_queries_only():
    from polyseek.encoders.base import load_encoder
    from tests.encoders.test_multilingual import CHINESE, ENGLISH, GERMAN

    encoder = load_encoder("multilingual")
    if not encoder.word_map_weights:
        pytest.skip("no word map weight is set for the multilingual encoder")
    gloss_only = load_encoder("multilingual-gloss")
    assert np.array_equal(encoder.encode_queries(ENGLISH), gloss_only.encode_queries(ENGLISH))
    batch = [ENGLISH[0], CHINESE[0], GERMAN[0]]
    mixed, before = encoder.encode_queries(batch), gloss_only.encode_queries(batch)
    assert np.array_equal(mixed[0], before[0])
    assert float(mixed[1] @ before[1]) < 0.999 and float(mixed[2] @ before[2]) < 0.999
