"""How kinds of item compete in one space: each kind's candidates are retrieved and scored against its own kind.

Without this, one index of photos, PDFs, recordings and notes ranks kinds, not matches (an image query
returned a voice memo and PDF pages before similar photos). For every dense space with more than one kind
of item, this policy makes sure each kind has its own top candidates in the list (so no kind can crowd the
others out), standardises each kind's scores against its own background (:mod:`polyseek.search.calibration`)
and has the signals fused by that evidence (``fusion.evidence``) instead of by rank: the best photo for a
question about a PDF page then counts only as far as it truly stands out. An index of one kind is left exactly
as it was. A query restricted by ``--modality`` to one kind is too.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from polyseek.search.calibration import GROUP_OF, GROUPS, ModalityBackgrounds, standardise
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS, Signal


class CalibrationPolicy(BasePolicy):
    name = "calibration"

    def __init__(self, backgrounds: ModalityBackgrounds) -> None:
        self.backgrounds = backgrounds

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
        for space in DENSE_SIGNALS:
            vector = ctx.vectors.get(space)
            if vector is None or space not in ctx.lists:
                continue
            backgrounds = self.backgrounds.get(space.value, len(vector))
            kinds = [g for g in backgrounds if not wanted or wanted & {m.value for m in GROUPS[g]}]
            if len(kinds) < 2:
                continue  # one kind in play in this space: raw scores compare like with like
            per_kind: dict[str, list[tuple[str, float]]] = {g: [] for g in kinds} | by_kind(ctx, space)
            for group in kinds:
                if len(per_kind[group]) < depth:  # crowded out of the shared list: fetch this kind's own top
                    modalities = tuple(m for m in GROUPS[group] if not wanted or m.value in wanted)
                    own = ctx.rows.search(space.value, vector, depth, replace(query.filters, modalities=modalities))
                    per_kind[group] = ctx.rescore(space, own)
            merged, _ = standardise(per_kind, backgrounds, partial(ctx.score, space))
            standardised[space] = merged[: depth * 2]
        if not standardised:
            return
        # several kinds compete: every dense list becomes evidence in the same unit, and fusion weighs evidence
        for space in DENSE_SIGNALS:
            if space in ctx.lists and space not in standardised:
                standardised[space] = self._own_kind(ctx, space)
        ctx.lists.update({s: ranked for s, ranked in standardised.items() if ranked})
        ctx.fusion = "evidence"

    def _own_kind(self, ctx: SearchContext, space: Signal) -> list[tuple[str, float]]:
        """A space that holds one kind here, standardised against that kind's background."""
        vector = ctx.vectors[space]
        per_kind = by_kind(ctx, space)
        backgrounds = {g: b for g in per_kind if g in GROUPS
                       and (b := self.backgrounds.group(space.value, len(vector), g)) is not None}
        merged, _ = standardise(per_kind, backgrounds, partial(ctx.score, space))
        return merged


def by_kind(ctx: SearchContext, space: Signal) -> dict[str, list[tuple[str, float]]]:
    """A space's candidates split by kind of item (``calibration.GROUPS``), each list in its original order."""
    rows = ctx.rows.by_id([i for i, _ in ctx.lists[space]])
    out: dict[str, list[tuple[str, float]]] = {}
    for item_id, score in ctx.lists[space]:
        group = GROUP_OF.get(rows[item_id].modality, "other") if item_id in rows else "other"
        out.setdefault(group, []).append((item_id, score))
    return out
