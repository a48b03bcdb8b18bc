"""Searching a space while it is being backfilled: two models' scores made comparable per query, never crossed.

The space's list from the pipeline's ``retrieve`` stage holds the old scores (the space's query, e.g. the projected
new one or, for two aligners on one text encoder, the old model's own, against old vectors). This policy adds the
native list (the new model's query against ``S__next``). Every item is scored inside one space at a time: an item
without a new vector by its old score, a backfilled item (it still holds its old vector until the switch) by both.

The two scales differ per model and per query, so each query's scores are standardised on a *reference* sample of
backfilled items that hold both vectors (label-free: the query against a random sample of the index): ``z_old``,
``z_new``, and their correlation ``rho`` on that sample. A backfilled item gets
``(a·z_old + b·z_new) / sqrt(a² + b² + 2ab·rho)`` with ``b`` the fraction of items backfilled and ``a = 1 - b``
(unit variance again, so it stands beside ``z_old``): 0 % is the old model exactly, 100 % the new one exactly, and
in between a backfilled item has both models' evidence. Scores go back to cosine units (the two scales blended the
same way) for the later stages. Without a reference (fewer than :data:`MIN_REFERENCE` items hold both vectors) the
mix is the one the projection's fit calibrated (:func:`mix`).

``eval upgrade --space image`` (Lite0 → Lite2 aligner, 506 eval photos, half backfilled): raw scores R@10 0.668,
this mix 0.747 (old 0.735, new 0.731); see docs/upgrade.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyseek.encoders.base import normalize
from polyseek.search.context import SearchContext
from polyseek.search.pipeline import query_texts
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal, item_id
from polyseek.upgrade import state as st

REFERENCE = 256  # backfilled items (holding both vectors) that set each query's two score scales
MIN_REFERENCE = 8


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


@dataclass(frozen=True)
class Scales:
    """One query's score scales on the reference items: mean and spread of its old and new scores, their correlation."""

    old_mean: float
    old_std: float
    new_mean: float
    new_std: float
    rho: float

    @classmethod
    def fit(cls, old: np.ndarray, new: np.ndarray) -> Scales | None:
        old, new = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
        if len(old) < MIN_REFERENCE or old.std() < 1e-9 or new.std() < 1e-9:
            return None
        rho = float(np.corrcoef(old, new)[0, 1])
        return cls(float(old.mean()), float(old.std()), float(new.mean()), float(new.std()), rho if np.isfinite(rho) else 0.0)


def blend(old: dict[str, float], new: dict[str, float], scales: Scales, done: float,
          depth: int | None = None) -> list[tuple[str, float]]:
    """One list from each item's old score and, for backfilled items, its new one (see the module docstring).

    ``old``: old scores (every candidate without a new vector must have one); ``new``: new scores of backfilled
    items; ``done``: the fraction of the index backfilled (the new model's weight)."""
    b = min(max(float(done), 0.0), 1.0)
    a = 1.0 - b
    norm = float(np.sqrt(max(a * a + b * b + 2 * a * b * scales.rho, 1e-9)))
    mean = a * scales.old_mean + b * scales.new_mean  # back to cosine units, old scale at 0 %, new at 100 %
    std = a * scales.old_std + b * scales.new_std
    merged = []
    for i in set(old) | set(new):
        z_old = (old[i] - scales.old_mean) / scales.old_std if i in old else None
        if i in new:
            z_new = (new[i] - scales.new_mean) / scales.new_std
            z = z_new if z_old is None else (a * z_old + b * z_new) / norm
        elif z_old is not None:
            z = z_old
        else:
            continue
        merged.append((i, mean + std * float(z)))
    merged.sort(key=lambda pair: (-pair[1], pair[0]))
    return merged[:depth] if depth else merged


@dataclass(frozen=True)
class Reference:
    """Backfilled items holding both vectors, sampled at random (refreshed as the backfill grows)."""

    upgrade: tuple[str, float]  # (new space, started): one upgrade
    version: Any  # the catalog's version when counted
    files: int
    items: int  # items journaled as backfilled when counted
    sampled_at: int  # items journaled when the sample was drawn
    old: np.ndarray  # (n, dim) old vectors
    new: np.ndarray  # (n, dim) new vectors


