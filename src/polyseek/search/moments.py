"""Merging adjacent matching moments of one file into one result span, applied after fusion.

A long shot is indexed as several moments (pieces cut at speech pauses, at most 15 s each), so a query that
matches the shot finds several neighbours with near-equal scores. Walking the fused ranking best first, a
moment joins an earlier result of the same file when it touches that result's span (gap at most
``MAX_GAP`` seconds) and matches about as well as the result's head on a signal both were found by:
``score ≥ head score − TOLERANCE × spread``, where a signal's spread is its top score minus its median,
so the rule needs no per-encoder threshold. Only signals on which the head itself is strong count (its
score in the upper ``STRONG`` part between median and top): a moment found by its transcript does not pull
in a silent neighbour through an image score that is noise. Joining is measured against the head, never
the last joined moment, so a span cannot drift along a video one weak neighbour at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from polyseek.types import Hit, Locator

MOMENT_MODALITIES = frozenset({"video_moment", "audio_segment"})
MAX_GAP = 1.0  # seconds between two moments that still count as adjacent (speech segments leave pauses)
TOLERANCE = 0.25  # fraction of a signal's spread a neighbour may score below the head and still join
STRONG = 0.5  # a head counts a signal when its score is within this fraction of the spread from the top
MIN_WINDOW = 30  # fused candidates looked at for merging, at least


@dataclass
class Span:
    """One result: its head (best-ranked moment) and the moments joined to it."""

    head: str
    score: float
    path: str | None = None
    start: float | None = None
    end: float | None = None
    members: list[str] = field(default_factory=list)
    texts: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class MergedRanking:
    """The fused ranking with merged moments removed, and how to widen the heads' hits."""

    ranking: list[tuple[str, float]]
    spans: dict[str, Span] = field(default_factory=dict)

    def apply(self, hits: Sequence[Hit]) -> list[Hit]:
        """Hits whose head absorbed neighbours get the joined span, text and ``metadata["merged_ids"]``."""
        out = []
        for hit in hits:
            span = self.spans.get(hit.id)
            if span is None or len(span.members) < 2:
                out.append(hit)
                continue
            locator = replace(hit.item.locator, start=span.start, end=span.end)
            texts = []
            for _start, text in sorted(span.texts):
                if text and text not in texts:
                    texts.append(text)
            metadata = {**hit.item.metadata, "merged_ids": list(span.members),
                        "head_locator": hit.item.locator.to_dict()}
            item = replace(hit.item, locator=locator, text=" ".join(texts) or hit.item.text, metadata=metadata)
            out.append(replace(hit, item=item))
        return out


def _signal_stats(lists: Mapping[str, Sequence[tuple[str, float]]]) -> dict[str, tuple[dict[str, float], float, float]]:
    """Per signal: scores by id, the top score and the spread (top minus median)."""
    stats = {}
    for signal, ranked in lists.items():
        if not ranked:
            continue
        scores = [float(s) for _, s in ranked]
        top = max(scores)
        spread = top - statistics.median(scores) if len(scores) > 1 else abs(top)
        stats[signal] = (dict((i, float(s)) for i, s in ranked), top, spread if spread > 0 else 1e-12)
    return stats


def _close_enough(head: str, candidate: str, stats: Mapping[str, tuple[dict[str, float], float, float]],
                  tolerance: float) -> bool:
    for scores, top, spread in stats.values():
        if head not in scores or candidate not in scores or scores[head] < top - STRONG * spread:
            continue
        if scores[candidate] >= scores[head] - tolerance * spread:
            return True
    return False


def merge_moments(
    fused: Sequence[tuple[str, float]],
    lists: Mapping[str, Sequence[tuple[str, float]]],
    get_rows: Callable[[list[str]], Sequence[Any]],
    k: int = 10,
    *,
    max_gap: float = MAX_GAP,
    tolerance: float = TOLERANCE,
) -> MergedRanking:
    """Join adjacent matching moments of the same file; ``fused`` is best first, ``lists`` the per-signal rankings.

    ``get_rows(ids)`` returns stored rows (with ``id``, ``path``, ``modality``, ``locator``, ``text``). The first
    ``max(30, 3k)`` candidates are considered; the ranking that comes back is ``fused`` without the moments
    that joined a better-ranked one. Items that are not moments pass through untouched.
    """
    window = list(fused[: max(MIN_WINDOW, 3 * k)])
    rows = {row.id: row for row in get_rows([i for i, _ in window])} if window else {}
    if not any(getattr(r, "modality", None) in MOMENT_MODALITIES for r in rows.values()):
        return MergedRanking(list(fused))
    stats = _signal_stats(lists)
    spans: list[Span] = []
    joined: set[str] = set()
    for item_id, score in window:
        row = rows.get(item_id)
        if row is None or row.modality not in MOMENT_MODALITIES:
            continue
        locator = Locator.from_dict(row.locator)
        if locator.start is None:
            continue
        start, end = float(locator.start), float(locator.end if locator.end is not None else locator.start)
        target = next((s for s in spans if s.path == row.path and start <= s.end + max_gap
                       and end >= s.start - max_gap and _close_enough(s.head, item_id, stats, tolerance)), None)
        if target is None:
            spans.append(Span(item_id, score, row.path, start, end, [item_id], [(start, row.text)]))
            continue
        target.start, target.end = min(target.start, start), max(target.end, end)
        target.members.append(item_id)
        target.texts.append((start, row.text))
        joined.add(item_id)
    ranking = [(i, s) for i, s in fused if i not in joined]
    return MergedRanking(ranking, {s.head: s for s in spans if len(s.members) > 1})
