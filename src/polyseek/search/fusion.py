"""Fusing ranked lists from several signals (image space, text space, lexical) into one ranking."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

RRF_K = 60


def rrf(
    lists: Mapping[Any, Sequence[tuple[str, float]]],
    weights: Mapping[Any, float] | None = None,
    eligible: Callable[[str, str], bool] | None = None,
    k: int = RRF_K,
) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion.

    ``eligible(item_id, signal)`` says whether an item *could* appear in a signal's list (an image
    has no text for the lexical list). Each item's fused score is divided by the summed weight of
    the signals it is eligible for, so items are not favoured just for being visible to more signals.
    Ties are broken by id so results are deterministic.
    """
    weights = dict(weights or {})
    fused: dict[str, float] = {}
    for signal, ranked in lists.items():
        weight = weights.get(signal, 1.0)
        for rank, (item_id, _score) in enumerate(ranked):
            fused[item_id] = fused.get(item_id, 0.0) + weight / (k + rank + 1)
    if eligible is not None:
        signal_weights = [(s, weights.get(s, 1.0)) for s in lists]
        for item_id in fused:
            total = 0.0
            for signal, weight in signal_weights:  # the same sum, in the same order, as sum() over a generator
                if eligible(item_id, signal):
                    total += weight
            fused[item_id] = fused[item_id] / total if total > 0 else 0.0
    else:
        total = sum(weights.get(s, 1.0) for s in lists) or 1.0
        fused = {i: v / total for i, v in fused.items()}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def zscore(
    lists: Mapping[Any, Sequence[tuple[str, float]]],
    weights: Mapping[Any, float] | None = None,
    eligible: Callable[[str, str], bool] | None = None,
) -> list[tuple[str, float]]:
    """Weighted mean of per-list z-scores; a missing eligible item counts as the list's minimum."""
    weights = dict(weights or {})
    stats = {}
    for signal, ranked in lists.items():
        scores = np.array([s for _, s in ranked], dtype=np.float64)
        if len(scores):
            stats[signal] = (scores.mean(), scores.std() or 1.0, float(scores.min()))
    items = {i for ranked in lists.values() for i, _ in ranked}
    lookup = {signal: dict(ranked) for signal, ranked in lists.items()}
    fused = {}
    for item_id in items:
        num = den = 0.0
        for signal in stats:
            if eligible is not None and not eligible(item_id, signal) and item_id not in lookup[signal]:
                continue
            mean, std, low = stats[signal]
            weight = weights.get(signal, 1.0)
            num += weight * (lookup[signal].get(item_id, low) - mean) / std
            den += weight
        fused[item_id] = num / den if den else 0.0
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def evidence(
    lists: Mapping[Any, Sequence[tuple[str, float]]],
    weights: Mapping[Any, float] | None = None,
    eligible: Callable[[str, str], bool] | None = None,
) -> list[tuple[str, float]]:
    """Weighted mean of standardised evidence over the signals an item could match (mixed collections).

    Dense lists arrive as z-scores against each kind's background (``polyseek.search.calibration``), so a photo
    ranked first in the image space counts only as far as it truly stands out; BM25 is standardised over its
    own list. An eligible item a list did not return gets that list's floor. Unlike rank fusion, the best
    photo for a question about a PDF page no longer ties the best page just by being first in its list.
    """
    weights = dict(weights or {})
    values: dict[Any, dict[str, float]] = {}
    floors: dict[Any, float] = {}
    for signal, ranked in lists.items():
        scores = {i: float(s) for i, s in ranked}
        if signal == "lexical" and scores:
            array = np.array(list(scores.values()))
            mean, std = float(array.mean()), float(array.std()) or 1.0
            scores = {i: (s - mean) / std for i, s in scores.items()}
            floors[signal] = (0.0 - mean) / std  # BM25 gives a text without the words 0
        else:
            floors[signal] = min(scores.values()) if scores else 0.0
        values[signal] = scores
    items = {i for ranked in lists.values() for i, _ in ranked}
    num = dict.fromkeys(items, 0.0)
    den = dict.fromkeys(items, 0.0)
    for signal, scores in values.items():  # signal by signal, each item's sums in the same order as item by item
        weight, floor = weights.get(signal, 1.0), floors[signal]
        for item_id in items:
            value = scores.get(item_id)
            if value is None:
                if eligible is not None and not eligible(item_id, signal):
                    continue
                value = floor
            num[item_id] += weight * value
            den[item_id] += weight
    fused = {i: num[i] / den[i] if den[i] else 0.0 for i in items}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


FUSERS = {"rrf": rrf, "zscore": zscore, "evidence": evidence}
