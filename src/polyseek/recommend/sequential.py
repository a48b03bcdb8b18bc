"""The trained sequential recommender as a method: loads a model directory and scores a pool after a history."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.recommend import sasrec
from polyseek.recommend.base import SPACES, Pool, Profile, recommenders, unit, zscore
from polyseek.recommend.history import History

# the history profile and blend weight chosen on the MovieLens dev users (docs/recommend.md): the "hybrid"
TUNED_CONTENT = {"half_life": 3.0, "best_share": 0.3, "image_weight": 0.5, "negative_weight": 0.0}
_loaded: dict[tuple[str, float], tuple[Any, sasrec.TrainConfig, list[str], dict[str, Any]]] = {}
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
            _loaded[key] = sasrec.load(directory)
        return _loaded[key]


@recommenders.register("sequential")
class Sequential:
    """SASRec-style transformer over the items' image and text vectors (``polyseek train-recommender``)."""

    name = "sequential"

    def __init__(self, model_dir: str | Path | None = None, model: Any = None, config: sasrec.TrainConfig | None = None,
                 item_ids: list[str] | None = None, dims: dict[str, int] | None = None, content_weight: float = 0.1,
                 content: dict[str, Any] | None = None) -> None:
        if model is None:
            if model_dir is None:
                raise InvalidInputError("the sequential recommender needs a trained model directory",
                                        hint="train one with: polyseek train-recommender INTERACTIONS.csv")
            model, config, item_ids, info = load_cached(model_dir)
            dims = info["dims"]
        self.model, self.config = model, config or sasrec.TrainConfig()
        self.item_ids = list(item_ids or [])
        self.number = {item: i + 1 for i, item in enumerate(self.item_ids)}
        self.dims = dict(dims or {})
        # blend with the content profile of the history (standardised scores): helps items the model saw rarely
        self.content_weight = float(content_weight)
        self.content = History(**(content or TUNED_CONTENT)) if self.content_weight else None

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
        if self.content is None:
            return scores
        return zscore(scores) + self.content_weight * self.content.score(profile, pool)
