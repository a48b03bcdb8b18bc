"""Recommendation protocol: what a person liked (examples or a history) → scores over a pool of items.

A method sees a :class:`Profile` (the example or history items with their stored vectors, weighted) and a
:class:`Pool` (candidate items with their vectors by space) and returns one score per pool item. The facade
(:func:`polyseek.recommend.recommend`) builds both from the store and turns scores into hits; the evaluation
builds the pool from every item of a catalogue, so both run the same scoring code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.registry import Registry

SPACES = ("image", "text")


@dataclass(frozen=True)
class Example:
    """An item someone liked (``weight`` > 0) or disliked (given as a negative example)."""

    item: str  # an item id, an indexed file, ``CATALOGUE#RECORD`` or an image file to encode
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.item, str) or not self.item.strip():
            raise InvalidInputError("an example needs an item id or a file path")
        if not math.isfinite(self.weight) or self.weight <= 0:
            raise InvalidInputError(f"example weight must be a positive number, got {self.weight!r}",
                                    hint="give a dislike as a negative example, not a negative weight")


@dataclass(frozen=True)
class Interaction:
    """One event of a history: an item, when (POSIX seconds), and an optional rating."""

    item: str
    timestamp: float = 0.0
    rating: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.item, str) or not self.item.strip():
            raise InvalidInputError("a history entry needs an item id")
        if not math.isfinite(float(self.timestamp)):
            raise InvalidInputError(f"history timestamp must be a finite number, got {self.timestamp!r}")
        if self.rating is not None and not math.isfinite(float(self.rating)):
            raise InvalidInputError(f"history rating must be a finite number, got {self.rating!r}")


@dataclass(frozen=True)
class ProfileItem:
    """An example or history item resolved to its stored vectors; ``weight`` < 0 pushes away."""

    id: str | None  # None for a file that is not in the index (encoded on the fly)
    weight: float
    vectors: Mapping[str, np.ndarray]
    timestamp: float = 0.0
    rating: float | None = None


@dataclass(frozen=True)
class Profile:
    """What a method recommends from: weighted items, oldest first for a history."""

    items: tuple[ProfileItem, ...]
    from_history: bool = False

    @property
    def positives(self) -> tuple[ProfileItem, ...]:
        return tuple(p for p in self.items if p.weight > 0)

    @property
    def negatives(self) -> tuple[ProfileItem, ...]:
        return tuple(p for p in self.items if p.weight < 0)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.items if p.id is not None]


@dataclass(frozen=True)
class Pool:
    """Candidate items: ids and, per space, a unit-vector matrix with a mask of the rows that have a vector."""

    ids: tuple[str, ...]
    vectors: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray] = field(default_factory=dict)
    # rows whose image vector encodes a picture (None: every image vector does); a text item's image-space vector
    # comes from its text through the image-text encoder, which a picture-reading method must not take for one
    picture: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_vectors(cls, ids: Sequence[str], by_space: Mapping[str, Mapping[str, np.ndarray]],
                     dims: Mapping[str, int]) -> Pool:
        """Stack ``{space: {id: vector}}`` into matrices in ``ids`` order (missing vectors are zero rows)."""
        vectors, present = {}, {}
        for space, dim in dims.items():
            found = by_space.get(space, {})
            matrix = np.zeros((len(ids), dim), dtype=np.float32)
            mask = np.zeros(len(ids), dtype=bool)
            for row, item in enumerate(ids):
                vector = found.get(item)
                if vector is not None:
                    matrix[row] = unit(vector)
                    mask[row] = True
            vectors[space], present[space] = matrix, mask
        return cls(tuple(ids), vectors, present)

    def subset(self, rows: np.ndarray) -> Pool:
        return Pool(tuple(self.ids[i] for i in rows), {s: m[rows] for s, m in self.vectors.items()},
                    {s: m[rows] for s, m in self.present.items()}, None if self.picture is None else self.picture[rows])

    def pictured(self) -> Mapping[str, np.ndarray]:
        """``present`` with the image space restricted to the rows that hold a picture."""
        if self.picture is None or "image" not in self.present:
            return self.present
        return {**self.present, "image": self.present["image"] & self.picture}


class Recommender(Protocol):
    """Scores every pool item for a profile; higher is better. ``-inf`` marks an item it cannot rank."""

    name: str

    def score(self, profile: Profile, pool: Pool) -> np.ndarray: ...


recommenders: Registry[Recommender] = Registry(
    "recommender",
    lazy={
        "average_vector": "polyseek.recommend.examples",
        "best_score": "polyseek.recommend.examples",
        "multimodal": "polyseek.recommend.examples",
        "history": "polyseek.recommend.history",
        "sequential": "polyseek.recommend.sequential",
        "content_cf": "polyseek.recommend.content_cf",
    },
)


def unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


def profile_matrix(items: Sequence[ProfileItem], space: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of ``items`` in ``space`` (rows without a vector dropped) and their weights."""
    rows = [(unit(p.vectors[space]), p.weight) for p in items if space in p.vectors]
    if not rows:
        return np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.float32)
    return np.stack([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=np.float32)


def zscore(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Standardise over the items that have a score (bge cosines sit high; spaces differ in spread)."""
    values = scores if mask is None else scores[mask]
    if values.size < 2:
        return np.zeros_like(scores)
    spread = float(values.std())
    out = (scores - float(values.mean())) / (spread if spread > 1e-9 else 1.0)
    if mask is not None:
        out = np.where(mask, out, 0.0)
    return out.astype(np.float32)


def options_of(method: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the options a method's constructor accepts; refuse unknown ones with the list of accepted ones."""
    import inspect

    accepted = set(inspect.signature(method).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise InvalidInputError(f"unknown option(s) {unknown} for this recommender",
                                hint="accepted: " + (", ".join(sorted(accepted)) or "none"))
    return dict(options)
