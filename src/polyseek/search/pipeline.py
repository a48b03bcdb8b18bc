"""One search, as named stages in order: embed the query → retrieve per signal → fuse → rerank → hits.

Ranking rules that are not generic (how PDF pages rank, how moments merge, how concepts join a query) are
policies (``polyseek.search.policies``) whose hooks run at fixed points between these stages:

    load-encoders → embed-images → policies.prepare → embed-text → retrieve → policies.before_fusion → fuse
    → policies.after_fusion → rerank → hits → policies.finish

Each stage's time is recorded in ``SearchContext.timings`` (milliseconds), so ``--timings`` can show where a
query spends it. To add a rule, write a policy (one file under ``policies/``) and pass it to the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from polyseek.encoders.base import normalize
from polyseek.search.aggregate import Aggregated, rerank_results
from polyseek.search.config import SearchConfig
from polyseek.search.context import QueryEncoders, SearchContext
from polyseek.search.fusion import FUSERS
from polyseek.search.policies.base import Policy
from polyseek.search.rerank import first_stage_confident, load_reranker
from polyseek.search.rows import RowCache
from polyseek.stores.base import Store
from polyseek.types import Hit, Query, Signal


def load_encoders(ctx: SearchContext) -> None:
    """The query's encoders, loaded on first use (a cold process pays for it here, not in the embed stages)."""
    ctx.encoders.encoder(Signal.IMAGE)
    if ctx.query.has_text and not ctx.encoders.shares_text_side():
        ctx.encoders.encoder(Signal.TEXT)


def embed_images(ctx: SearchContext) -> None:
    """The query's images in the image space (policies may look at them before the text is encoded)."""
    images = [p.image for p in ctx.query.parts if p.image is not None]
    if images:
        ctx.image_vectors = ctx.encoders.encoder(Signal.IMAGE).encode_images(images)


def query_texts(ctx: SearchContext) -> list[str]:
    """The query's text parts as the encoders read them: policies' rewrites applied, the instruction in front."""
    prefix = f"{ctx.query.instruction.strip()} " if ctx.query.instruction else ""
    out = []
    for part in ctx.query.parts:
        if part.text:
            text = part.text
            for rewrite in ctx.text_rewrites:
                text = rewrite(text)
            out.append(prefix + text)
    return out


def embed_text(ctx: SearchContext) -> None:
    """One vector per dense space: the weighted sum of the parts' embeddings (composed retrieval)."""
    query = ctx.query
    if Signal.LEXICAL in (query.spaces or Signal) and query.text:  # BM25 runs meanwhile, on the store's threads
        ctx.rows.text_search_soon(query.text, ctx.config.depth(query.k), query.filters)
    image_encoder = ctx.encoders.encoder(Signal.IMAGE)
    texts = [p for p in query.parts if p.text]
    images = [p for p in query.parts if p.image is not None]
    text_queries = query_texts(ctx)
    total = np.zeros(image_encoder.dim, dtype=np.float32)
    shared = None
    if texts:
        encoded = image_encoder.encode_queries(text_queries)
        if ctx.encoders.shares_text_side():  # the aligner's text side is the text encoder: encode once
            shared = encoded
        total += sum(p.weight * v for p, v in zip(texts, encoded))
    if images and ctx.image_vectors is not None:
        total += sum(p.weight * v for p, v in zip(images, ctx.image_vectors))
    text_total = None
    if texts:
        encoded = shared if shared is not None else ctx.encoders.encoder(Signal.TEXT).encode_queries(text_queries)
        text_total = sum(p.weight * v for p, v in zip(texts, encoded))
    for space, combined in ((Signal.IMAGE, total), (Signal.TEXT, text_total)):
        if combined is not None and np.linalg.norm(combined) > 1e-6:
            ctx.base_vectors[space] = normalize(combined)[0]
        addition = ctx.additions.get(space)
        if addition is not None and (combined is None or addition.shape == combined.shape):
            combined = addition if combined is None else combined + addition
        if combined is not None and np.linalg.norm(combined) > 1e-6:
            ctx.vectors[space] = normalize(combined)[0]


def retrieve(ctx: SearchContext) -> None:
    """Candidates from each active signal: the dense spaces by vector, lexical by the query's text."""
    query = ctx.query
    active = set(query.spaces or Signal)
    depth = ctx.config.depth(query.k)
    dense = [(space, vector) for space, vector in ctx.vectors.items() if space in active]
    found = ctx.rows.search_many([(space.value, vector, depth, query.filters) for space, vector in dense])
    for plan in ctx.soon:  # the searches policies ask for next, started now (their spaces' scans are done)
        ctx.rows.search_soon(plan(ctx))
    for (space, _), ranked in zip(dense, found):
        ctx.lists[space] = ctx.rescore(space, ranked)
    if Signal.LEXICAL in active and query.text:
        ctx.lists[Signal.LEXICAL] = ctx.rows.text_search(query.text, depth, query.filters)
    ctx.lists = {s: ranked for s, ranked in ctx.lists.items() if ranked}


