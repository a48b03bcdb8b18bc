"""The page eval's breakdown gives each test-half group its hit@5 interval: the groups are small (15-44 questions)."""

from __future__ import annotations

import pytest

from polyseek.eval.pages import breakdown_lines, wilson_interval


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(13 / 18, 18)  # MMLongBench-Doc test figures before session 7
    assert low == pytest.approx(0.491, abs=1e-3) and high == pytest.approx(0.875, abs=1e-3)
    assert wilson_interval(1.0, 26)[1] == 1.0 and wilson_interval(1.0, 26)[0] == pytest.approx(0.871, abs=1e-3)
    assert wilson_interval(0.0, 0) == (0.0, 1.0)


def test_breakdown_rows_carry_the_test_interval():
    metrics = {"within_document": {"hit@5": 0.5, "recall@5": 0.4}, "corpus": {"hit@10": 0.5}}
    report = {"breakdown": {"evidence_sources": {
        "Figure": {"n_queries": 4, **metrics, "test": {"n_queries": 2, **metrics}},
        "Table": {"n_queries": 1, **metrics}}}}
    lines = breakdown_lines(report)
    figure = next(line for line in lines if line.startswith("| Figure"))
    assert "| 2 | 0.500 | [0.09, 0.91] | 0.400 | 0.500 |" in figure
    table = next(line for line in lines if line.startswith("| Table"))
    assert table.count("|") == figure.count("|")  # a group without test questions keeps the columns
