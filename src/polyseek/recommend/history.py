"""Recommendation from a history ``[(item, timestamp, rating)]``: recent items weigh more, low ratings push away.

Each event's weight halves every ``half_life`` events back from the latest (events, not seconds: people rate in
bursts, so clock time says little about what they think of now), or every ``half_life_days`` when that is set.
With ratings, an item rated below the person's own mean becomes a negative example. The weighted items are then
scored by :func:`polyseek.recommend.examples.content_scores` over both the image and the text space.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from polyseek.recommend.base import Pool, Profile, recommenders
from polyseek.recommend.examples import content_scores


def recency_weighted(profile: Profile, half_life: float, half_life_days: float | None = None,
                     rating_split: bool = True) -> Profile:
    """The history's items with recency (and rating) weights; oldest first in, same order out."""
    items = sorted(profile.items, key=lambda p: p.timestamp)
    if not items:
        return profile
    ratings = [p.rating for p in items if p.rating is not None]
    mean_rating = float(np.mean(ratings)) if ratings else None
    latest = items[-1].timestamp
    out = []
    for back, item in enumerate(reversed(items)):
        if half_life_days:
            age = max(0.0, latest - item.timestamp) / 86_400.0
            weight = 0.5 ** (age / half_life_days)
        else:
            weight = 0.5 ** (back / max(half_life, 1e-6))
        weight *= abs(item.weight)
        if rating_split and mean_rating is not None and item.rating is not None and item.rating < mean_rating:
            weight = -weight
        out.append(replace(item, weight=weight))
    return Profile(tuple(reversed(out)), from_history=True)


@recommenders.register("history")
class History:
    """Recency-weighted multimodal profile of a history (polyseek's content method)."""

    name = "history"

    def __init__(self, half_life: float = 10.0, half_life_days: float | None = None, image_weight: float = 1.0,
                 text_weight: float = 1.0, best_share: float = 0.3, negative_weight: float = 0.3,
                 rating_split: bool = True) -> None:
        self.half_life = float(half_life)
        self.half_life_days = half_life_days
        self.space_weights = {"image": float(image_weight), "text": float(text_weight)}
        self.best_share = float(best_share)
        self.negative_weight = float(negative_weight)
        self.rating_split = bool(rating_split)
        self.cache: dict | None = None  # set by a caller scoring one profile many times (see content_scores)

    def score(self, profile: Profile, pool: Pool) -> np.ndarray:
        weighted = recency_weighted(profile, self.half_life, self.half_life_days, self.rating_split)
        return content_scores(weighted, pool, self.space_weights, self.best_share, self.negative_weight, self.cache)
