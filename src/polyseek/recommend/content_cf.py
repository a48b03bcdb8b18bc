"""Content → collaborative map for items nobody has interacted with yet (the CB2CF / DropoutNet idea).

A collaborative space is learnt from who interacted with what: the truncated SVD of the users x items log with
each item column scaled to unit length, so that ``E @ E.T`` is a low-rank item-kNN cosine matrix. A ridge
regression from an item's content vectors (its picture's image vector and its text's vector, each optionally
weighted) to its row of ``E`` is fitted on the items that have interactions ("warm" items) only; an item without
any interaction then gets a predicted collaborative vector and is scored against a person's history in that
space. Which content goes in (picture, text or both) is the only difference between the variants compared by
``polyseek eval recommend``'s cold-item protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.recommend.base import Pool, Profile, recommenders, unit

DENSE_MAX = 20_000_000  # users x items cells up to which the log is made dense for an exact SVD


def collaborative_space(matrix: Any, dim: int) -> np.ndarray:
    """Item embeddings (items x ``dim``) of a users x items 0/1 matrix (dense, or scipy sparse for large logs);
    items with no interaction get zeros."""
    if hasattr(matrix, "tocsc") and np.prod(matrix.shape) <= DENSE_MAX:
        matrix = matrix.toarray()
    if hasattr(matrix, "tocsc"):  # a large sparse log: a truncated SVD (ARPACK) instead of the full one
        from scipy.sparse.linalg import svds

        counts = np.asarray(matrix.sum(0)).ravel().astype(np.float64)
        if matrix.shape[0] < 2 or matrix.shape[1] < 2:
            raise InvalidInputError("the interaction matrix must have at least two users and two items")
        scaled = matrix.astype(np.float64).multiply(1.0 / np.sqrt(np.maximum(counts, 1.0))).tocsc()
        k = max(1, min(dim, min(matrix.shape) - 1))
        _, values, rows = svds(scaled, k=k, random_state=0)
        order = np.argsort(-values)
        values, rows = values[order], rows[order]
    else:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or not matrix.size:
            raise InvalidInputError("the interaction matrix must be a non-empty users x items array")
        counts = matrix.sum(0)
        scaled = matrix / np.sqrt(np.maximum(counts, 1.0))
        _, values, rows = np.linalg.svd(scaled, full_matrices=False)
    dim = max(1, min(dim, len(values)))
    embeddings = rows[:dim].T * values[:dim]
    embeddings[counts == 0] = 0.0  # exactly zero, not rounding noise: such an item has no collaborative evidence
    return embeddings.astype(np.float32)


def content_features(pool: Pool, weights: Mapping[str, float]) -> np.ndarray:
    """Each item's content vectors side by side (a missing vector or a weight of 0 leaves out that space)."""
    blocks = [pool.vectors[space] * float(weight) * pool.present[space][:, None]
              for space, weight in weights.items() if weight and space in pool.vectors]
    if not blocks:
        raise InvalidInputError("content features need at least one space with a weight", hint="spaces: image, text")
    return np.hstack(blocks).astype(np.float32)


@dataclass(frozen=True)
class ContentToCF:
    """A fitted linear map from content features to collaborative vectors."""

    mean: np.ndarray  # feature mean over the training items
    weights: np.ndarray  # features x dim
    offset: np.ndarray  # dim: target mean over the training items

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, train: np.ndarray, ridge: float) -> ContentToCF:
        """Ridge regression on the rows ``train`` (a mask: items with interactions) of features → targets."""
        train = np.asarray(train, dtype=bool)
        if train.sum() < 2:
            raise InvalidInputError("a content → collaborative map needs at least two items with interactions")
        x = np.asarray(features[train], dtype=np.float64)
        y = np.asarray(targets[train], dtype=np.float64)
        mean, offset = x.mean(0), y.mean(0)
        x, y = x - mean, y - offset
        if x.shape[1] <= x.shape[0]:  # primal: (X'X + λI)^-1 X'Y
            weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
        else:  # dual: X'(XX' + λI)^-1 Y, cheaper with fewer items than features
            weights = x.T @ np.linalg.solve(x @ x.T + ridge * np.eye(x.shape[0]), y)
        return cls(mean.astype(np.float32), weights.astype(np.float32), offset.astype(np.float32))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float32) - self.mean) @ self.weights + self.offset).astype(np.float32)


