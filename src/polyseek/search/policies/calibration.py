"""How kinds of item compete in one space: each kind's candidates are retrieved and scored against its own kind.

Without this, one index of photos, PDFs, recordings and notes ranks kinds, not matches (an image query
returned a voice memo and PDF pages before similar photos). For every dense space with more than one kind
of item, this policy makes sure each kind has its own top candidates in the list (so no kind can crowd the
others out) and merges them by calibrated score (:mod:`polyseek.search.calibration`). An index of one kind
is left exactly as it was. A query restricted by ``--modality`` searches only those kinds.
"""

from __future__ import annotations

from dataclasses import replace

from polyseek.search.calibration import GROUP_OF, GROUPS, ModalityBackgrounds, calibrate
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS


class CalibrationPolicy(BasePolicy):
    name = "calibration"

    def __init__(self, backgrounds: ModalityBackgrounds) -> None:
        self.backgrounds = backgrounds

    def before_fusion(self, ctx: SearchContext) -> None:
        if not ctx.config.calibrate:
            return
        query = ctx.query
        depth = ctx.config.depth(query.k)
        wanted = {m.value for m in query.filters.modalities}
        for space in DENSE_SIGNALS:
            vector = ctx.vectors.get(space)
            if vector is None or space not in ctx.lists:
                continue
            backgrounds = self.backgrounds.get(space.value, len(vector))
            kinds = [g for g in backgrounds if not wanted or wanted & {m.value for m in GROUPS[g]}]
            if len(kinds) < 2:
                continue  # one kind in play: raw scores already compare like with like
            rows = ctx.rows.by_id([i for i, _ in ctx.lists[space]])
            per_kind: dict[str, list[tuple[str, float]]] = {g: [] for g in kinds}
            for item_id, score in ctx.lists[space]:
                group = GROUP_OF.get(rows[item_id].modality, "other") if item_id in rows else "other"
                per_kind.setdefault(group, []).append((item_id, score))
            for group in kinds:
                if len(per_kind[group]) < depth:  # crowded out of the shared list: fetch this kind's own top
                    modalities = tuple(m for m in GROUPS[group] if not wanted or m.value in wanted)
                    own = ctx.rows.search(space.value, vector, depth, replace(query.filters, modalities=modalities))
                    per_kind[group] = ctx.rescore(space, own)
            ctx.lists[space] = calibrate(per_kind, backgrounds, lambda m: ctx.score(space, m))[: depth * 2]
