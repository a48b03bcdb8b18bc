"""How PDF pages rank: by their text, as pages that absorb their regions, reranked when they lead.

1. With a text query, pages and regions are ranked by the text signals only (``SearchConfig.document_signals``):
   their renders in the image-text space rank evidence worse than text does and cost accuracy at any fusion
   weight (docs/documents.md). A query by image alone still finds them by their picture.
2. After fusion, a page's candidates (its own item and its regions) pool into one result per page, scored as
   its best member; the hit names its best region (``polyseek.search.aggregate``).
3. A query that leaves ``rerank`` unset gets the cross-encoder when a page or region is among its first k
   results (``SearchConfig.rerank_documents``; tuned in docs/documents.md).
4. A question that names a figure, a table or a page ("in Figure 3", "Table 2", "the chart on page 17")
   gets that page first, within the document of its first result (``SearchConfig.document_references``):
   the page whose caption starts "Figure 3:"/"Figure 3." or whose printed page label is 17 (a line of its
   own among the page's first or last lines). Text
   encoders read "Figure 3" as two common words; the caption line says where the figure is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from polyseek.search.aggregate import RERANK_DEPTH, is_document, pool_results
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.search.rows import RowCache
from polyseek.types import Hit, Modality, Signal, item_id

_FIGURE_REF = re.compile(r"\b(fig(?:ure)?s?|tables?|tab)\.?\s*(\d{1,3})\b", re.IGNORECASE)
_PAGE_REF = re.compile(r"\b(?:page|slide)\s*(\d{1,4})\b", re.IGNORECASE)
MAX_PINNED = 2  # a reference that matches more pages than this is ambiguous: nothing is pinned for it
LABEL_LINES = 3  # a printed page label is looked for among the first and the last lines of a page's text
_ID_BLOCK = 512  # a document's items are fetched by id in blocks until one comes back empty


def references(text: str) -> tuple[list[tuple[str, int]], list[int]]:
    """Figures/tables (``("figure"|"table", n)``) and pages a question names."""
    captions = [("table" if m.group(1).lower().startswith("tab") else "figure", int(m.group(2)))
                for m in _FIGURE_REF.finditer(text)]
    return list(dict.fromkeys(captions)), list(dict.fromkeys(int(m.group(1)) for m in _PAGE_REF.finditer(text)))


def caption_pattern(kind: str, number: int) -> re.Pattern[str]:
    """A caption line: "Figure 3: ...", "Fig. 3. ...", "Table 3: ..." (not "Figure 3 shows", not "(see Figure 3.)")."""
    word = r"fig(?:ure)?" if kind == "figure" else r"tab(?:le)?"
    return re.compile(rf"^\s*{word}\.?\s*{number}\s*[:.]\s*[^\s).,;]", re.IGNORECASE | re.MULTILINE)


def has_page_label(text: str, number: int) -> bool:
    """Whether ``number`` stands alone ("17", "- 17 -", "Page 17", "17 of 40") on one of the page's edge lines."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    label = re.compile(rf"^(?:page\s*)?[-\u2013(]?\s*{number}\s*[-\u2013)]?(?:\s*(?:of|/)\s*\d+)?$", re.IGNORECASE)
    return any(label.match(line) for line in lines[:LABEL_LINES] + lines[-LABEL_LINES:])


def document_pages(rows: RowCache, doc: str) -> list:
    """The page rows of one indexed file, in page order (its items are ``item_id(doc, 0..)``)."""
    out, start = [], 0
    while True:
        block = rows.get([item_id(doc, i) for i in range(start, start + _ID_BLOCK)])
        if not block:
            break
        out += [row for row in block if row.modality == Modality.PAGE.value]
        start += _ID_BLOCK
    return sorted(out, key=lambda row: row.locator.get("page") or 0)


def referenced_pages(question: str, pages: list) -> list:
    """The pages a question names, in the order it names them (each reference pins at most MAX_PINNED)."""
    captions, numbers = references(question)
    chosen: list = []
    for kind, number in captions:
        pattern = caption_pattern(kind, number)
        matches = [row for row in pages if pattern.search(row.text)]
        if len(matches) <= MAX_PINNED:
            chosen += matches
    for number in numbers:
        # printed labels only: the PDF's own page number rarely is the one a reader quotes (covers, front
        # matter, two-page spreads), and pinning it cost rank 1 on the tune split (docs/documents.md)
        matches = [row for row in pages if has_page_label(row.text, number)]
        if len(matches) <= MAX_PINNED:
            chosen += matches
    return list({row.id: row for row in chosen}.values())


class DocumentsPolicy(BasePolicy):
    name = "documents"

    def before_fusion(self, ctx: SearchContext) -> None:
        lists = ctx.lists
        if Signal.IMAGE not in lists or len(lists) < 2 or Signal.IMAGE in ctx.config.document_signals:
            return
        candidates = list(dict.fromkeys(i for ranked in lists.values() for i, _ in ranked))
        documents = {row.id for row in ctx.rows.get(candidates)  # image tiles are regions without a page: not here
                     if Modality(row.modality).is_document and row.locator.get("page") is not None}
        if not documents:
            return
        ctx.ineligible.setdefault(Signal.IMAGE, set()).update(documents)
        lists[Signal.IMAGE] = [(i, s) for i, s in lists[Signal.IMAGE] if i not in documents]
        if not lists[Signal.IMAGE]:
            del lists[Signal.IMAGE]

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        may_rerank = bool(query.rerank) or (query.rerank is None and ctx.config.rerank_documents)
        wanted = max(query.k, RERANK_DEPTH if may_rerank else 0)
        modalities = query.filters.modalities
        collapse = not modalities or Modality.PAGE in modalities
        ctx.results = pool_results(ctx.rows, query, ctx.fused, wanted, collapse=collapse)
        if query.rerank is None and ctx.config.rerank_documents:
            ctx.rerank_wanted = any(is_document(r.item) for r in ctx.results[: query.k])

    def finish(self, ctx: SearchContext) -> None:
        query = ctx.query
        if not ctx.config.document_references or not ctx.hits or not query.text:
            return
        captions, numbers = references(query.text)
        if not captions and not numbers:
            return
        pin_pages(ctx, lambda doc: referenced_pages(query.text, document_pages(ctx.rows, doc)), mark="reference")


def pin_pages(ctx: SearchContext, choose: Callable[[str], list], *, mark: str) -> None:
    """Put the pages ``choose(doc)`` returns first, ``doc`` being the document of the first hit; pinned hits carry
    ``scores[mark] = 1``. Only for page rankings led by a document (``--modality page`` or none)."""
    query = ctx.query
    modalities = query.filters.modalities
    if not ctx.hits or (modalities and Modality.PAGE not in modalities) or not ctx.hits[0].item.modality.is_document:
        return
    top = ctx.rows.get([ctx.hits[0].id])
    if not top:
        return
    pinned = choose(top[0].doc)
    if not pinned:
        return
    current = {hit.id: hit for hit in ctx.hits}
    first = [current.get(row.id) or Hit(item=row.to_item(), score=0.0, scores={}) for row in pinned]
    ordered = first + [hit for hit in ctx.hits if hit.id not in {row.id for row in pinned}]
    slots = sorted((hit.score for hit in ctx.hits), reverse=True)
    slots += [slots[-1]] * (len(ordered) - len(slots))
    # each hit takes the score of the slot it moves into, so scores still fall down the list
    ctx.hits = [replace(hit, score=slot, scores={**hit.scores, **({mark: 1.0} if i < len(first) else {})})
                for i, (hit, slot) in enumerate(zip(ordered, slots))][: query.k]
