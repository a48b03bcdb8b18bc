"""Retrieval metrics from run dicts and qrels, computed by ir-measures with an explicit tie order.

trec_eval (under ir-measures) orders equal scores by document id *descending*, which silently
favours some ids when a small model gives many identical scores. So we rank first, by
``(score desc, id asc)``, and hand the library strictly decreasing scores derived from those ranks:
every metric then sees exactly the ranking we report.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ir_measures
from ir_measures import AP, RR, R, Success, nDCG

from polyseek.errors import InvalidInputError

Scored = Sequence[tuple[str, float]]  # [(doc id, score)], any order
Qrels = Mapping[str, Mapping[str, int]]  # {query id: {doc id: relevance grade}}; grade > 0 is relevant

RECALL_KS = (1, 5, 10)

# Our names → ir-measures measures. "recall@k" is success: 1 if any relevant item is in the top k
# (the CLIP/ALIGN convention for caption retrieval); "recall_frac@k" is the fraction of the relevant
# items in the top k (trec_eval's recall). With one relevant item per query they coincide.
MEASURES: dict[str, Any] = {
    **{f"recall@{k}": Success @ k for k in RECALL_KS},
    **{f"recall_frac@{k}": R @ k for k in RECALL_KS},
    "ndcg@10": nDCG @ 10,
    "mrr@10": RR @ 10,
    "map@50": AP @ 50,
}
RANK_METRICS = ("mean_rank", "median_rank")
METRIC_NAMES = (*MEASURES, *RANK_METRICS)

DEFINITIONS = {
    "recall@k": "1 if any relevant item is among the top k, averaged over queries (success@k; CLIP-paper recall)",
    "recall_frac@k": "fraction of a query's relevant items among the top k, averaged over queries (trec_eval recall)",
    "ndcg@10": "nDCG over the top 10 with graded relevance (trec_eval ndcg_cut.10)",
    "mrr@10": "reciprocal rank of the first relevant item if within the top 10, else 0",
    "map@50": "average precision over the top 50 (trec_eval map_cut.50)",
    "mean_rank": "mean 1-based rank of the first relevant item. Queries with no relevant item within the search depth "
                 "are searched again over the whole pool to find it (deep_rank_queries); a query whose relevant items "
                 "were never retrieved counts as (depth + 1), and the mean is then a lower bound (see censored_queries)",
    "median_rank": "median of the same ranks",
    "tie_break": "items are ranked by score descending, then by dataset id ascending",
}


@dataclass(frozen=True)
class QueryResult:
    """Metrics of one query plus what is needed to read them: its ranking head and first relevant rank."""

    query_id: str
    metrics: dict[str, float]
    first_relevant_rank: int | None  # None: no relevant item retrieved
    n_relevant: int
    n_retrieved: int
    tied_at_first_relevant: bool  # the first relevant item shares its score with a non-relevant item
    top: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 6) for k, v in self.metrics.items()},
            "first_relevant_rank": self.first_relevant_rank,
            "n_relevant": self.n_relevant,
            "n_retrieved": self.n_retrieved,
            "tied_at_first_relevant": self.tied_at_first_relevant,
            "top": list(self.top),
        }


@dataclass(frozen=True)
class Evaluation:
    """Aggregate metrics (means over judged queries) and the per-query results behind them."""

    metrics: dict[str, float]
    per_query: dict[str, QueryResult] = field(default_factory=dict)
    n_queries: int = 0
    censored_queries: int = 0  # queries whose relevant items were not retrieved at all
    tied_queries: int = 0
    skipped_queries: tuple[str, ...] = ()  # queries with no relevant item in the qrels: not scored

    def summary(self) -> dict[str, Any]:
        return {
            "n_queries": self.n_queries,
            "censored_queries": self.censored_queries,
            "tied_at_first_relevant": self.tied_queries,
            "skipped_queries": len(self.skipped_queries),
        }


def rank(scored: Scored) -> list[tuple[str, float]]:
    """Order ``[(id, score)]`` by score descending; equal scores keep the order the system returned them in
    (the engine breaks ties deterministically, so a search at depth 1 is the prefix of one at depth 50).
    Keeps each id's best score, at the place of its first entry.

    >>> rank([("b", 1.0), ("a", 1.0), ("c", 2.0)])
    [('c', 2.0), ('b', 1.0), ('a', 1.0)]
    """
    best: dict[str, float] = {}
    for doc_id, score in scored:
        score = float(score)
        if math.isnan(score):
            raise InvalidInputError(f"score of {doc_id!r} is NaN")
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = score
    return sorted(best.items(), key=lambda kv: -kv[1])  # stable: ties stay in the system's order


def evaluate(run: Mapping[str, Scored], qrels: Qrels, *, depth: int | None = None,
             deep_ranks: Mapping[str, int | None] | None = None, top: int = 10) -> Evaluation:
    """Metrics of ``run`` against ``qrels``.

    ``depth`` is how many results were asked per query: a query whose relevant items were not
    retrieved gets rank ``depth + 1`` (default: its own ranking's length + 1) in ``mean_rank``,
    unless ``deep_ranks`` gives its first relevant rank from a deeper search (then at least ``depth + 1``,
    since the shallow run did not find it).

    Every query with at least one relevant item in ``qrels`` is scored; a query absent from ``run``
    (or with an empty ranking) scores 0 on every metric rather than being dropped, which is what
    trec_eval would otherwise do. Queries without relevant items are skipped and counted.

    >>> evaluate({"q": [("a", 0.9), ("b", 0.9)]}, {"q": {"b": 1}}).metrics["recall@1"]
    0.0
    """
    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if any(int(g) > 0 for g in docs.values())}
    skipped = tuple(sorted(set(qrels) - set(judged)))
    if not judged:
        raise InvalidInputError("no query has a relevant item in the qrels", hint="relevance grades must be > 0")
    ranked = {q: rank(run.get(q, ())) for q in judged}
    # Strictly decreasing scores from ranks: the library cannot reorder ties any more.
    library_run = {q: {doc: float(len(items) - i) for i, (doc, _) in enumerate(items)} for q, items in ranked.items() if items}
    values: dict[str, dict[str, float]] = {q: {name: 0.0 for name in MEASURES} for q in judged}
    by_measure = {measure: name for name, measure in MEASURES.items()}
    if library_run:
        for metric in ir_measures.iter_calc(list(MEASURES.values()), judged, library_run):
            values[metric.query_id][by_measure[metric.measure]] = float(metric.value)

    per_query: dict[str, QueryResult] = {}
    for query_id, items in ranked.items():
        relevant = {d for d, g in judged[query_id].items() if g > 0}
        first = next((i for i, (doc, _) in enumerate(items) if doc in relevant), None)
        tied = False
        if first is not None:
            score = items[first][1]
            tied = any(s == score and d not in relevant for d, s in items)
        floor = max(depth or 0, len(items)) + 1
        deep = (deep_ranks or {}).get(query_id)
        if first is not None:
            found: int | None = first + 1
        else:
            found = max(deep, floor) if deep is not None else None
        metrics = dict(values[query_id])
        metrics["mean_rank"] = float(found if found is not None else floor)
        per_query[query_id] = QueryResult(
            query_id=query_id, metrics=metrics, first_relevant_rank=found,
            n_relevant=len(relevant), n_retrieved=len(items), tied_at_first_relevant=tied,
            top=tuple(doc for doc, _ in items[:top]),
        )

    results = list(per_query.values())
    aggregate = {name: statistics.fmean(r.metrics[name] for r in results) for name in MEASURES}
    ranks = [r.metrics["mean_rank"] for r in results]
    aggregate["mean_rank"] = statistics.fmean(ranks)
    aggregate["median_rank"] = float(statistics.median(ranks))
    return Evaluation(
        metrics=aggregate,
        per_query=per_query,
        n_queries=len(results),
        censored_queries=sum(1 for r in results if r.first_relevant_rank is None),
        tied_queries=sum(1 for r in results if r.tied_at_first_relevant),
        skipped_queries=skipped,
    )


def per_query_vectors(per_query: Mapping[str, Mapping[str, Any]], metric: str) -> dict[str, float]:
    """``{query id: value}`` of one metric from a per-query mapping (as written in the JSON report)."""
    return {q: float(v[metric]) for q, v in per_query.items() if isinstance(v, Mapping) and v.get(metric) is not None}


def ordered_metrics(names: Iterable[str]) -> list[str]:
    """Metric names in the report's canonical order, unknown ones last."""
    names = list(names)
    known = [n for n in METRIC_NAMES if n in names]
    return known + sorted(n for n in names if n not in known)
