"""Retrieval metrics for the aligner's in-memory evaluation: recall@k both ways, ties broken explicitly."""

from __future__ import annotations

import numpy as np

KS = (1, 5, 10)


def _ranks(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """0-based rank of the best positive per row; a tie counts against the positive (pessimistic, never lucky)."""
    best = np.where(positive, scores, -np.inf).max(axis=1, keepdims=True)
    return ((scores >= best) & ~positive).sum(axis=1)


def recall(image_vectors: np.ndarray, query_vectors: np.ndarray, doc_vectors: np.ndarray, owner: np.ndarray,
           ks: tuple[int, ...] = KS) -> dict[str, float]:
    """text->image: each caption (as a query) against all images; image->text: each image against all captions
    (as documents), a hit when any of its own captions is within k."""
    owner = np.asarray(owner)
    n_images = image_vectors.shape[0]
    t2i_scores = query_vectors @ image_vectors.T
    t2i_positive = owner[:, None] == np.arange(n_images)[None, :]
    i2t_scores = image_vectors @ doc_vectors.T
    t2i = _ranks(t2i_scores, t2i_positive)
    i2t = _ranks(i2t_scores, t2i_positive.T)
    out = {}
    for k in ks:
        out[f"t2i_R@{k}"] = float((t2i < k).mean())
    for k in ks:
        out[f"i2t_R@{k}"] = float((i2t < k).mean())
    out["rsum"] = float(sum(out.values()))
    return out


def folded_recall(image_vectors: np.ndarray, query_vectors: np.ndarray, doc_vectors: np.ndarray, owner: np.ndarray,
                  gallery: int = 506) -> dict[str, float]:
    """Recall averaged over consecutive galleries of ``gallery`` images, so figures compare with a 506-image eval."""
    n_images = image_vectors.shape[0]
    folds = max(1, n_images // gallery)
    bounds = np.linspace(0, n_images, folds + 1).astype(int)
    results = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        caps = (owner >= lo) & (owner < hi)
        results.append(recall(image_vectors[lo:hi], query_vectors[caps], doc_vectors[caps], owner[caps] - lo))
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]}
