"""The recommendation evaluation's JSON contract on a tiny synthetic MovieLens-style folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from polyseek.eval.recommend import BASELINES, holm, run_recommend_eval, tie_aware_metrics, to_markdown


def _folder(root, items=24, users=14):
    (root / "posters").mkdir(parents=True)
    rng = np.random.default_rng(1)
    genres = ["Comedy", "Drama", "Horror"]
    with (root / "items.jsonl").open("w") as handle:
        for movie in range(1, items + 1):
            genre = genres[movie % 3]
            film = {"movieId": movie, "title": f"Film {movie} ({1990 + movie})", "genres": [genre], "tags": [genre.lower()],
                    "n_ratings": 999}
            if movie % 2:  # half of the films have a poster
                colour = [(200, 30, 30), (30, 200, 30), (30, 30, 200)][movie % 3]
                Image.new("RGB", (20, 30), colour).save(root / "posters" / f"{movie}.jpg")
                film["poster"] = f"posters/{movie}.jpg"
            handle.write(json.dumps(film) + "\n")
    lines = ["userId,movieId,rating,timestamp"]
    for user in range(1, users + 1):
        taste = user % 3
        liked = [m for m in range(1, items + 1) if m % 3 == taste]
        for step, movie in enumerate(rng.permutation(liked)[:7]):
            lines.append(f"{user},{movie},{rng.integers(1, 6)}.0,{100 * step}")
    (root / "ratings.csv").write_text("\n".join(lines) + "\n")
    return root


def test_report_contract(tmp_path):
    folder = _folder(tmp_path / "ml")
    report = run_recommend_eval(folder, tmp_path / "work", epochs=2, resamples=100, permutations=200,
                                image_encoder="deterministic", text_encoder="deterministic")
    assert set(BASELINES) <= set(report["methods"]) and "polyseek-sequential" in report["methods"]
    assert report["n_users"] == report["n_dev_users"] == 14  # every user: dev target second-to-last, test target last
    assert report["best"] != "polyseek-cold-start" and "polyseek-cold-start" in report["methods"]
    assert report["tuning"]["hybrid"] and report["config"]["hybrid"]["sequential"] == 1.0
    for name, block in report["methods"].items():
        for metric in ("hr@10", "ndcg@10"):
            assert 0.0 <= block[metric] <= 1.0
            low, high = block[f"{metric}_ci"]
            assert low <= block[metric] <= high
        assert {"hr@10", "ndcg@10", "n_users"} <= set(block["cold_start"])
    assert report["best"].startswith("polyseek-")
    assert set(report["paired_tests"]) == set(BASELINES)
    assert all(0 < t["p_randomization"] <= 1 for t in report["paired_tests"].values())
    # genre-consistent tastes: content and co-occurrence must beat chance (1 - 10/17 unrated items miss)
    assert report["methods"]["text-only"]["hr@10"] > 0.6
    cold = report["cold_items"]  # items held out of training entirely (recommend_cold), a block of its own
    assert cold["n_users"] > 0 and set(cold["candidates"]) == {"all-unrated", "cold-only"}
    assert {"content→cf multimodal", "content→cf text-only (release-day)"} <= set(cold["candidates"]["cold-only"]["methods"])
    json.dumps(report)  # serialisable as is
    assert "| popularity |" in to_markdown(report) and "Cold items:" in to_markdown(report)
    again = run_recommend_eval(folder, tmp_path / "work", epochs=2, resamples=100, permutations=200,
                               image_encoder="deterministic", text_encoder="deterministic")
    assert again["index"]["unchanged"] == 1 and again["index"]["items"] == 0  # the store is reused between runs
    assert again["methods"]["item-knn"] == report["methods"]["item-knn"]


def test_ties_are_broken_at_random_in_expectation():
    scores = np.zeros(20)
    candidates = np.ones(20, dtype=bool)
    hr, ndcg, rank = tie_aware_metrics(scores, 0, candidates)
    assert hr == 0.5 and rank == 1  # 20 tied items: the target is in the top 10 half the time
    assert abs(ndcg - sum(1 / np.log2(r + 1) for r in range(1, 11)) / 20) < 1e-9
    scores[0] = 1.0
    assert tie_aware_metrics(scores, 0, candidates)[:2] == (1.0, 1.0)


def test_holm_adjustment():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})  # 3 x 0.01; 2 x 0.03; max(0.06, 1 x 0.04)
