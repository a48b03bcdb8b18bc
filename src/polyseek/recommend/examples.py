"""Recommendation from examples: Qdrant's two strategies (the baselines) and polyseek's multimodal scorer.

- ``average_vector`` (Qdrant): query = mean(positives) + (mean(positives) − mean(negatives)), cosine per space.
- ``best_score`` (Qdrant): a candidate's best similarity to a positive, or minus the squared best similarity to a
  negative when a negative is closer.
- ``multimodal`` (polyseek): per space, a blend of the weighted mean similarity to the positives and the best
  one (taste is often several clusters, which a single mean vector blurs), minus the same for the negatives;
  each space's scores standardised over the pool, then summed with space weights, so the picture and the text
  of an item both count whatever their cosine scales.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from polyseek.recommend.base import SPACES, Pool, Profile, profile_matrix, recommenders, unit, zscore


def _spaces(pool: Pool, spaces: tuple[str, ...]) -> list[str]:
    return [s for s in spaces if s in pool.vectors]


@recommenders.register("average_vector")
class AverageVector:
    """Qdrant's ``average_vector`` strategy, summed over the item's spaces (raw cosines)."""

    name = "average_vector"

    def __init__(self, spaces: tuple[str, ...] = SPACES) -> None:
        self.spaces = tuple(spaces)

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        total = np.zeros(len(pool), dtype=np.float32)
        for space in _spaces(pool, self.spaces):
            dim = pool.vectors[space].shape[1]
            positives, _ = profile_matrix(profile.positives, space, dim)
            if not len(positives):
                continue
            query = positives.mean(0)
            negatives, _ = profile_matrix(profile.negatives, space, dim)
            if len(negatives):
                query = query + (query - negatives.mean(0))
            total += np.where(pool.present[space], pool.vectors[space] @ unit(query), 0.0)
        return total


@recommenders.register("best_score")
class BestScore:
    """Qdrant's ``best_score`` strategy, summed over the item's spaces."""

    name = "best_score"

    def __init__(self, spaces: tuple[str, ...] = SPACES) -> None:
        self.spaces = tuple(spaces)

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        total = np.zeros(len(pool), dtype=np.float32)
        for space in _spaces(pool, self.spaces):
            dim = pool.vectors[space].shape[1]
            positives, _ = profile_matrix(profile.positives, space, dim)
            if not len(positives):
                continue
            negatives, _ = profile_matrix(profile.negatives, space, dim)
            # one pass over the pool's matrix for both sides (the request's cost is reading it)
            similarity = pool.vectors[space] @ np.vstack([positives, negatives]).T
            best_positive = similarity[:, : len(positives)].max(1)
            scores = best_positive
            if len(negatives):
                best_negative = similarity[:, len(positives):].max(1)
                scores = np.where(best_positive > best_negative, best_positive, -(best_negative ** 2))
            total += np.where(pool.present[space], scores, 0.0)
        return total


def content_scores(profile: Profile, pool: Pool, space_weights: Mapping[str, float], best_share: float,
                   negative_weight: float, cache: dict | None = None) -> np.ndarray:
    """polyseek's multimodal score (see the module docstring); shared by ``multimodal`` and ``history``.

    ``cache``: a dict kept by a caller that scores the same profile items many times with other weights (the
    evaluation's tuning); the similarity matrices are computed once per space and side.
    """
    total = np.zeros(len(pool), dtype=np.float32)
    for space, space_weight in space_weights.items():
        if space not in pool.vectors or space_weight == 0:
            continue
        dim = pool.vectors[space].shape[1]
        per_space = np.zeros(len(pool), dtype=np.float32)
        sides = [(side, *profile_matrix(items, space, dim), sign) for side, items, sign in
                 (("positive", profile.positives, 1.0), ("negative", profile.negatives, -negative_weight))]
        sides = [(side, matrix, weights, sign) for side, matrix, weights, sign in sides if len(matrix) and sign != 0]
        keys = [(id(pool.vectors[space]), space, side, len(matrix)) for side, matrix, _w, _s in sides]
        if sides and (cache is None or any(key not in cache for key in keys)):
            # one pass over the pool's matrix for both sides (a request's cost is mostly reading it)
            joint = pool.vectors[space] @ np.vstack([matrix for _side, matrix, _w, _s in sides]).T  # (pool, examples)
            split = np.cumsum([len(matrix) for _side, matrix, _w, _s in sides])[:-1]
            parts = dict(zip(keys, np.split(joint, split, axis=1)))
            if cache is not None:
                cache.update(parts)
        else:
            parts = {key: cache[key] for key in keys} if cache is not None else {}
        for key, (_side, matrix, weights, sign) in zip(keys, sides):
            weights = np.abs(weights)
            similarity = parts[key]
            mean = similarity @ (weights / weights.sum())
            best = similarity.max(1)
            per_space += sign * ((1 - best_share) * mean + best_share * best)
        total += space_weight * zscore(per_space, pool.present[space])
    return total


@recommenders.register("multimodal")
class Multimodal:
    """polyseek's scorer from examples: both spaces, mean and best similarity, negatives subtracted."""

    name = "multimodal"

    def __init__(self, image_weight: float = 1.0, text_weight: float = 1.0, best_share: float = 0.3,
                 negative_weight: float = 0.5) -> None:
        self.space_weights = {"image": float(image_weight), "text": float(text_weight)}
        self.best_share = float(best_share)
        self.negative_weight = float(negative_weight)

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        return content_scores(profile, pool, self.space_weights, self.best_share, self.negative_weight)
