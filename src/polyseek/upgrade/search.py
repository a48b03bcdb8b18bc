"""Searching a space while it is being backfilled: each item scored once, natively or through the projection.

The space's list from the pipeline's ``retrieve`` stage compares the projected query with old vectors. This
policy adds the native list (the new model's query against ``S__next``), then keeps, for every item, the score of
exactly one pair of the same space: native where the item holds a new vector, projected (mapped onto the native
scale by the calibration fitted with the projection) where it does not. A vector of one space is never compared
with a vector of the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polyseek.encoders.base import normalize
from polyseek.search.context import SearchContext
from polyseek.search.pipeline import query_texts
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal
from polyseek.upgrade import state as st


def native_query_vector(ctx: SearchContext, encoder: Any, space: str) -> np.ndarray | None:
    """The query in the new model's own space: its text parts (rewritten as the pipeline did) and, for the image
    space, its images, weighted like the pipeline's composed query."""
    query = ctx.query
    texts = [p for p in query.parts if p.text]
    total = np.zeros(int(encoder.dim), dtype=np.float32)
    if texts:
        total += sum(p.weight * v for p, v in zip(texts, encoder.encode_queries(query_texts(ctx))))
    images = [p for p in query.parts if p.image is not None]
    if images and space == "image":
        total += sum(p.weight * v for p, v in zip(images, encoder.encode_images([p.image for p in images])))
    if np.linalg.norm(total) <= 1e-6:
        return None
    return normalize(total)[0]


def mix(native: list[tuple[str, float]], projected: list[tuple[str, float]], backfilled: set[str],
        scale: float = 1.0, shift: float = 0.0, depth: int | None = None) -> list[tuple[str, float]]:
    """One list: native hits as they are, projected hits only for items without a new vector (calibrated)."""
    seen = {i for i, _ in native}
    merged = list(native) + [(i, s * scale + shift) for i, s in projected if i not in backfilled and i not in seen]
    merged.sort(key=lambda pair: (-pair[1], pair[0]))
    return merged[:depth] if depth else merged


class UpgradePolicy(BasePolicy):
    """Adds the backfilled items' native scores to each space being upgraded (installed by ``upgrade.attach``)."""

    name = "upgrade"

    def __init__(self, engine) -> None:
        self.engine = engine

    def before_fusion(self, ctx: SearchContext) -> None:
        from polyseek.upgrade.core import new_encoder

        catalog = self.engine.catalog
        for space, value in st.states(catalog).items():
            signal = Signal(space)
            if query_spaces(ctx) and signal not in query_spaces(ctx):
                continue
            projection = st.get_projection(catalog, space)
            vector = native_query_vector(ctx, new_encoder(self.engine, value), space)
            if vector is None:
                continue
            depth = ctx.config.depth(ctx.query.k)
            native = ctx.rows.search(value.new_space, vector, depth, ctx.query.filters)
            projected = ctx.lists.get(signal, []) if value.phase == "backfill" else []
            ids = [i for i, _ in projected]
            backfilled = set(ctx.rows.get_vectors(value.new_space, ids)) if ids else set()
            scale = projection.config.score_scale if projection is not None else 1.0
            shift = projection.config.score_shift if projection is not None else 0.0
            merged = mix(native, projected, backfilled, scale, shift, depth)
            ctx.state[self.name] = {**ctx.state.get(self.name, {}), space: {
                "native": len(native), "projected": sum(1 for i, _ in projected if i not in backfilled)}}
            if merged:
                ctx.lists[signal] = merged
            else:
                ctx.lists.pop(signal, None)


def query_spaces(ctx: SearchContext) -> set[Signal]:
    return {Signal(s) for s in (ctx.query.spaces or ())}
