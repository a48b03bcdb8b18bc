"""Page ↔ region aggregation: region hits lift their page, and a page hit says which of its regions matched best.

A PDF page is indexed as one page item plus region items (paragraphs, figures, tables) that point at
it (``metadata["page_item"]``, the page's chunk index in its file). After fusion, each page's
candidates, its own item and its regions, are pooled: the page's score is the best member's score
plus a decayed share of the next ones (``decay`` 0 = max, 1 = sum), so a page where several regions
match outranks one with a single lucky hit, without long pages winning by size alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyseek.search.rerank import question_focus
from polyseek.search.rows import RowCache
from polyseek.types import Item, Modality, Query, item_id

DEFAULT_DECAY = 0.0  # a page scores as its best member: tuned on the tune split (docs/documents.md)
RERANK_DEPTH = 20  # results the cross-encoder re-reads
RERANK_KEEP = 1.0  # weight of the first-stage order blended into the rerank (z-scores)
FOCUS_QUERY = True  # the reranker reads a long prompt-like query's questions only (rerank.question_focus)


@dataclass(frozen=True)
class Aggregated:
    """One result after aggregation: a page (with its best region) or any other item passed through."""

    item: Item
    score: float
    best_region: Item | None = None
    region_score: float | None = None  # fused score of ``best_region``
    members: tuple[str, ...] = field(default_factory=tuple)  # ids that were pooled into this result


def page_item_id(region: Item) -> str | None:
    """Id of the page item a region belongs to (same file, chunk index in ``metadata["page_item"]``)."""
    index = region.metadata.get("page_item")
    if index is None:
        return None
    return item_id(region.path, int(index))


def is_document(item: Item) -> bool:
    return item.modality.is_document and item.locator.page is not None


def combine(scores: Sequence[float], decay: float = DEFAULT_DECAY) -> float:
    """Best score plus geometrically decayed later ones: ``s1 + d*s2 + d^2*s3 ...`` (scores sorted high to low).

    >>> combine([0.5, 0.25], decay=0.5)
    0.625
    """
    total, weight = 0.0, 1.0
    for score in sorted(scores, reverse=True):
        total += weight * score
        weight *= decay
        if weight < 1e-6:
            break
    return total


def aggregate_pages(
    ranked: Sequence[tuple[str, float]],
    items: Mapping[str, Item],
    fetch: Callable[[list[str]], Mapping[str, Item]] | None = None,
    *,
    decay: float = DEFAULT_DECAY,
) -> list[Aggregated]:
    """Collapse page and region candidates into one result per page, best first; other items pass through.

    ``ranked``: fused ``[(item id, score)]``, best first. ``items``: the items of those ids.
    ``fetch(ids)`` loads page items that only their regions brought in (without it such a region
    stands for its page). Ties keep the order of ``ranked``.
    """
    pages: dict[tuple[str, int], dict] = {}
    order: list[tuple[str, object]] = []  # ("page", key) or ("item", id) in first-seen order
    for candidate, score in ranked:
        item = items.get(candidate)
        if item is None:
            continue
        if not is_document(item):
            order.append(("item", (item, score)))
            continue
        key = (item.path, int(item.locator.page))  # type: ignore[arg-type]
        group = pages.get(key)
        if group is None:
            group = pages[key] = {"page": None, "page_id": None, "regions": [], "scores": [], "members": []}
            order.append(("page", key))
        group["scores"].append(score)
        group["members"].append(candidate)
        if item.modality == Modality.PAGE:
            group["page"] = item
        else:
            group["regions"].append((item, score))
            group["page_id"] = group["page_id"] or page_item_id(item)
    missing = [g["page_id"] for g in pages.values() if g["page"] is None and g["page_id"]]
    fetched = dict(fetch(missing)) if fetch and missing else {}
    out: list[tuple[int, Aggregated]] = []
    for position, (kind, value) in enumerate(order):
        if kind == "item":
            item, score = value  # type: ignore[misc]
            assert item is not None
            out.append((position, Aggregated(item=item, score=score, members=(item.id,))))
            continue
        group = pages[value]  # type: ignore[index]
        best_region, region_score = max(group["regions"], key=lambda r: r[1]) if group["regions"] else (None, None)
        page = group["page"] or fetched.get(group["page_id"]) or best_region
        assert page is not None  # a group exists because a page or a region of it was ranked
        out.append((position, Aggregated(item=page, score=combine(group["scores"], decay), best_region=best_region,
                                         region_score=region_score, members=tuple(group["members"]))))
    out.sort(key=lambda pair: (-pair[1].score, pair[0]))
    return [a for _, a in out]


def _passages(result: Aggregated) -> list[str]:
    """What a reranker reads for a result: its text (for a page, the opening the reranker's window holds)
    and its best region's text, which may lie further down; the result scores as its better passage."""
    texts = [result.item.text] if result.item.text.strip() else []
    region = result.best_region
    if region is not None and region.id != result.item.id and region.text.strip():
        texts.append(region.text)
    return texts


def rerank_results(query_text: str, results: list[Aggregated], reranker, depth: int = RERANK_DEPTH,
                   keep: float = RERANK_KEEP, pinned: Collection[str] = (),
                   led: Collection[str] = ()) -> tuple[list[Aggregated], dict[str, float]]:
    """Reorder the text-bearing results among the first ``depth`` by reranker score (best passage per result).

    ``keep`` blends in the first-stage order: results are sorted by ``z(rerank) + keep * z(fused)`` (z-scores
    over the reranked head), so a weak reranker cannot undo a confident retrieval. Results without text
    (a photo) keep their places, so reranking never pushes other modalities away; so do ``pinned`` ones (a
    result holding an item a policy placed on purpose, e.g. a file the query names). Results holding a ``led``
    item (the kind a query names, placed ahead of the rest) are reordered among themselves, the others among
    themselves. Returns the new order and ``{item id: rerank score}``.
    """
    head = results[:depth]
    slots = [i for i, r in enumerate(head) if _passages(r) and not (pinned and pinned_result(r, pinned))]
    if not slots or not query_text.strip():
        return results, {}
    flat: list[str] = []
    owners: list[int] = []
    for slot in slots:
        for text in _passages(head[slot]):
            flat.append(text)
            owners.append(slot)
    scores = reranker.score(question_focus(query_text) if FOCUS_QUERY else query_text, flat)
    best: dict[int, float] = {}
    for slot, value in zip(owners, scores.tolist()):
        best[slot] = max(best.get(slot, float("-inf")), float(value))
    combined = dict(best)
    if keep and len(slots) > 1:
        rerank_values = np.array([best[s] for s in slots])
        fused_values = np.array([head[s].score for s in slots])
        z = lambda v: (v - v.mean()) / (v.std() or 1.0)
        combined = dict(zip(slots, (z(rerank_values) + keep * z(fused_values)).tolist()))
    new_head = list(head)
    ahead = {s for s in slots if led and pinned_result(head[s], led)}
    for group in ([s for s in slots if s in ahead], [s for s in slots if s not in ahead]):
        for slot, source in zip(group, sorted(group, key=lambda s: (-combined[s], s))):
            new_head[slot] = head[source]
    return new_head + results[depth:], {head[s].item.id: best[s] for s in slots}


def pinned_result(result: Aggregated, pinned: Collection[str]) -> bool:
    return result.item.id in pinned or any(member in pinned for member in result.members)


def pool_results(rows: RowCache, query: Query, fused: Sequence[tuple[str, float]], wanted: int, *,
                 collapse: bool, decay: float = DEFAULT_DECAY) -> list[Aggregated]:
    """The head of the fused ranking as results: with ``collapse``, pages absorb their regions (a pool three
    times ``wanted`` deep, since several candidates fold into one page); otherwise one result per item."""
    pool = list(fused[: wanted * 3 if collapse else wanted])
    items = {row.id: row.to_item() for row in rows.get([i for i, _ in pool])}
    if not collapse:
        return [Aggregated(item=items[i], score=s, members=(i,)) for i, s in pool if i in items]

    def fetch(ids: list[str]) -> dict[str, Item]:
        return {row.id: row.to_item() for row in rows.get(ids)}

    return aggregate_pages(pool, items, fetch, decay=decay)
