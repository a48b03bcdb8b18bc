"""How kinds of item compete in one space: each kind's candidates are retrieved and scored against its own kind.

Without this, one index of photos, PDFs, recordings and notes ranks kinds, not matches (an image query
returned a voice memo and PDF pages before similar photos). For every dense space with more than one kind
of item, this policy makes sure each kind has its own top candidates in the list (so no kind can crowd the
others out), standardises each kind's scores against its own background (:mod:`polyseek.search.calibration`)
and has the signals fused by that evidence (``fusion.evidence``) instead of by rank: the best photo for a
question about a PDF page then counts only as far as it truly stands out. An index of one kind is left exactly
as it was. A query restricted by ``--modality`` to one kind is too.

Evidence decides between kinds, never within one (``keep_kind_order``): after fusion, each kind's items take
that kind's evidence scores in the order rank fusion gives them over the same lists, i.e. the order of a search
restricted to that kind. Fusing z-scores reorders pages against pages (a BM25 outlier outweighs two dense ranks);
on the MMLongBench-Doc questions of the universal pool that lost evidence pages that the page set's own search
finds (docs/universal.md).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from polyseek.search.calibration import GROUPS, ModalityBackgrounds, kind_of, kind_of_modality, standardise
from polyseek.search.context import SearchContext
from polyseek.search.fusion import rrf
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS, Filters, Query, Signal


class CalibrationPolicy(BasePolicy):
    name = "calibration"

    def __init__(self, backgrounds: ModalityBackgrounds, keep_kind_order: bool = True) -> None:
        self.backgrounds = backgrounds
        self.keep_kind_order = keep_kind_order

    def prepare(self, ctx: SearchContext) -> None:
        if ctx.config.calibrate and ctx.query.has_text:
            ctx.soon.append(self._own_searches)

    def _own_searches(self, ctx: SearchContext) -> list[tuple[str, np.ndarray, int, Filters]]:
        """Each kind's own search in every space that holds several kinds: what :meth:`before_fusion` asks for a kind
        crowded out of the shared list (on a mixed store, nearly every kind), started by retrieve as soon as the
        spaces are scanned. One it does not ask for is never read."""
        query = ctx.query
        depth = ctx.config.depth(query.k)
        wanted = {m.value for m in query.filters.modalities}
        out = []
        for space in DENSE_SIGNALS:
            vector = ctx.vectors.get(space)
            if vector is None:
                continue
            kinds = [g for g in self.backgrounds.get(space.value, len(vector)) if not wanted or wanted & {m.value for m in GROUPS[g]}]
            if len(kinds) >= 2:
                out += [_own_search(query, space, vector, group, depth, wanted) for group in kinds]
        return out

    def before_fusion(self, ctx: SearchContext) -> None:
        if not ctx.config.calibrate or not ctx.query.has_text:
            # a query by image alone compares pictures with pictures by raw similarity: standardised, the near-
            # identical page renders' small differences look exceptional (photo queries: 0.987 of the top 5
            # photos raw, 0.847 standardised, on the universal pool in the README)
            return
        query = ctx.query
        depth = ctx.config.depth(query.k)
        wanted = {m.value for m in query.filters.modalities}
        standardised: dict[Signal, list[tuple[str, float]]] = {}
        # the searches first, then the rows they need in one fetch per step (each fetch is a store round trip)
        plans: list[tuple[Signal, dict, dict[str, list[tuple[str, float]]], dict[str, list[tuple[str, float]]]]] = []
        requests: list[tuple[str, np.ndarray, int, Filters]] = []  # each kind's own search, both spaces, run together
        asked: list[tuple[dict[str, list[tuple[str, float]]], str]] = []
        for space in DENSE_SIGNALS:
            vector = ctx.vectors.get(space)
            if vector is None or space not in ctx.lists:
                continue
            backgrounds = self.backgrounds.get(space.value, len(vector))
            kinds = [g for g in backgrounds if not wanted or wanted & {m.value for m in GROUPS[g]}]
            if len(kinds) < 2:
                continue  # one kind in play in this space: raw scores compare like with like
            if not plans:  # both spaces' candidates, split by kind below
                ctx.rows.get([i for s in DENSE_SIGNALS for i, _ in ctx.lists.get(s, [])])
            per_kind: dict[str, list[tuple[str, float]]] = {g: [] for g in kinds} | by_kind(ctx, space)
            own: dict[str, list[tuple[str, float]]] = {}
            for group in kinds:
                if len(per_kind[group]) < depth:  # crowded out of the shared list: fetch this kind's own top
                    requests.append(_own_search(query, space, vector, group, depth, wanted))
                    asked.append((own, group))
            plans.append((space, backgrounds, per_kind, own))
        for (own, group), found in zip(asked, ctx.rows.search_many(requests)):  # side by side in a large store
            own[group] = found
        # a kind's own search holds that kind alone, except documents: a photo's tiles are regions too. Only those rows
        # are read here; of the others, only the ones kept (each space's first depth x 2) are, below
        ctx.rows.get([i for *_, own in plans for group, found in own.items() if group in _SHARED for i, _ in found])
        for space, backgrounds, per_kind, own in plans:
            for group, found in own.items():
                ranked = ctx.rescore(space, found)
                if group in _SHARED:
                    rows = ctx.rows.by_id([i for i, _ in found])
                    ranked = [(i, s) for i, s in ranked if i in rows and kind_of(rows[i]) == group]
                per_kind[group] = ranked
            standardised[space], _ = standardise(per_kind, backgrounds, partial(ctx.score, space))
        ctx.rows.get([i for merged in standardised.values() for i, _ in merged[: depth * 2]])  # one read for all
        standardised = {space: _stored(ctx, merged, depth * 2) for space, merged in standardised.items()}
        if not standardised:
            return
        # several kinds compete: every dense list becomes evidence in the same unit, and fusion weighs evidence
        for space in DENSE_SIGNALS:
            if space in ctx.lists and space not in standardised:
                standardised[space] = self._own_kind(ctx, space)
        ctx.lists.update({s: ranked for s, ranked in standardised.items() if ranked})
        ctx.fusion = "evidence"
        ctx.state[self.name] = {"spaces": sorted(s.value for s in standardised)}

    def after_fusion(self, ctx: SearchContext) -> None:
        if self.keep_kind_order and ctx.fusion == "evidence" and self.name in ctx.state and ctx.fused:
            ctx.fused = kind_order(ctx)

    def _own_kind(self, ctx: SearchContext, space: Signal) -> list[tuple[str, float]]:
        """A space that holds one kind here, standardised against that kind's background."""
        vector = ctx.vectors[space]
        per_kind = by_kind(ctx, space)
        backgrounds = {g: b for g in per_kind if g in GROUPS
                       and (b := self.backgrounds.group(space.value, len(vector), g)) is not None}
        merged, _ = standardise(per_kind, backgrounds, partial(ctx.score, space))
        return merged


