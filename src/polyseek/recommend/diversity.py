"""Maximal marginal relevance: trade a little relevance for results that differ from each other."""

from __future__ import annotations

import numpy as np


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> list[int]:
    """Greedy MMR over candidates (rows of ``vectors``, unit length): indices in pick order.

    ``diversity`` 0 keeps the score order; 1 picks only by distance from what was already picked. Scores are
    rescaled to [0, 1] first, so ``diversity`` means the same whatever the method's score scale.

    >>> mmr(np.array([1.0, 0.99, 0.5]), np.array([[1, 0], [1, 0], [0, 1]], dtype=float), 2, 0.5)
    [0, 2]
    """
    n = len(scores)
    if n == 0 or k <= 0:
        return []
    if diversity <= 0:
        return list(np.argsort(-scores, kind="stable")[:k])
    low, high = float(scores.min()), float(scores.max())
    relevance = (scores - low) / (high - low) if high > low else np.ones(n)
    picked: list[int] = []
    closest = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        value = (1 - diversity) * relevance - diversity * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, vectors @ vectors[best])
    return picked