def fuse(ctx: SearchContext) -> None:
    """One ranking from the per-signal lists (``SearchConfig.fusion``); one signal keeps its own scores.

    Fusion divides an item's score by the weight of the signals it could have been found by: an item with no
    text is not penalised for missing from the text lists, but an item that holds text and was found by the
    image space alone (a passage ranked low by text) is normalised like any text item.
    """
    lists = ctx.lists
    if not lists:
        return
    has_text = {i for s in (Signal.TEXT, Signal.LEXICAL) for i, _ in lists.get(s, [])}
    if Signal.IMAGE in lists and len(lists) > 1:
        unseen = [i for i, _ in lists[Signal.IMAGE] if i not in has_text]
        if unseen:
            has_text |= {row.id for row in ctx.rows.get(unseen) if row.text.strip()}

    def eligible(item_id: str, signal: str) -> bool:
        # a Signal is its str (same hash, equal): no Signal(signal) per call (~1 us, ~400 calls a query)
        if item_id in ctx.ineligible.get(signal, ()):  # type: ignore[call-overload]
            return False
        return signal == Signal.IMAGE or item_id in has_text

    if len(lists) == 1:  # one signal: keep its own scores, they are meaningful to users
        ctx.fused = list(next(iter(lists.values())))
    else:
        ctx.fused = FUSERS[ctx.fusion or ctx.config.fusion](lists, ctx.weights, eligible)
    if ctx.excluded:
        ctx.fused = [(i, s) for i, s in ctx.fused if i not in ctx.excluded]


def rerank(ctx: SearchContext) -> None:
    """Results from the fused head (pooled by a policy, or one per item); reranked on request or when a policy
    wants it. A reranked result takes the score of the slot it moves into, so scores never rise down the list."""
    query = ctx.query
    if ctx.results is None:
        wanted = max(query.k, ctx.config.rerank_depth if query.rerank else 0)
        items = {row.id: row.to_item() for row in ctx.rows.get([i for i, _ in ctx.fused[:wanted]])}
        ctx.results = [Aggregated(item=items[i], score=s, members=(i,)) for i, s in ctx.fused[:wanted] if i in items]
    ctx.slot_scores = [r.score for r in ctx.results]
    # the document rerank a policy asked for (not the user) is skipped when the first stage is confident
    confident = query.rerank is None and first_stage_confident(ctx.slot_scores[:2], ctx.config.rerank_skip_gap)
    if (query.rerank or ctx.rerank_wanted) and query.text and not confident:
        reranker = load_reranker(ctx.config.reranker, ctx.config.rerank_window)
        ctx.results, ctx.rerank_scores = rerank_results(ctx.rerank_text or query.text, ctx.results, reranker, depth=ctx.config.rerank_depth,
                                                         pinned=ctx.pinned, led=ctx.led)


def to_hits(ctx: SearchContext) -> None:
    """The first k results as :class:`Hit`, with each signal's score, the fused score and the rerank score."""
    per_signal = ctx.per_signal()
    for position, result in enumerate((ctx.results or [])[: ctx.query.k]):
        item_id = result.item.id
        scores = {str(s): float(values[item_id]) for s, values in per_signal.items() if item_id in values}
        scores["fused"] = float(result.score)
        if result.region_score is not None:
            scores["region"] = float(result.region_score)
        if item_id in ctx.rerank_scores:
            scores["rerank"] = ctx.rerank_scores[item_id]
        best_region = result.best_region if result.best_region is not None and result.best_region.id != item_id else None
        ctx.hits.append(Hit(item=result.item, score=float(ctx.slot_scores[position]), scores=scores,
                            best_region=best_region))


Stage = Callable[[SearchContext], None]


class SearchPipeline:
    """Runs the stages in order with the policies' hooks between them.

    >>> pipeline = SearchPipeline(store, encoders, policies=[DocumentsPolicy(), MomentsPolicy()])  # doctest: +SKIP
    >>> pipeline.run(query, SearchConfig()).hits                                                     # doctest: +SKIP
    """

    def __init__(self, store: Store, encoders: QueryEncoders, policies: Sequence[Policy] = ()) -> None:
        self.store = store
        self.encoders = encoders
        self.policies = list(policies)

    def stages(self) -> list[tuple[str, Stage]]:
        """The named steps of a search, the policies' hooks included, in the order they run."""
        def hook(name: str) -> list[tuple[str, Stage]]:
            return [(f"{p.name}.{name}", getattr(p, name)) for p in self.policies]

        return [("load-encoders", load_encoders), ("embed-images", embed_images), *hook("prepare"), ("embed-text", embed_text),
                ("retrieve", retrieve), *hook("before_fusion"), ("fuse", fuse), *hook("after_fusion"),
                ("rerank", rerank), ("hits", to_hits), *hook("finish")]

    def run(self, query: Query, config: SearchConfig) -> SearchContext:
        ctx = SearchContext(query=query, config=config, rows=RowCache(self.store), encoders=self.encoders)
        for name, stage in self.stages():
            started = time.perf_counter()
            stage(ctx)
            ctx.timings[name] = (time.perf_counter() - started) * 1000
            if name == "retrieve" and not ctx.lists:
                break
        return ctx
