"""Scores from different kinds of item made comparable: each kind's score is standardised against its own background.

In one image-text space, a query scores every kind of item on its own scale: a photo query meets other photos
at ~0.1–0.3 cosine, but transcripts and notes (embedded through the text side) and PDF page renders sit at
~0.3 for *any* photo; a text query meets notes at ~0.8 and photos at ~0.3. This is the modality bias the
MM-Embed paper describes: ranking raw scores across kinds ranks kinds, not matches.

The remedy here needs no labels: for a query vector ``q`` and a kind ``g``, the background is the
distribution of ``q · v`` over a sample of ``g``'s vectors (``ModalityBackgrounds``). An item's calibrated
score says how far it stands out from its own kind, mapped back onto the space's pooled scale so scores stay
cosine-like: ``μ_all + σ_all · (s − μ_g) / σ_g``. Within one kind the order never changes; across kinds a
memo that is as close to a photo as every memo is no longer ahead of a photo that truly matches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyseek.ingest.tiles import is_tile
from polyseek.stores.base import Row, Store
from polyseek.types import Filters, Modality

log = logging.getLogger(__name__)

# kinds of item that share a score scale in a space: documents (pages and their regions) and moments
# (keyframes, with transcripts) behave alike within their group
GROUPS: Mapping[str, tuple[Modality, ...]] = {
    "image": (Modality.IMAGE,),
    "document": (Modality.PAGE, Modality.REGION),
    "text": (Modality.TEXT,),
    "video": (Modality.VIDEO_MOMENT,),
    "audio": (Modality.AUDIO_SEGMENT,),
}
GROUP_OF = {m.value: g for g, members in GROUPS.items() for m in members}
SAMPLE_DIRECTIONS = 8  # random directions the background sample is drawn along
SAMPLE_PER_DIRECTION = 48  # items per direction and kind (up to 384 vectors per kind)
MIN_SAMPLE = 2  # a kind with fewer vectors has no background (its score is taken as it is)
PRIOR_COUNT = 8.0  # pseudo-items of the pooled background mixed into a kind's: a kind of 3 items is mostly pooled
REFRESH_GROWTH = 0.1  # the sample is redrawn once the store's size changed by this fraction
KEPT_AS = "calibration_backgrounds"  # the name a store keeps the samples under (stores/snapshot.py keep_derived)
# what the samples depend on besides the store's contents: kept samples drawn any other way are drawn again
RECIPE = f"seed 0, {SAMPLE_DIRECTIONS} directions x {SAMPLE_PER_DIRECTION}, min {MIN_SAMPLE}, format 1"


_REGION = Modality.REGION.value  # (an enum's ``.value`` is a property: ~1 µs, asked for every candidate of a query)


def kind_of(row: Row) -> str:
    """The kind a stored item competes as: its modality's group, except an image tile (a ``region`` of a photo),
    which belongs to its image's kind, not to the documents'."""
    modality = row.modality
    if modality == _REGION and is_tile(modality, row.locator, row.metadata):
        return "image"
    return GROUP_OF.get(modality, "other")


def kind_of_modality(modality: str) -> str | None:
    """The kind every stored item of this modality competes as, or None where the item decides (a region: a page's,
    or a photo's tile)."""
    return None if modality == _REGION else GROUP_OF.get(modality, "other")


Scorer = Callable[[np.ndarray], np.ndarray]  # scores of the rows of an (n, dim) matrix for one query


@dataclass(frozen=True)
class Background:
    """Sampled vectors of one kind in one space."""

    vectors: np.ndarray  # (n, dim)


class ModalityBackgrounds:
    """Per space, a sample of each kind's vectors, drawn from the store and kept until the store grows.

    Drawn along a few seeded random directions (the store's nearest neighbours of each, at both ends), so it
    works through the store protocol alone, on every backend. A store that keeps derived arrays per table version
    (``load_derived``/``keep_derived``: the snapshot store of a cold command) hands back the samples :meth:`keep`
    gave it for the same version, so the next cold command skips the draw (~0.25 s of CPU at 100k rows): the same
    vectors, so the same scores.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[int, Background | None]] = {}
        self._lock = threading.Lock()
        self._looked = False  # whether the store was asked for kept samples
        self._drew = False  # whether this instance drew samples the store has not kept

    def get(self, space: str, dim: int) -> dict[str, Background]:
        """The backgrounds of every kind present, or ``{}`` when the space holds one kind only."""
        present = {g: b for g in GROUPS if (b := self.group(space, dim, g)) is not None}
        return present if len(present) >= 2 else {}

    def group(self, space: str, dim: int, group: str) -> Background | None:
        """The background of one kind (``None`` when the store holds too few of it)."""
        if not self._looked:
            self._take_kept()
        count = self.store.count()
        cached = self._cache.get((space, group))
        if cached is not None and abs(count - cached[0]) <= REFRESH_GROWTH * max(cached[0], 1):
            return cached[1]
        with self._lock:
            background = self._draw(space, dim, group)
            self._cache[(space, group)] = (count, background)
            self._drew = True
            return background

    def _take_kept(self) -> None:
        """The samples the store kept for its current version, if it keeps any (read once)."""
        with self._lock:
            if self._looked:
                return
            self._looked = True
            load = getattr(self.store, "load_derived", None)
            arrays = load(KEPT_AS) if load is not None else None
            if not arrays or str(arrays.get("recipe")) != RECIPE or "drawn" not in arrays:
                return
            count = self.store.count()
            for position, key in enumerate(arrays["drawn"].tolist()):
                space, _, group = str(key).partition("/")
                vectors = arrays.get(f"v{position}")
                self._cache.setdefault((space, group), (count, None if vectors is None else Background(vectors)))

    def keep(self) -> bool:
        """Have the store keep the samples drawn so far for the next process that reads its current version (when
        it keeps derived arrays: see the class); True when it did."""
        keep = getattr(self.store, "keep_derived", None)
        with self._lock:
            if keep is None or not self._drew or not self._cache:
                return False
            entries = list(self._cache.items())
            arrays = {"recipe": np.array(RECIPE), "drawn": np.array([f"{space}/{group}" for (space, group), _ in entries])}
            arrays |= {f"v{position}": background.vectors for position, (_, (_, background)) in enumerate(entries)
                       if background is not None}
            kept = bool(keep(KEPT_AS, arrays))
            self._drew = not kept
            return kept

    def _draw(self, space: str, dim: int, group: str) -> Background | None:
        rng = np.random.default_rng(0)
        directions = rng.normal(size=(SAMPLE_DIRECTIONS, dim)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        members = Filters(modalities=GROUPS[group])
        if not self.store.search(space, directions[0], 1, members):
            return None
        ids: list[str] = []
        for direction in directions:
            for sign in (1.0, -1.0):  # both ends of a direction: the sample is not tilted towards it
                ids += [i for i, _ in self.store.search(space, sign * direction, SAMPLE_PER_DIRECTION // 2, members)]
        ids = list(dict.fromkeys(ids))
        if Modality.REGION in GROUPS[group]:  # image tiles are regions too, but not documents
            ids = [row.id for row in self.store.get(ids) if kind_of(row) == group]
        vectors = self.store.get_vectors(space, ids) if len(ids) >= MIN_SAMPLE else {}
        if len(vectors) < MIN_SAMPLE:
            return None
        return Background(np.stack([vectors[i] for i in ids if i in vectors]).astype(np.float32))


def keep_for_cold_searches(folder: str | Path) -> bool:
    """Draw the samples of a store folder's current version and have its snapshot store keep them, when its snapshots
    describe that version and nothing is kept for it yet (a writer calls it after ``optimize()``: the first cold search
    then skips the draw too). True when it kept them."""
    from polyseek.stores.snapshot import open_snapshot

    snapshot = open_snapshot(folder)
    if snapshot is None:
        return False
    try:
        backgrounds = ModalityBackgrounds(snapshot)
        for space, dim in snapshot.spaces.items():
            backgrounds.get(space, dim)  # what is kept already is taken, not drawn
        return backgrounds.keep()
    except Exception as exc:  # noqa: BLE001 - best effort: a cold search draws them itself
        log.debug("calibration samples not kept for %s: %s", folder, exc)
        return False
    finally:
        snapshot.close()


def standardise(groups: Mapping[str, Sequence[tuple[str, float]]], backgrounds: Mapping[str, Background],
                score: Scorer) -> tuple[list[tuple[str, float]], tuple[float, float]]:
    """Merge per-kind candidate lists into one of z-scores, each against its own kind's background.

    ``groups``: ``{kind: [(id, score)]}``; ``score`` scores a matrix of stored vectors the way the candidates were
    scored. A kind's mean and spread are shrunk towards the pooled background by ``PRIOR_COUNT`` pseudo-items,
    so a kind of three items gets no wild spread. Kinds without a background are standardised against the pool.
    Returns the merged list, best first, and the pooled background's (mean, spread).
    """
    sampled = {g: score(b.vectors) for g, b in backgrounds.items()}
    if not sampled:
        return sorted(((i, s) for ranked in groups.values() for i, s in ranked), key=lambda kv: (-kv[1], kv[0])), (0.0, 1.0)
    pooled = np.concatenate(list(sampled.values()))
    ref_mean, ref_var = float(pooled.mean()), float(pooled.var())
    stats: dict[str, tuple[float, float]] = {}
    for group, values in sampled.items():
        n = len(values)
        mean = (n * float(values.mean()) + PRIOR_COUNT * ref_mean) / (n + PRIOR_COUNT)
        var = (n * float(values.var()) + PRIOR_COUNT * ref_var) / (n + PRIOR_COUNT)
        stats[group] = (mean, var ** 0.5 or 1e-6)
    reference = (ref_mean, ref_var ** 0.5 or 1e-6)
    merged: dict[str, float] = {}
    for group, ranked in groups.items():
        mean, std = stats.get(group, reference)
        for item_id, value in ranked:
            merged[item_id] = max(merged.get(item_id, float("-inf")), (float(value) - mean) / std)
    return sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])), reference


def calibrate(groups: Mapping[str, Sequence[tuple[str, float]]], backgrounds: Mapping[str, Background],
              score: Scorer) -> list[tuple[str, float]]:
    """:func:`standardise`, mapped back onto the space's pooled scale so scores stay cosine-like.

    >>> rng = np.random.default_rng(1)
    >>> photos = Background(rng.normal(0.1, 0.05, size=(50, 1)).astype(np.float32))
    >>> memos = Background(rng.normal(0.3, 0.01, size=(50, 1)).astype(np.float32))
    >>> [i for i, _ in calibrate({"image": [("dog", 0.28)], "audio": [("memo", 0.31)]},
    ...                          {"image": photos, "audio": memos}, lambda m: m[:, 0])]
    ['dog', 'memo']
    """
    merged, (mean, std) = standardise(groups, backgrounds, score)
    return [(item_id, mean + std * z) for item_id, z in merged]
