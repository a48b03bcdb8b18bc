"""Paired comparison of reports: exact-checkable p-values, query alignment, markdown and JSON report round trip."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import InvalidInputError
from polyseek.eval.compare import compare_reports, comparison_markdown, randomization_test, wilcoxon_test
from polyseek.eval.report import read_report, to_markdown, write_report


def fake_report(values: dict[str, float], name: str = "text_to_image") -> dict:
    per_query = {q: {"recall@1": v, "mrr@10": v, "mean_rank": 1.0 if v else 5.0} for q, v in values.items()}
    mean = sum(values.values()) / len(values)
    return {name: {"recall@1": mean, "mrr@10": mean, "mean_rank": 1.0}, "per_query": {name: per_query},
            "config": {"image_encoder_resolved": "x"}, "dataset": {"name": "tiny"}}


def test_randomization_matches_exact_sign_flip_distribution():
    # all ten differences +1: only the two all-same-sign flips are as extreme, exact p = 2 / 2**10
    assert randomization_test(np.zeros(10), np.ones(10), permutations=20_000) == pytest.approx(2 / 1024, abs=0.0015)
    # three differences +1: exact p = 2 / 8
    assert randomization_test(np.zeros(3), np.ones(3), permutations=20_000) == pytest.approx(0.25, abs=0.02)
    assert randomization_test(np.ones(4), np.ones(4)) == 1.0


def test_wilcoxon_exact_small_sample():
    assert wilcoxon_test(np.zeros(10), np.arange(1, 11, dtype=float)) == pytest.approx(2 / 1024)
    assert wilcoxon_test(np.ones(5), np.ones(5)) == 1.0


def test_compare_aligns_queries_by_id():
    a = fake_report({f"q{i}": 0.0 for i in range(12)})
    b = fake_report({f"q{i}": 1.0 for i in range(12)} | {"extra": 1.0})
    result = compare_reports(a, b, permutations=2_000)
    recall = next(r for r in result["rows"] if r["metric"] == "recall@1")
    assert recall["n"] == 12 and recall["mean_diff"] == 1.0 and recall["p_randomization"] < 0.01
    rank = next(r for r in result["rows"] if r["metric"] == "mean_rank")
    assert rank["mean_diff"] == -4.0  # lower is better
    assert result["warnings"] and "12" in result["warnings"][0]
    assert "| text_to_image | recall@1 | 12 |" in comparison_markdown(result)
    with pytest.raises(InvalidInputError, match="share no task"):
        compare_reports(a, fake_report({"q0": 1.0}, name="image_to_text"))


def test_report_round_trip(tmp_path):
    report = fake_report({"q1": 1.0, "q2": 0.0})
    json_path, md_path = write_report(report, tmp_path / "out" / "r.json")
    assert md_path.suffix == ".md" and read_report(json_path)["text_to_image"]["recall@1"] == 0.5
    assert "| text_to_image | 0.500 |" in to_markdown(report)
    (tmp_path / "not.json").write_text('{"a": 1}')
    with pytest.raises(InvalidInputError, match="not a polyseek eval report"):
        read_report(tmp_path / "not.json")
