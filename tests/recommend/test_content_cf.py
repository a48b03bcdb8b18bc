"""Content → collaborative maps and the cold-item protocol (items held out of training entirely)."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import InvalidInputError
from polyseek.eval.recommend import tie_aware_metrics
from polyseek.eval.recommend_cold import cold_targets, hold_out, run_cold_items, to_markdown
from polyseek.recommend.base import Pool
from polyseek.recommend.content_cf import ContentToCF, collaborative_space, content_features, history_vector
from polyseek.recommend.training import Event


def test_collaborative_space_is_low_rank_item_knn_and_zero_for_items_without_interactions():
    rng = np.random.default_rng(0)
    matrix = (rng.random((40, 12)) < 0.3).astype(np.float32)
    matrix[:, 5] = 0.0  # nobody interacted with item 5
    full = collaborative_space(matrix, 12)
    scaled = matrix / np.sqrt(np.maximum(matrix.sum(0), 1.0))
    assert np.allclose(full @ full.T, scaled.T @ scaled, atol=1e-4)  # E E' = the item-kNN cosine matrix
    assert not np.any(full[5]) and not np.any(collaborative_space(matrix, 3)[5])
    assert collaborative_space(matrix, 3).shape == (12, 3)
    with pytest.raises(InvalidInputError):
        collaborative_space(np.zeros((0, 3)), 2)


def test_content_map_learns_from_warm_items_and_predicts_cold_ones():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 6)).astype(np.float32)
    truth = rng.normal(size=(6, 3)).astype(np.float32)
    targets = features @ truth + 0.5
    warm = np.arange(200) < 150
    targets_seen = np.where(warm[:, None], targets, 99.0)  # cold rows' targets are garbage: must not be used
    model = ContentToCF.fit(features, targets_seen, warm, ridge=1e-3)
    assert np.allclose(model.predict(features[~warm]), targets[~warm], atol=1e-2)
    with pytest.raises(InvalidInputError):
        ContentToCF.fit(features, targets, np.zeros(200, dtype=bool), ridge=1.0)


def test_content_features_pick_spaces_and_history_vector_weighs_recent_items():
    pool = Pool(("a", "b"), {"image": np.eye(2, dtype=np.float32), "text": np.ones((2, 3), np.float32)},
                {"image": np.array([True, False]), "text": np.array([True, True])})
    both = content_features(pool, {"image": 2.0, "text": 1.0})
    assert both.shape == (2, 5) and both[0, 0] == 2.0 and not np.any(both[1, :2])  # b has no picture
    assert content_features(pool, {"image": 0.0, "text": 1.0}).shape == (2, 3)
    with pytest.raises(InvalidInputError):
        content_features(pool, {"image": 0.0, "text": 0.0})
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert history_vector(embeddings, [0, 1], half_life=1.0).tolist() == [0.5, 1.0]


def test_held_out_halves_are_disjoint_seeded_and_targets_are_cold_with_warm_histories():
    dev, test = hold_out(100, 0.2, seed=3)
    assert dev.sum() == test.sum() == 10 and not np.any(dev & test)
    assert np.array_equal(hold_out(100, 0.2, seed=3)[1], test) and not np.array_equal(hold_out(100, 0.2, seed=4)[1], test)
    row = {str(i): i for i in range(6)}
    cold = np.array([False, False, False, True, True, False])
    events = [Event("u", "0", 1), Event("u", "3", 2), Event("u", "1", 3), Event("u", "4", 4), Event("u", "2", 5),
              Event("v", "3", 1), Event("v", "0", 2)]  # v's only cold rating has no warm history before it
    targets = cold_targets(events, row, cold, ~cold)
    assert set(targets) == {"u"}
    target = targets["u"]
    assert target.row == 4 and [e.item for e in target.history] == ["0", "1"]  # cold item 3 is not in the history
    assert target.rated.tolist() == [True, True, False, True, False, False]  # rated before the target: not candidates


def _log(items=120, users=40, seed=0):
    """Four tastes; an item's text says its taste, its picture is noise: text-only should find cold targets."""
    rng = np.random.default_rng(seed)
    taste = np.arange(items) % 4
    text = np.stack([np.eye(4)[t] + rng.normal(scale=0.3, size=4) for t in taste])
    text = np.hstack([text, rng.normal(scale=0.1, size=(items, 4))]).astype(np.float32)
    image = rng.normal(size=(items, 8)).astype(np.float32)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    ids = tuple(str(i) for i in range(items))
    pool = Pool(ids, {"image": unit(image), "text": unit(text)}, {"image": np.ones(items, bool), "text": np.ones(items, bool)})
    events = []
    for user in range(users):
        liked = [i for i in range(items) if taste[i] == user % 4]
        for step, item in enumerate(rng.permutation(liked)[:12]):
            events.append(Event(str(user), str(item), float(step), 4.0))
    return pool, list(ids), events


def test_cold_item_report_contract_and_text_beats_chance():
    pool, ids, events = _log()
    release = Pool(pool.ids, {"text": pool.vectors["text"][:, :4].copy(), "image": pool.vectors["image"]}, pool.present)
    block = run_cold_items(pool, ids, events, share=0.3, resamples=100, permutations=200, release=release)
    assert block["n_items_dev_cold"] == block["n_items_test_cold"] == 18 and block["n_users"] > 20
    for candidates in ("all-unrated", "cold-only"):
        result = block["candidates"][candidates]
        names = set(result["methods"])
        assert {"content→cf text-only", "content→cf poster-only", "content→cf multimodal", "content text-only"} <= names
        for values in result["methods"].values():
            low, high = values["ndcg@10_ci"]
            assert 0.0 <= low <= values["ndcg@10"] <= high <= 1.0 and "dev_ndcg@10" in values["setting"]
        assert "content→cf multimodal (release-day)" in names and result["methods"]["content→cf multimodal (release-day)"][
            "setting"]["content"] == "release-day"
        assert set(result["tests"]) >= {"content→cf multimodal vs content→cf text-only",
                                        "content→cf multimodal (release-day) vs content→cf text-only (release-day)"}
        assert all(0 < t["p_randomization"] <= 1 for t in result["tests"].values())
    every = block["candidates"]["all-unrated"]
    # the taste is in the text: a quarter of the ~110 candidates match it, so text finds targets 2.5x as often as
    # chance; the picture is noise, so the poster-only map does not
    assert every["methods"]["content→cf text-only"]["hr@10"] > 2.5 * every["random_hr@10"]
    assert every["methods"]["content→cf poster-only"]["hr@10"] < 2 * every["random_hr@10"]
    assert "| content→cf multimodal |" in to_markdown(block)


def test_tie_aware_metrics_with_an_unscorable_target():
    scores = np.array([np.inf, -np.inf, 0.0])
    assert tie_aware_metrics(scores, 1, np.ones(3, bool))[2] == 3  # -inf ranks last


def test_a_hold_out_without_targets_reports_none_instead_of_failing():
    pool, ids, events = _log(items=40, users=4)
    block = run_cold_items(pool, ids, [e for e in events if e.user == "0"][:1], share=0.05, resamples=100,
                           permutations=100)  # one event: no user has a warm history before a cold rating
    assert block["n_users"] == 0 and block["candidates"]["cold-only"]["tests"] == {}
    assert block["candidates"]["cold-only"]["median_candidates"] is None
    assert "no test target" in to_markdown(block)