def history_vector(embeddings: np.ndarray, rows: list[int], half_life: float) -> np.ndarray:
    """A history's point in the collaborative space: its items' vectors, halving every ``half_life`` events back
    (``rows`` oldest first)."""
    total = np.zeros(embeddings.shape[1], dtype=np.float32)
    for back, row in enumerate(reversed(rows)):
        total += (0.5 ** (back / max(half_life, 1e-6))) * embeddings[row]
    return total


# ---- the shipped model: saved by ``train-recommender``, scores items nobody has interacted with --------------
CF_FILE = "content_cf.npz"
# the content → cf multimodal setting chosen on the dev targets of ``polyseek eval recommend``'s cold-item protocol
# (all-unrated candidates, hold-out seed 0): SVD width, ridge, history half-life (events), image weight (text 1)
TUNED_CF = {"dim": 256, "ridge": 0.1, "half_life": 1.0, "image_weight": 0.5}


def _weights(image_weight: float) -> dict[str, float]:
    return {"image": float(image_weight), "text": 1.0}


@dataclass(frozen=True)
class CollaborativeModel:
    """Collaborative vectors of the training items and the content → cf map that places any other item.

    An item with interactions in the training log keeps its learned vector (its row of the SVD space); an item
    without any (in the catalogue but never seen, or added to the index after training) is placed from its
    picture and text by the map. A person's history is the recency-weighted sum of its items' vectors.
    """

    item_ids: tuple[str, ...]
    vectors: np.ndarray  # items x dim: learned (items with interactions) or predicted from content
    warm: np.ndarray  # mask: items with interactions in the training log
    map: ContentToCF
    dims: Mapping[str, int]  # content vector widths per space, as indexed
    image_weight: float = TUNED_CF["image_weight"]
    half_life: float = TUNED_CF["half_life"]

    @classmethod
    def fit(cls, pool: Pool, matrix: Any, *, dim: float = TUNED_CF["dim"], ridge: float = TUNED_CF["ridge"],
            half_life: float = TUNED_CF["half_life"], image_weight: float = TUNED_CF["image_weight"]) -> CollaborativeModel:
        """``matrix``: users x ``pool`` items (0/1) of the training log, dense or scipy sparse."""
        if not hasattr(matrix, "tocsc"):
            matrix = np.asarray(matrix, dtype=np.float32)
        if len(matrix.shape) != 2 or matrix.shape[1] != len(pool):
            raise InvalidInputError("the interaction matrix needs one column per pool item")
        warm = np.asarray(matrix.sum(0)).ravel() > 0
        space = collaborative_space(matrix, int(dim))
        dims = {s: int(m.shape[1]) for s, m in pool.vectors.items()}
        present = pool.pictured()
        blocks = []
        for name, weight in _weights(image_weight).items():
            if weight and name in dims:
                block = pool.vectors[name] * weight
                known = present[name] & warm
                # an item without this space (a record with no picture) gets the warm items' mean block: it then
                # adds nothing after centring, instead of a shift shared by every such item
                fill = block[known].mean(0) if known.any() else np.zeros(dims[name], np.float32)
                blocks.append(np.where(present[name][:, None], block, fill))
        if not blocks:
            raise InvalidInputError("content features need at least one space with a weight", hint="spaces: image, text")
        features = np.hstack(blocks).astype(np.float32)
        mapping = ContentToCF.fit(features, space, warm, ridge)
        vectors = np.where(warm[:, None], space, mapping.predict(features)).astype(np.float32)
        return cls(tuple(pool.ids), vectors, warm, mapping, dims, float(image_weight), float(half_life))

    def save(self, directory: Path) -> None:
        import json

        np.savez(Path(directory) / CF_FILE, item_ids=np.array(self.item_ids, dtype=str), vectors=self.vectors,
                 warm=self.warm, mean=self.map.mean, weights=self.map.weights, offset=self.map.offset,
                 settings=np.array(json.dumps({"dims": dict(self.dims), "image_weight": self.image_weight,
                                               "half_life": self.half_life})))

    @classmethod
    def load(cls, directory: Path) -> CollaborativeModel | None:
        """The saved model, or None for a model directory trained before content → cf was shipped."""
        import json

        path = Path(directory) / CF_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                settings = json.loads(str(saved["settings"]))
                return cls(tuple(str(i) for i in saved["item_ids"]), saved["vectors"], saved["warm"].astype(bool),
                           ContentToCF(saved["mean"], saved["weights"], saved["offset"]),
                           {str(k): int(v) for k, v in settings["dims"].items()}, float(settings["image_weight"]),
                           float(settings["half_life"]))
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"{path} is not a readable content → cf model ({exc})",
                                    hint="train it again with: polyseek train-recommender INTERACTIONS.csv") from None

    def predict(self, vectors: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray]) -> np.ndarray:
        """Collaborative vectors placed from content: per space a (n, dim) unit-vector matrix and a row mask."""
        n = len(next(iter(present.values()))) if present else 0
        blocks, start = [], 0
        for space, weight in _weights(self.image_weight).items():
            if not weight or space not in self.dims:
                continue
            matrix = vectors.get(space)
            if matrix is None:
                matrix, mask = np.zeros((n, self.dims[space]), np.float32), np.zeros(n, bool)
            else:
                mask = present[space]
            if matrix.shape[1] != self.dims[space]:
                raise InvalidInputError(f"the index's {space} vectors are {matrix.shape[1]}-d, the recommender was "
                                        f"trained on {self.dims[space]}-d ones",
                                        hint="train it again with: polyseek train-recommender INTERACTIONS.csv")
            fill = self.map.mean[start:start + self.dims[space]]  # a missing space adds nothing (see fit)
            blocks.append(np.where(mask[:, None], matrix * weight, fill))
            start += self.dims[space]
        return self.map.predict(np.hstack(blocks).astype(np.float32))

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {item: n for n, item in enumerate(self.item_ids)}

    def item_vectors(self, pool: Pool) -> np.ndarray:
        """Every pool item's collaborative vector: learned when it has interactions, else from its content."""
        row = self.row_of
        rows = np.array([row.get(item, -1) for item in pool.ids], dtype=np.int64)
        learned = (rows >= 0) & self.warm[np.maximum(rows, 0)] if len(self.warm) else np.zeros(len(pool), bool)
        out = np.zeros((len(pool), self.vectors.shape[1]), np.float32)
        out[learned] = self.vectors[rows[learned]]
        if (~learned).any():
            cold = np.flatnonzero(~learned)
            out[cold] = self.predict({s: m[cold] for s, m in pool.vectors.items()},
                                     {s: m[cold] for s, m in pool.pictured().items()})
        return out

    def profile_vector(self, profile: Profile, half_life: float | None = None, pool: Pool | None = None,
                       table: np.ndarray | None = None) -> np.ndarray:
        """A profile's point: its items' vectors, oldest first, halving every ``half_life`` items back; a negative
        example (weight < 0) counts against. An item of ``pool`` takes its row of ``table`` (its vector there)."""
        items = sorted(profile.items, key=lambda p: p.timestamp) if profile.from_history else list(profile.items)
        if not items:
            return np.zeros(self.vectors.shape[1], np.float32)
        ids = tuple(p.id or "" for p in items)
        where = pool_rows(pool) if pool is not None and table is not None else {}
        outside = [n for n, item in enumerate(ids) if item not in where]
        placed = np.zeros((len(items), self.vectors.shape[1]), np.float32)
        for n, item in enumerate(ids):
            if item in where:  # the pool's row: the pool knows which items hold a picture
                placed[n] = table[where[item]]  # type: ignore[index]
        if outside:
            vectors = {s: np.stack([unit(items[n].vectors[s]) if s in items[n].vectors else np.zeros(d, np.float32)
                                    for n in outside]) for s, d in self.dims.items()}
            present = {s: np.array([s in items[n].vectors for n in outside]) for s in self.dims}
            placed[outside] = self.item_vectors(Pool(tuple(ids[n] for n in outside), vectors, present))
        total = np.zeros(self.vectors.shape[1], np.float32)
        half_life = self.half_life if half_life is None else half_life
        for back, (entry, vector) in enumerate(zip(reversed(items), placed[::-1])):
            total += entry.weight * (0.5 ** (back / max(half_life, 1e-6))) * vector
        return total

    def score(self, profile: Profile, pool: Pool, table: np.ndarray | None = None,
              half_life: float | None = None) -> np.ndarray:
        """Each pool item's dot product with the profile's point (``table``: :meth:`item_vectors` of ``pool``)."""
        table = self.item_vectors(pool) if table is None else table
        return table @ self.profile_vector(profile, half_life, pool, table)


