"""A query that says when ("what is said at 0:07 in the garden video", "the tour at 2 minutes") gets the moment
that covers that time.

People remember a moment of a recording by its time. No signal reads a time: the words "0:07" are in no
transcript, and the search finds a video by its content, then shows whichever of its moments matched best. When
the text holds a time (``m:ss`` or ``h:mm:ss``, "2 minutes", "1 min 30 s", "90 seconds", "1m30s"), each of the
first :data:`MAX_FILES` recordings among the results (video moments and audio segments) shows its item whose
span covers the time in the place of its best-matching item, which follows right after it: the search (and the
reranker) still decide *which* recordings and where they rank; the time decides *where in them*. A recording
shorter than the time, or a query with an image or "more like this", is left as it is. ``SearchConfig.times``
turns it off.
"""

from __future__ import annotations

import re

from polyseek.catalog import Catalog
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.stores.base import Row, matches
from polyseek.types import Hit, item_id

MAX_FILES = 3  # recordings among the results that take the time: the search's own choice of which ones are meant
MAX_ITEMS = 5_000  # a recording with more items than this is not read whole for one query

_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):([0-5]\d)(?::([0-5]\d))?(?![\d:])")
_MINUTES = re.compile(r"\b(\d{1,3})\s*(?:minutes?|mins?)\b(?:\s*(?:and\s+)?(\d{1,2})\s*(?:seconds?|secs?|s)\b)?", re.I)
_SECONDS = re.compile(r"\b(\d{1,5})\s*(?:seconds?|secs?)\b", re.I)
_COMPACT = re.compile(r"\b(\d{1,3})m(\d{1,2})s\b", re.I)  # "1m30s"; "90s" is a decade and "2m" a length


def query_time(text: str | None) -> float | None:
    """The first time the text names, in seconds; None when it names none.

    >>> query_time("what is said at 0:07 in the garden video"), query_time("the tour at 1:02:03")
    (7.0, 3723.0)
    >>> query_time("the talk 2 minutes in"), query_time("at 1 min 30 s"), query_time("90 seconds"), query_time("1m30s")
    (120.0, 90.0, 90.0, 90.0)
    >>> query_time("3 dogs at the beach"), query_time("music of the 90s"), query_time("a 2m wall"), query_time("")
    (None, None, None, None)
    """
    if not text:
        return None
    found: list[tuple[int, float]] = []  # (position in the text, seconds)
    if m := _CLOCK.search(text):
        a, b, c = m.groups()
        found.append((m.start(), int(a) * 3600 + int(b) * 60 + int(c) if c else int(a) * 60 + int(b)))
    if m := _MINUTES.search(text):
        found.append((m.start(), int(m.group(1)) * 60 + int(m.group(2) or 0)))
    if m := _SECONDS.search(text):
        found.append((m.start(), int(m.group(1))))
    if m := _COMPACT.search(text):
        found.append((m.start(), int(m.group(1)) * 60 + int(m.group(2))))
    return float(min(found)[1]) if found else None


def covers(row: Row, seconds: float) -> bool:
    start, end = row.locator.get("start"), row.locator.get("end")
    return start is not None and float(start) <= seconds < float(end if end is not None else start)


class TimesPolicy(BasePolicy):
    name = "times"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def finish(self, ctx: SearchContext) -> None:
        query = ctx.query
        if not ctx.config.times or not query.has_text or query.has_image or query.like or not ctx.hits:
            return
        seconds = query_time(query.text)
        if seconds is None:
            return
        hits = list(ctx.hits)
        firsts: list[int] = []  # the place of each recording's first hit, for the first MAX_FILES recordings
        seen: set[str] = set()
        for place, hit in enumerate(hits):
            if hit.item.locator.start is not None and hit.item.path not in seen:
                seen.add(hit.item.path)
                firsts.append(place)
                if len(firsts) == MAX_FILES:
                    break
        moved: list[str] = []
        for place in reversed(firsts):  # from the bottom, so that an insertion leaves the places above it as they are
            best = hits[place]
            row = self._row_at(ctx, best.item.path, seconds)
            if row is None or row.id == best.item.id:
                continue
            hits = [h for h in hits if h.item.id != row.id]  # it may be further down already
            place = next(n for n, h in enumerate(hits) if h.item.id == best.item.id)
            hits.insert(place, Hit(item=row.to_item(), score=best.score, scores={"time": seconds}))
            moved.append(row.id)
        if moved:
            ctx.hits = hits[: len(ctx.hits)]
            ctx.state[self.name] = {"seconds": seconds, "items": sorted(moved)}

    def _row_at(self, ctx: SearchContext, path: str, seconds: float) -> Row | None:
        """The recording's item whose span covers the time, among those the query's filters allow."""
        record = self.catalog.file(path)
        if record is None or not record.items or record.items > MAX_ITEMS:
            return None
        rows = ctx.rows.by_id([item_id(path, n) for n in range(record.items)])
        found = [row for row in rows.values()
                 if covers(row, seconds) and row.id not in ctx.excluded and matches(row, ctx.query.filters)]
        # a moment and a segment may both cover it: the shortest span is the most precise answer
        found.sort(key=lambda row: (float(row.locator.get("end") or 0) - float(row.locator["start"]), row.id))
        return found[0] if found else None
