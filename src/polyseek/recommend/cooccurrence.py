"""Item co-occurrence of a training log: recency-weighted item-kNN and a popularity prior for the hybrid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INTERACTIONS_FILE = "interactions.npz"


@dataclass(frozen=True)
class CoOccurrence:
    """Who interacted with what (users x items, 0/1, sparse) over the model's items (item number n is column n-1)."""

    matrix: object  # scipy.sparse.csr_matrix (scipy is imported only here, lazily)
    counts: np.ndarray  # interactions per item

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], n_items: int) -> CoOccurrence:
        from scipy import sparse

        rows = [u for u, sequence in enumerate(sequences) for _ in set(sequence)]
        cols = [n - 1 for sequence in sequences for n in set(sequence)]
        matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(sequences), n_items))
        return cls(matrix, np.asarray(matrix.sum(0)).ravel().astype(np.float32))

    def save(self, directory: Path) -> None:
        from scipy import sparse

        sparse.save_npz(Path(directory) / INTERACTIONS_FILE, self.matrix)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> CoOccurrence | None:
        """The saved matrix, or None for a model directory from before the hybrid (no co-occurrence kept)."""
        from scipy import sparse

        path = Path(directory) / INTERACTIONS_FILE
        if not path.is_file():
            return None
        matrix = sparse.load_npz(path).tocsr()
        return cls(matrix, np.asarray(matrix.sum(0)).ravel().astype(np.float32))

    def knn(self, history: Sequence[int] | np.ndarray, half_life: float) -> np.ndarray:
        """Per item: cosine co-occurrence with the history's items (numbers from 1, oldest first; 0 skipped),
        each weighted by recency (halving every ``half_life`` events back)."""
        n_items = len(self.counts)
        norms = np.sqrt(np.maximum(self.counts, 1.0))
        weights = np.zeros(n_items, dtype=np.float32)
        for back, number in enumerate(reversed(list(history))):
            if 0 < number <= n_items:
                weights[number - 1] += 0.5 ** (back / max(half_life, 1e-6))
        matrix = self.matrix
        users = matrix @ (weights / norms)  # type: ignore[operator]
        return np.asarray(matrix.T @ users).ravel() / norms  # type: ignore[attr-defined]

    def popularity(self) -> np.ndarray:
        return np.log1p(self.counts)
