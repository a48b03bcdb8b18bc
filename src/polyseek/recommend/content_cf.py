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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.recommend.base import Pool


def collaborative_space(matrix: np.ndarray, dim: int) -> np.ndarray:
    """Item embeddings (items x ``dim``) of a users x items 0/1 matrix; items with no interaction get zeros."""
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
