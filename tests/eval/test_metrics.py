"""Metrics on hand-computed cases: single and several relevant items, ties, missing and unjudged queries."""

from __future__ import annotations

import math

import pytest

from polyseek.errors import InvalidInputError
from polyseek.eval.metrics import evaluate, rank


def test_rank_orders_by_score_then_id_and_keeps_best_duplicate():
    assert rank([("b", 1.0), ("a", 1.0), ("c", 2.0), ("b", 3.0)]) == [("b", 3.0), ("c", 2.0), ("a", 1.0)]
    with pytest.raises(InvalidInputError):
        rank([("a", float("nan"))])


def test_single_relevant_at_rank_three():
    run = {"q": [("x", 0.9), ("y", 0.8), ("rel", 0.7), ("z", 0.1)]}
    result = evaluate(run, {"q": {"rel": 1}})
    m = result.metrics
    assert (m["recall@1"], m["recall@5"], m["recall@10"]) == (0.0, 1.0, 1.0)
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert m["map@50"] == pytest.approx(1 / 3)
    assert m["mean_rank"] == 3.0 and m["median_rank"] == 3.0
    assert result.per_query["q"].first_relevant_rank == 3
    assert result.per_query["q"].top == ("x", "y", "rel", "z")


def test_several_relevant_items():
    # relevant at ranks 2 and 4 of five judged relevant items
    run = {"q": [("n1", 5.0), ("r1", 4.0), ("n2", 3.0), ("r2", 2.0), ("n3", 1.0)]}
    qrels = {"q": {f"r{i}": 1 for i in range(1, 6)}}
    m = evaluate(run, qrels).metrics
    assert m["recall@1"] == 0.0 and m["recall@5"] == 1.0  # any relevant in the top k
    assert m["recall_frac@5"] == pytest.approx(2 / 5)  # fraction of the five relevant
    assert m["map@50"] == pytest.approx((1 / 2 + 2 / 4) / 5)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, 6))
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert m["mrr@10"] == pytest.approx(0.5)
    assert m["mean_rank"] == 2.0


def test_ties_keep_the_system_order_not_trec_evals():
    # trec_eval would put "b" before "a" on equal scores (id descending) in both; we keep the run's order.
    qrels = {"first": {"a": 1}, "second": {"b": 1}}
    run = {"first": [("a", 0.5), ("b", 0.5)], "second": [("a", 0.5), ("b", 0.5)]}
    result = evaluate(run, qrels)
    assert result.per_query["first"].metrics["recall@1"] == 1.0
    assert result.per_query["second"].metrics["recall@1"] == 0.0
    assert result.per_query["second"].metrics["mrr@10"] == pytest.approx(0.5)
    assert result.metrics["recall@1"] == pytest.approx(0.5)
    assert result.tied_queries == 2  # both first relevant items share a score with a non-relevant one
    # a tie between two relevant items is not a tie that matters
    assert not evaluate({"q": [("a", 1.0), ("b", 1.0)]}, {"q": {"a": 1, "b": 1}}).per_query["q"].tied_at_first_relevant


def test_missing_and_unjudged_queries():
    qrels = {"hit": {"d": 1}, "lost": {"d": 1}, "unjudged": {"d": 0}}
    result = evaluate({"hit": [("d", 1.0)]}, qrels, depth=20)
    assert result.n_queries == 2 and result.skipped_queries == ("unjudged",)
    assert result.per_query["lost"].metrics["recall@10"] == 0.0
    assert result.per_query["lost"].first_relevant_rank is None
    assert result.censored_queries == 1
    assert result.metrics["recall@1"] == 0.5  # the lost query counts as a miss, it is not dropped
    assert result.metrics["mean_rank"] == pytest.approx((1 + 21) / 2)  # not retrieved: depth + 1


def test_graded_relevance_in_ndcg():
    run = {"q": [("low", 2.0), ("high", 1.0)]}
    m = evaluate(run, {"q": {"high": 2, "low": 1}}).metrics
    dcg = 1 / math.log2(2) + 2 / math.log2(3)  # trec_eval: gain = grade (linear)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / ideal)


def test_no_relevant_items_at_all_is_refused():
    with pytest.raises(InvalidInputError):
        evaluate({"q": [("a", 1.0)]}, {"q": {"a": 0}})


def test_deep_rank_replaces_censored_rank_but_never_inside_depth():
    qrels = {"a": {"r": 1}, "b": {"r": 1}}
    run = {"a": [("x", 1.0)], "b": [("y", 1.0)]}
    result = evaluate(run, qrels, depth=1, deep_ranks={"a": 7, "b": 1})
    assert result.per_query["a"].first_relevant_rank == 7
    assert result.per_query["b"].first_relevant_rank == 2  # the shallow run saw it was not at rank 1
    assert result.censored_queries == 0 and result.metrics["mean_rank"] == pytest.approx(4.5)
    assert result.metrics["recall@10"] == 0.0  # deep ranks only feed mean rank