# kinds whose modalities another kind shares (regions: a document's, or a photo's tile): a search filtered to such a
# kind's modalities may find items of another kind
_SHARED = {g for g, members in GROUPS.items() if any(kind_of_modality(m.value) is None for m in members)}


def _own_search(query: Query, space: Signal, vector: np.ndarray, group: str, depth: int,
                wanted: set[str]) -> tuple[str, np.ndarray, int, Filters]:
    """The search for one kind's own top ``depth`` in a space (within the query's own filters)."""
    modalities = tuple(m for m in GROUPS[group] if not wanted or m.value in wanted)
    return space.value, vector, depth, replace(query.filters, modalities=modalities)


def _stored(ctx: SearchContext, merged: list[tuple[str, float]], keep: int) -> list[tuple[str, float]]:
    """The first ``keep`` of ``merged`` that the store holds (read now: the later stages read them all the same); a
    search may name a row that a write removed since."""
    while True:
        head = merged[:keep]
        rows = ctx.rows.by_id([i for i, _ in head])
        missing = {i for i, _ in head if i not in rows}
        if not missing:
            return head
        merged = [(i, s) for i, s in merged if i not in missing]


def by_kind(ctx: SearchContext, space: Signal) -> dict[str, list[tuple[str, float]]]:
    """A space's candidates split by kind of item (``calibration.GROUPS``), each list in its original order."""
    rows = ctx.rows.by_id([i for i, _ in ctx.lists[space]])
    out: dict[str, list[tuple[str, float]]] = {}
    for item_id, score in ctx.lists[space]:
        group = kind_of(rows[item_id]) if item_id in rows else "other"
        out.setdefault(group, []).append((item_id, score))
    return out


def kind_order(ctx: SearchContext) -> list[tuple[str, float]]:
    """The fused list with each kind's evidence scores handed out in that kind's rank-fusion order.

    Per kind, the signal lists are cut down to the kind's items (a standardised list keeps the raw order within a
    kind) and fused by rank as a search restricted to the kind would fuse them; the kind's scores, best first, go
    to its items in that order. Which kinds lead, and by how much, stays the evidence's.
    """
    rows = ctx.rows.by_id([i for i, _ in ctx.fused])
    kind = {i: kind_of(rows[i]) if i in rows else "other" for i, _ in ctx.fused}
    has_text = {i for s in (Signal.TEXT, Signal.LEXICAL) for i, _ in ctx.lists.get(s, [])}
    has_text |= {i for i, row in rows.items() if row.text.strip()}

    def eligible(item_id: str, signal: str) -> bool:  # as ``pipeline.fuse`` decides it
        if item_id in ctx.ineligible.get(signal, ()):  # type: ignore[call-overload]  # a Signal is its str
            return False
        return signal == Signal.IMAGE or item_id in has_text

    out: list[tuple[str, float, int]] = []
    for group in dict.fromkeys(kind.values()):
        members = [i for i, _ in ctx.fused if kind[i] == group]
        scores = sorted((s for i, s in ctx.fused if kind[i] == group), reverse=True)
        wanted = set(members)
        lists = {s: [(i, v) for i, v in ranked if i in wanted] for s, ranked in ctx.lists.items()}
        lists = {s: ranked for s, ranked in lists.items() if ranked}
        ranked = rrf(lists, ctx.weights, eligible) if len(lists) > 1 else next(iter(lists.values()), [])
        order = list(dict.fromkeys([i for i, _ in ranked if i in wanted] + members))
        out += [(item_id, score, position) for position, (item_id, score) in enumerate(zip(order, scores))]
    return [(i, s) for i, s, _ in sorted(out, key=lambda t: (-t[1], t[2], t[0]))]
