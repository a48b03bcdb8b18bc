"""What one search carries from stage to stage: the query, its vectors, the ranked lists, the results so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from polyseek.search.config import SearchConfig
from polyseek.search.rows import RowCache
from polyseek.types import Filters, Hit, Query, Signal

Ranked = list[tuple[str, float]]  # (item id, score), best first
SearchRequest = tuple[str, np.ndarray, int, Filters]  # a dense search: space, query vector, k, filters


class QueryEncoders(Protocol):
    """The encoders a search embeds its query with (the engine's spaces provide them)."""

    def encoder(self, space: Signal) -> Any: ...

    def shares_text_side(self) -> bool: ...


@dataclass
class SearchContext:
    """Filled in by the stages in order; a stage reads what earlier ones left and adds its own part."""

    query: Query
    config: SearchConfig
    rows: RowCache
    encoders: QueryEncoders
    image_vectors: np.ndarray | None = None  # the query's images, embedded (before any policy touches them)
    text_rewrites: list[Callable[[str], str]] = field(default_factory=list)  # applied to text parts before encoding
    additions: dict[Signal, np.ndarray] = field(default_factory=dict)  # added to a space's query vector (concepts)
    vectors: dict[Signal, np.ndarray] = field(default_factory=dict)  # one query vector per dense space
    base_vectors: dict[Signal, np.ndarray] = field(default_factory=dict)  # the same, before any addition
    # a space's scoring rule when it is not the dot product with its query vector: scores for a (n, dim) matrix
    scorers: dict[Signal, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    lists: dict[Signal, Ranked] = field(default_factory=dict)  # per-signal candidates
    ineligible: dict[Signal, set[str]] = field(default_factory=dict)  # items a signal must not rank
    excluded: set[str] = field(default_factory=set)  # items that are never results (the query's own item)
    fusion: str | None = None  # a policy's choice of fusion for this query (default: SearchConfig.fusion)
    fused: Ranked = field(default_factory=list)
    results: list[Any] | None = None  # polyseek.search.aggregate.Aggregated, once pooled
    rerank_wanted: bool = False  # a policy asks for the reranker (e.g. PDF pages lead)
    rerank_text: str | None = None  # what the reranker reads instead of the query's text (a foreign query's English gloss)
    pinned: set[str] = field(default_factory=set)  # items a policy placed on purpose: rerank leaves their places
    # items a policy put ahead of all others as a group (a kind the query names): rerank reorders them among
    # themselves and the others among themselves, never one past the other
    led: set[str] = field(default_factory=set)
    rerank_scores: dict[str, float] = field(default_factory=dict)
    slot_scores: list[float] = field(default_factory=list)  # scores of the result slots before rerank
    hits: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    state: dict[str, Any] = field(default_factory=dict)  # a policy's own notes between its hooks, by policy name
    # the dense searches a policy will ask for once retrieval is done (set in ``prepare``): retrieve starts them then,
    # beside the stages in between, and the policy's ``rows.search_many`` of the same requests takes their answers
    soon: list[Callable[[SearchContext], list[SearchRequest]]] = field(default_factory=list)

    @property
    def weights(self) -> dict[Signal, float]:
        return dict(self.config.weights)

    def per_signal(self) -> dict[Signal, dict[str, float]]:
        return {signal: dict(ranked) for signal, ranked in self.lists.items()}

    def score(self, space: Signal, matrix: np.ndarray) -> np.ndarray:
        """Scores of stored vectors (rows of ``matrix``) for this query in ``space``."""
        scorer = self.scorers.get(space)
        return scorer(matrix) if scorer is not None else matrix @ self.vectors[space]

    def rescore(self, space: Signal, ranked: Ranked) -> Ranked:
        """Candidates found by the query vector, scored by the space's scoring rule where a policy set one."""
        if space not in self.scorers or not ranked:
            return ranked
        vectors = self.rows.get_vectors(space.value, [i for i, _ in ranked])
        ids = [i for i, _ in ranked if i in vectors]
        if not ids:
            return ranked
        scores = self.score(space, np.stack([vectors[i] for i in ids]))
        return sorted(zip(ids, scores.tolist()), key=lambda kv: (-kv[1], kv[0]))
