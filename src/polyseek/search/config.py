"""The search policy's tuning knobs as one frozen value: vary it with ``dataclasses.replace``, never by mutation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from polyseek.errors import InvalidInputError
from polyseek.types import Signal

DEFAULT_WEIGHTS = MappingProxyType({Signal.IMAGE: 1.0, Signal.TEXT: 1.0, Signal.LEXICAL: 0.5})
FUSIONS = ("rrf", "zscore")


@dataclass(frozen=True)
class SearchConfig:
    """How a query is ranked. Every field is measured in the docs named beside it.

    >>> from dataclasses import replace
    >>> replace(SearchConfig(), fusion="zscore").fusion
    'zscore'
    """

    weights: Mapping[Signal, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)  # fusion weight per signal
    fusion: str = "rrf"  # polyseek.search.fusion.FUSERS
    reranker: str = "cross-encoder"  # polyseek.search.rerank registry; used when a query asks for reranking
    # queries that leave rerank unset (None) get it when PDF pages lead the results (docs/documents.md)
    rerank_documents: bool = True
    # results the reranker re-reads (search/aggregate.py RERANK_DEPTH) and its window in word pieces, query
    # included (benchmarks/rerank_cost.py, benchmarks/README.md issue 13); a reranker without a window ignores it
    rerank_depth: int = 20
    rerank_window: int = 256
    # the automatic document rerank is skipped when the first stage's top result leads the second by at least
    # this share of its score (search/rerank.py first_stage_confident; benchmarks/rerank_skip.py); None: never
    rerank_skip_gap: float | None = None
    # signals that rank PDF pages and regions when the query has text (docs/documents.md)
    document_signals: tuple[Signal, ...] = (Signal.TEXT, Signal.LEXICAL)
    # a question naming a figure, table or page gets that page first (search/policies/documents.py, docs/documents.md)
    document_references: bool = True
    # a question naming a balance sheet, income or cash-flow statement gets that statement's page first
    # (search/policies/statements.py); ``implied``: also one its metric implies (quick ratio: balance sheet; tune split)
    document_statements: bool = True
    document_statements_implied: bool = True
    # scores of each kind of item standardised against that kind before kinds are merged (search/calibration.py)
    calibrate: bool = True
    # the query-side kind prior's weight as a multiple of the fitted one (search/kind_prior.py); 0 turns it off
    kind_prior: float = 1.0
    # a short query whose words are all words of a file's name puts that file first (search/policies/file_names.py)
    file_names: bool = True
    # a query naming a time ("at 0:07", "2 minutes in") gets each leading recording's item at that time
    # (search/policies/times.py)
    times: bool = True
    # a question naming a document by a word of its file name lifts its pages by this many score spreads
    # (search/policies/document_names.py; dev half of the universal pool); 0 turns it off
    document_names: float = 0.25
    # query expansion (search/policies/expansion.py): a generator rewrites text queries; off by default (docs/ask.md)
    expand: bool = False
    expand_generator: str | None = None  # its spec (polyseek.rag.base.load_generator); None: $POLYSEEK_GENERATOR
    min_depth: int = 50  # candidates each signal returns, at least ...
    depth_per_k: int = 4  # ... and this many per requested result

    def __post_init__(self) -> None:
        weights: dict[Signal, float] = {**DEFAULT_WEIGHTS}
        for signal, weight in dict(self.weights).items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight != weight:
                raise InvalidInputError(f"weight of signal {signal!r} must be a number, got {weight!r}")
            weights[Signal.parse(signal)] = float(weight)
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "document_signals", tuple(Signal.parse(s) for s in self.document_signals))
        if self.fusion not in FUSIONS:
            raise InvalidInputError(f"unknown fusion {self.fusion!r}", hint="accepted: " + ", ".join(FUSIONS))
        if isinstance(self.kind_prior, bool) or not isinstance(self.kind_prior, (int, float)) or not 0 <= self.kind_prior < float("inf"):
            raise InvalidInputError(f"kind_prior must be a number >= 0 (0: off), got {self.kind_prior!r}")
        if isinstance(self.document_names, bool) or not isinstance(self.document_names, (int, float)) or not 0 <= self.document_names < float("inf"):
            raise InvalidInputError(f"document_names must be a number >= 0 (0: off), got {self.document_names!r}")
        if self.min_depth < 1 or self.depth_per_k < 1:
            raise InvalidInputError("search depths must be positive")
        for name in ("rerank_depth", "rerank_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "rerank_depth" else 16):
                raise InvalidInputError(f"{name} must be a whole number >= {1 if name == 'rerank_depth' else 16}, got {value!r}")
        gap = self.rerank_skip_gap
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 < gap <= 1):
            raise InvalidInputError(f"rerank_skip_gap must be a number in (0, 1] or None (never skip), got {gap!r}")

    def with_weights(self, weights: Mapping[str, float] | None) -> SearchConfig:
        """This config with some signal weights changed (``None``: unchanged)."""
        if not weights:
            return self
        return replace(self, weights={**self.weights, **{Signal.parse(s): w for s, w in weights.items()}})

    def depth(self, k: int) -> int:
        """Candidates each signal contributes for a query that wants ``k`` results."""
        return max(self.min_depth, k * self.depth_per_k)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for evaluation reports."""
        return {"weights": {s.value: w for s, w in self.weights.items()}, "fusion": self.fusion,
                "reranker": self.reranker, "rerank_documents": self.rerank_documents,
                "rerank_depth": self.rerank_depth, "rerank_window": self.rerank_window, "rerank_skip_gap": self.rerank_skip_gap,
                "document_signals": [s.value for s in self.document_signals], "document_references": self.document_references, "document_statements": self.document_statements, "document_statements_implied": self.document_statements_implied,
                "calibrate": self.calibrate, "kind_prior": self.kind_prior, "file_names": self.file_names,
                "times": self.times,
                "document_names": self.document_names,
                "min_depth": self.min_depth, "depth_per_k": self.depth_per_k,
                **({"expand": True, "expand_generator": self.expand_generator} if self.expand else {})}
