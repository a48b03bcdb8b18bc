"""Query expansion: a generator rewrites a text query into a few retrieval queries; each is searched in every
active signal and the candidates are fused with the original query's, per signal, by their best score (CombMAX).

Off unless ``SearchConfig.expand`` is set (``--expand``). The rewriting model lives in the ``rag`` layer, above
search, so the policy is given a factory ``expanders(spec) -> expander`` (``polyseek.rag.expansion.expander_for``)
and never imports a generator. Dense scores from different queries are cosines and compare directly; lexical
(BM25) scores of each rewritten query are scaled so its best equals the original query's best. Queries with an
image part are left as they are (the rewrite is of text only), as are "more like this" queries. The reranker
still reads the original question, so expansion changes which candidates are found, not how they are judged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from polyseek.encoders.base import normalize
from polyseek.search.context import Ranked, SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS, Signal

Expander = Callable[[str], list[str]]  # a query's text → rewritten retrieval queries (the original not among them)
MAX_QUERIES = 3


def combmax(lists: list[Ranked]) -> Ranked:
    """One list from several: each item scored by its best score in any of them, best first.

    >>> combmax([[("a", 0.9), ("b", 0.5)], [("b", 0.7), ("c", 0.6)]])
    [('a', 0.9), ('b', 0.7), ('c', 0.6)]
    """
    best: dict[str, float] = {}
    for ranked in lists:
        for item, score in ranked:
            if item not in best or score > best[item]:
                best[item] = score
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


class ExpansionPolicy(BasePolicy):
    name = "expansion"

    def __init__(self, expanders: Callable[[str | None], Expander]) -> None:
        self.expanders = expanders

    def prepare(self, ctx: SearchContext) -> None:
        query = ctx.query
        if not ctx.config.expand or query.like or not query.text.strip() or any(p.image is not None for p in query.parts):
            return
        original = " ".join(query.text.lower().split())
        rewrites = [q for q in self.expanders(ctx.config.expand_generator)(query.text)
                    if q.strip() and " ".join(q.lower().split()) != original]
        ctx.state[self.name] = list(dict.fromkeys(rewrites))[:MAX_QUERIES]

    def before_fusion(self, ctx: SearchContext) -> None:
        rewrites: list[str] = ctx.state.get(self.name) or []
        if not rewrites:
            return
        query = ctx.query
        active = set(query.spaces or Signal)
        depth = ctx.config.depth(query.k)
        prefix = f"{query.instruction.strip()} " if query.instruction else ""
        texts = [prefix + r for r in rewrites]
        encoded: dict[Signal, np.ndarray] = {}
        for space in DENSE_SIGNALS:
            if space in active and space in ctx.vectors:
                encoder = ctx.encoders.encoder(Signal.IMAGE if space == Signal.IMAGE else Signal.TEXT)
                encoded[space] = normalize(np.asarray(encoder.encode_queries(texts), dtype=np.float32))
        for space, vectors in encoded.items():
            found = [ctx.rows.search(space.value, vector, depth, query.filters) for vector in vectors]
            ctx.lists[space] = combmax([ctx.lists.get(space, []), *found])
        if Signal.LEXICAL in active:
            original = ctx.lists.get(Signal.LEXICAL, [])
            top = original[0][1] if original else 1.0
            found = []
            for text in rewrites:
                ranked = ctx.rows.text_search(text, depth, query.filters)
                if ranked and ranked[0][1] > 0:
                    found.append([(i, s * top / ranked[0][1]) for i, s in ranked])
            merged = combmax([original, *found])
            if merged:
                ctx.lists[Signal.LEXICAL] = merged
        ctx.state[self.name + ".queries"] = texts