class UpgradePolicy(BasePolicy):
    """Adds the backfilled items' native scores to each space being upgraded (installed by ``upgrade.attach``)."""

    name = "upgrade"

    def __init__(self, engine) -> None:
        self.engine = engine
        self._references: dict[str, Reference] = {}

    def reference(self, value: st.UpgradeState) -> Reference:
        """The space's reference sample: counted again when the catalog changed, drawn again when the backfilled
        items doubled (or the sample is not full yet and more exist)."""
        catalog = self.engine.catalog
        key = (value.new_space, float(value.started))
        version = catalog.files_version()
        cached = self._references.get(value.space)
        if cached is not None and cached.upgrade == key and cached.version == version:
            return cached
        files, items = st.done_count(catalog, value.space)
        if cached is not None and cached.upgrade == key and items < 2 * max(cached.sampled_at, 1) and (
                len(cached.old) >= REFERENCE or items == cached.sampled_at):
            fresh = Reference(key, version, files, items, cached.sampled_at, cached.old, cached.new)
        else:
            fresh = self._draw(value, key, version, files, items)
        self._references[value.space] = fresh
        return fresh

    def _draw(self, value: st.UpgradeState, key: tuple[str, float], version: Any, files: int, items: int) -> Reference:
        dim = int(value.dim)
        empty = np.zeros((0, dim), dtype=np.float32)
        done = st.done_files(self.engine.catalog, value.space) if items else {}
        keys = sorted(done)
        rng = np.random.default_rng(0)  # the same draw for the same journal
        ids: list[str] = []
        for position in rng.permutation(len(keys)):
            if len(ids) >= 2 * REFERENCE:
                break
            count = done[keys[position]]
            ids += [item_id(keys[position], i) for i in rng.permutation(count)[: max(1, REFERENCE // 8)]]
        store = self.engine.store
        new = store.get_vectors(value.new_space, ids) if ids else {}
        old = store.get_vectors(value.space, [i for i in ids if i in new]) if new else {}
        both = [i for i in ids if i in new and i in old][:REFERENCE]
        if not both:
            return Reference(key, version, files, items, items, empty, empty)
        return Reference(key, version, files, items, items, np.stack([old[i] for i in both]).astype(np.float32),
                         np.stack([new[i] for i in both]).astype(np.float32))

    def before_fusion(self, ctx: SearchContext) -> None:
        from polyseek.upgrade.core import new_encoder

        catalog = self.engine.catalog
        for space, value in st.states(catalog).items():
            signal = Signal(space)
            if query_spaces(ctx) and signal not in query_spaces(ctx):
                continue
            started = time.perf_counter()
            encoder = new_encoder(self.engine, value)
            vector: np.ndarray | None = None
            if shared_text_query(ctx, self.engine, space, encoder):  # two aligners on one text encoder: encoded once
                vector = ctx.base_vectors[signal]
            else:
                vector = native_query_vector(ctx, encoder, space)
            if vector is None:
                continue
            depth = ctx.config.depth(ctx.query.k)
            native = ctx.rows.search(value.new_space, vector, depth, ctx.query.filters)
            projected = ctx.lists.get(signal, []) if value.phase == "backfill" else []
            note: dict[str, Any] = {"native": len(native)}
            if projected and signal in ctx.vectors:
                merged = self._blend(ctx, signal, value, vector, native, projected, depth, note)
            else:
                merged = self._calibrated(ctx, space, value, native, projected, depth, note)
            note["ms"] = round(1000 * (time.perf_counter() - started), 2)
            ctx.state[self.name] = {**ctx.state.get(self.name, {}), space: note}
            if merged:
                ctx.lists[signal] = merged
            else:
                ctx.lists.pop(signal, None)

    def _blend(self, ctx: SearchContext, signal: Signal, value: st.UpgradeState, vector: np.ndarray,
               native: list[tuple[str, float]], projected: list[tuple[str, float]], depth: int,
               note: dict[str, Any]) -> list[tuple[str, float]]:
        reference = self.reference(value)
        scales = None
        if len(reference.old) >= MIN_REFERENCE:
            scales = Scales.fit(ctx.score(signal, reference.old), reference.new @ vector)
        if scales is None:
            return self._calibrated(ctx, value.space, value, native, projected, depth, note)
        old = dict(projected)
        new = dict(native)
        # backfilled items found by the old list get their new score, and native hits their old one (same space each)
        lacking_new = [i for i in old if i not in new]
        held = ctx.rows.get_vectors(value.new_space, lacking_new) if lacking_new else {}
        if held:
            ids = list(held)
            new.update(zip(ids, (np.stack([held[i] for i in ids]) @ vector).tolist()))
        lacking_old = [i for i in new if i not in old]
        kept = ctx.rows.get_vectors(value.space, lacking_old) if lacking_old else {}
        if kept:
            ids = list(kept)
            old.update(zip(ids, np.asarray(ctx.score(signal, np.stack([kept[i] for i in ids]))).tolist()))
        done = reference.items / max(value.total_items, 1)
        note.update(mode="blend", reference=len(reference.old), done=round(done, 4), rho=round(scales.rho, 3),
                    projected=sum(1 for i in old if i not in new))
        return blend(old, new, scales, done, depth)

    def _calibrated(self, ctx: SearchContext, space: str, value: st.UpgradeState, native: list[tuple[str, float]],
                    projected: list[tuple[str, float]], depth: int, note: dict[str, Any]) -> list[tuple[str, float]]:
        projection = st.get_projection(self.engine.catalog, space)
        ids = [i for i, _ in projected]
        backfilled = set(ctx.rows.get_vectors(value.new_space, ids)) if ids else set()
        scale = projection.config.score_scale if projection is not None else 1.0
        shift = projection.config.score_shift if projection is not None else 0.0
        note.update(mode="fit", projected=sum(1 for i in ids if i not in backfilled))
        return mix(native, projected, backfilled, scale, shift, depth)


def shared_text_query(ctx: SearchContext, engine, space: str, encoder: Any) -> bool:
    """Whether the new model's query is the one the pipeline already encoded: a text-only query in the image space
    of two image-text models whose text side is the same encoder (their text queries are that encoder's vectors)."""
    from polyseek.upgrade.core import _loaded, same_text_side

    return (space == "image" and Signal.IMAGE in ctx.base_vectors and all(p.image is None for p in ctx.query.parts)
            and same_text_side(_loaded(engine, space), encoder))


def query_spaces(ctx: SearchContext) -> set[Signal]:
    return {Signal(s) for s in (ctx.query.spaces or ())}