_loaded: dict[tuple[str, float], CollaborativeModel | None] = {}
_tables: dict[tuple[int, int, int], tuple[CollaborativeModel, Pool, np.ndarray]] = {}
_rows: dict[tuple[int, int], tuple[Pool, dict[str, int]]] = {}
_lock = threading.Lock()


def load_cached(directory: str | Path) -> CollaborativeModel | None:
    """:meth:`CollaborativeModel.load` once per process and model file (reloaded when it is retrained)."""
    path = Path(directory) / CF_FILE
    key = (str(path.absolute()), path.stat().st_mtime if path.is_file() else 0.0)
    with _lock:
        if key not in _loaded:
            _loaded.clear()
            _loaded[key] = CollaborativeModel.load(Path(directory))
        return _loaded[key]


def pool_rows(pool: Pool) -> dict[str, int]:
    """Row of each pool item id, kept while the pool object lives."""
    key = (id(pool), len(pool))
    with _lock:
        cached = _rows.get(key)
    if cached is not None and cached[0] is pool:  # the same object, not a new one at a reused address
        return cached[1]
    rows = {item: n for n, item in enumerate(pool.ids)}
    with _lock:
        if len(_rows) >= 4:
            _rows.clear()
        _rows[key] = (pool, rows)
    return rows


