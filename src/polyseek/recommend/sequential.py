"""The trained sequential recommender as a method: loads a model directory and scores a pool after a history."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.recommend import content_cf, sasrec
from polyseek.recommend.base import SPACES, Pool, Profile, recommenders, unit, zscore
from polyseek.recommend.content_cf import CollaborativeModel
from polyseek.recommend.cooccurrence import CoOccurrence
from polyseek.recommend.history import History

# the hybrid's weights chosen on the MovieLens dev targets (docs/recommend.md, `polyseek eval recommend`): the
# model's standardised scores + these x the standardised content profile, recency item-kNN, log-popularity and the
# content → cf score (``content_cf.py``: learned collaborative vectors, or predicted from content for new items)
TUNED_CONTENT = {"half_life": 3.0, "best_share": 0.3, "image_weight": 0.25, "negative_weight": 0.0}
TUNED_HYBRID = {"content_weight": 0.2, "knn_weight": 0.0, "popularity_weight": 0.1, "knn_half_life": 3.0,
                "cf_weight": 0.25}
_loaded: dict[tuple[str, float], tuple[Any, sasrec.TrainConfig, list[str], dict[str, Any], CoOccurrence | None]] = {}
_lock = threading.Lock()
_tables: dict[tuple[int, int, int, int], tuple[Pool, Any]] = {}  # (model, pool) -> item table


def features_of(pool: Pool, dims: dict[str, int]) -> np.ndarray:
    """The model's input per pool item: unit image vector and unit text vector side by side (zeros if absent)."""
    parts = [pool.vectors[s] if s in pool.vectors else np.zeros((len(pool), dims[s]), np.float32) for s in SPACES]
    return np.hstack(parts).astype(np.float32)


def load_cached(directory: str | Path):
    """Load a model directory once per process (reloaded when it is retrained)."""
    directory = Path(directory)
    config_file = directory / sasrec.CONFIG_FILE
    key = (str(directory.absolute()), config_file.stat().st_mtime if config_file.exists() else 0.0)
    with _lock:
        if key not in _loaded:
            _loaded.clear()
            _loaded[key] = (*sasrec.load(directory), CoOccurrence.load(directory))
        return _loaded[key]


@recommenders.register("sequential")
class Sequential:
    """SASRec-style transformer over the items' image and text vectors (``polyseek train-recommender``)."""

    name = "sequential"

    def __init__(self, model_dir: str | Path | None = None, model: Any = None, config: sasrec.TrainConfig | None = None,
                 item_ids: list[str] | None = None, dims: dict[str, int] | None = None,
                 content_weight: float = TUNED_HYBRID["content_weight"], knn_weight: float = TUNED_HYBRID["knn_weight"],
                 popularity_weight: float = TUNED_HYBRID["popularity_weight"],
                 knn_half_life: float = TUNED_HYBRID["knn_half_life"], content: dict[str, Any] | None = None,
                 cooccurrence: CoOccurrence | None = None, cf_weight: float = TUNED_HYBRID["cf_weight"],
                 collaborative: CollaborativeModel | None = None) -> None:
        if model is None:
            if model_dir is None:
                raise InvalidInputError("the sequential recommender needs a trained model directory",
                                        hint="train one with: polyseek train-recommender INTERACTIONS.csv")
            model, config, item_ids, info, cooccurrence = load_cached(model_dir)
            dims = info["dims"]
            collaborative = content_cf.load_cached(model_dir)
        self.model, self.config = model, config or sasrec.TrainConfig()
        self.item_ids = list(item_ids or [])
        self.number = {item: i + 1 for i, item in enumerate(self.item_ids)}
        self.dims = dict(dims or {})
        # the hybrid (standardised scores): the content profile helps items the model saw rarely; co-occurrence
        # (saved by train-recommender) and popularity need the training log, and are skipped without it
        self.content_weight = float(content_weight)
        self.content = History(**(content or TUNED_CONTENT)) if self.content_weight else None
        self.cooccurrence = cooccurrence
        self.knn_weight = float(knn_weight) if cooccurrence is not None else 0.0
        self.popularity_weight = float(popularity_weight) if cooccurrence is not None else 0.0
        self.knn_half_life = float(knn_half_life)
        # the content → cf map (saved by train-recommender): items with no interactions, new ones included, are
        # placed in the collaborative space from their content; without it only the model's items are ranked
        self.collaborative = collaborative
        self.cf_weight = float(cf_weight) if collaborative is not None else 0.0
        self.scores_new_items = collaborative is not None

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        history = sorted((p for p in profile.items if p.weight > 0 or profile.from_history), key=lambda p: p.timestamp)
        if not history:
            return np.zeros(len(pool), dtype=np.float32)
        history_features = np.stack([
            np.concatenate([unit(p.vectors[s]) if s in p.vectors else np.zeros(self.dims[s], np.float32) for s in SPACES])
            for p in history
        ])
        history_known = np.array([self.number.get(p.id or "", 0) for p in history], dtype=np.int64)
        # the weights' in-place version counters: a model still training (the evaluation's epochs) is not stale
        key = (id(self.model), sum(p._version for p in self.model.parameters()), id(pool), len(pool))
        cached = _tables.get(key)
        if cached is None or cached[0] is not pool:  # the pool's item table, once per model and pool
            pool_known = np.array([self.number.get(i, 0) for i in pool.ids], dtype=np.int64)
            cached = (pool, sasrec.item_table(self.model, features_of(pool, self.dims), pool_known))
            with _lock:
                if len(_tables) >= 4:
                    _tables.clear()
                _tables[key] = cached
        scores = sasrec.score_all(self.model, history_features, history_known, None, None, self.config.max_len,
                                  table=cached[1])
        if self.content is None and not self.knn_weight and not self.popularity_weight and not self.cf_weight:
            return scores
        total = zscore(scores)
        if self.content is not None:
            total += self.content_weight * zscore(self.content.score(profile, pool))
        if self.cooccurrence is not None and (self.knn_weight or self.popularity_weight):
            columns = np.array([self.number.get(i, 0) for i in pool.ids], dtype=np.int64) - 1  # -1: unknown item
            known = columns >= 0
            for weight, values in ((self.knn_weight, self.cooccurrence.knn(history_known, self.knn_half_life)),
                                   (self.popularity_weight, self.cooccurrence.popularity())):
                if weight:
                    total += weight * zscore(np.where(known, values[np.maximum(columns, 0)], 0.0))
        if self.collaborative is not None and self.cf_weight:
            table = content_cf.item_table(self.collaborative, pool)
            total += self.cf_weight * zscore(self.collaborative.score(profile, pool, table))
        return total
