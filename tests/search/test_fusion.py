"""Rank fusion: weighted RRF with eligibility, z-score fusion, deterministic ties."""

from __future__ import annotations

import pytest

from polyseek.search.fusion import rrf, zscore


def test_rrf_hand_computed():
    lists = {"a": [("x", 0.9), ("y", 0.8)], "b": [("y", 5.0), ("z", 1.0)]}
    fused = dict(rrf(lists, k=60))
    assert fused["y"] == pytest.approx((1 / 62 + 1 / 61) / 2)
    assert fused["x"] == pytest.approx((1 / 61) / 2)
    assert [i for i, _ in rrf(lists, k=60)] == ["y", "x", "z"]


def test_rrf_weights_and_eligibility():
    lists = {"image": [("img", 0.5), ("txt", 0.4)], "text": [("txt", 0.9)]}
    eligible = lambda item, signal: signal == "image" or item == "txt"  # noqa: E731
    fused = dict(rrf(lists, {"image": 1.0, "text": 1.0}, eligible, k=60))
    assert fused["img"] == pytest.approx(1 / 61)  # only judged by the signal it can appear in
    assert fused["txt"] == pytest.approx((1 / 62 + 1 / 61) / 2)
    crossed = {"image": [("a", 0.9), ("b", 0.8)], "text": [("b", 0.9), ("a", 0.8)]}
    assert rrf(crossed, {"image": 0.2, "text": 1.0})[0][0] == "b"
    assert rrf(crossed, {"image": 1.0, "text": 0.2})[0][0] == "a"


def test_ties_broken_by_id():
    lists = {"a": [("b", 1.0)], "c": [("a", 1.0)]}
    assert [i for i, _ in rrf(lists)] == ["a", "b"]


def test_zscore():
    lists = {"a": [("x", 3.0), ("y", 2.0), ("z", 1.0)]}
    fused = zscore(lists)
    assert [i for i, _ in fused] == ["x", "y", "z"]
    assert fused[1][1] == pytest.approx(0.0)