def item_table(model: CollaborativeModel, pool: Pool) -> np.ndarray:
    """:meth:`CollaborativeModel.item_vectors` of ``pool``, kept while the pool object lives (one per store version)."""
    key = (id(model), id(pool), len(pool))
    with _lock:
        cached = _tables.get(key)
    if cached is not None and cached[0] is model and cached[1] is pool:
        return cached[2]
    table = model.item_vectors(pool)
    with _lock:
        if len(_tables) >= 4:
            _tables.clear()
        _tables[key] = (model, pool, table)
    return table


@recommenders.register("content_cf")
class ContentCF:
    """Scores every item in the collaborative space of ``train-recommender``'s log: items nobody has interacted
    with (new catalogue items too) are placed there from their picture and text."""

    name = "content_cf"

    def __init__(self, model_dir: str | Path | None = None, model: CollaborativeModel | None = None,
                 half_life: float | None = None) -> None:
        if model is None:
            if model_dir is None:
                raise InvalidInputError("the content_cf recommender needs a trained model directory",
                                        hint="train one with: polyseek train-recommender INTERACTIONS.csv")
            model = load_cached(model_dir)
            if model is None:
                raise NotFoundError(f"no content → cf model in {model_dir}",
                                    hint="train one (again) with: polyseek train-recommender INTERACTIONS.csv")
        if half_life is not None and not (isinstance(half_life, (int, float)) and half_life > 0):
            raise InvalidInputError(f"half_life must be a positive number of events, got {half_life!r}")
        self.half_life = None if half_life is None else float(half_life)
        self.model = model

    @property
    def item_ids(self) -> list[str]:
        return list(self.model.item_ids)

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        return self.model.score(profile, pool, item_table(self.model, pool), self.half_life)
