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
   encoders read "Figure 3" as two common words; the caption line says where the figure is. When no page
   carries the label as a line of its own, the document's *page numbering* says where it is: the printed
   number that ends or opens a footer or header line ("... Co., Ltd. 2"), when most pages agree on one offset
   between it and the PDF's page (:func:`printed_offset`). A question that names a page by its position
   ("the first page", "the second last page", "the last slide") gets that page of the PDF.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from polyseek.search.aggregate import RERANK_DEPTH, is_document, pool_results
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.search.rows import RowCache
from polyseek.types import Hit, Modality, Signal, item_id

_FIGURE_REF = re.compile(r"\b(fig(?:ure)?s?|tables?|tab)\.?\s*(\d{1,3})\b", re.IGNORECASE)
_EXAMPLE = re.compile(r"\[[^\[\]]*\]")  # a bracketed list in a question is an example of the answer's format
_PAGE_REF = re.compile(r"\b(?:page|slide)\s*(\d{1,4})\b", re.IGNORECASE)
_LAST = r"(?:second[\s-]*(?:to[\s-]*)?last|penultimate|last|final)"
_POSITION_REF = re.compile(rf"\b(first|{_LAST})\s+(?:page|slide)\b|\b(?:page|slide)\s+at\s+the\s+(first|{_LAST})\b",
                           re.IGNORECASE)
_EDGE_NUMBER = re.compile(r"^(?:page\s*)?[-\u2013(]?\s*(\d{1,4})\s*[-\u2013)]?(?:\s*(?:of|/)\s*\d+)?$|\s(\d{1,4})$|^(\d{1,4})\s",
                          re.IGNORECASE)
MIN_NUMBERED = 3  # page numbering is trusted when at least this many pages, and
NUMBERED_SHARE = 0.3  # this share of the document's pages, agree on one offset between printed and PDF page
MAX_PINNED = 2  # a reference that matches more pages than this is ambiguous: nothing is pinned for it
LABEL_LINES = 3  # a printed page label is looked for among the first and the last lines of a page's text
# Modality(m).is_document as a set of stored values (building a Modality costs ~1 us, for each of ~300 candidates)
_DOCUMENT_MODALITIES = frozenset(m.value for m in Modality if m.is_document)
_ID_BLOCK = 512  # a document's items are fetched by id in blocks until one comes back empty


def references(text: str) -> tuple[list[tuple[str, int]], list[int]]:
    """Figures/tables (``("figure"|"table", n)``) and pages a question names; an answer-format example in brackets
    ("formatted as a list like ['Page 2', 'Page 4']") names nothing."""
    text = _EXAMPLE.sub(" ", text)
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


def positions(text: str) -> list[int]:
    """Pages a question names by position: 1 for "the first page", -1 for "the last page", -2 for "the second last"."""
    out = []
    for match in _POSITION_REF.finditer(text):
        word = (match.group(1) or match.group(2)).lower()
        out.append(1 if word == "first" else -1 if word in ("last", "final") else -2)
    return list(dict.fromkeys(out))


def edge_numbers(text: str) -> set[int]:
    """Numbers that stand alone on, end or open one of the page's first or last lines (page-number candidates)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    out = set()
    for line in lines[:LABEL_LINES] + lines[-LABEL_LINES:]:
        match = _EDGE_NUMBER.search(line)
        if match:
            out.add(int(next(g for g in match.groups() if g)))
    return out


def printed_offset(pages: list) -> int | None:
    """PDF page minus printed page number, when the document's pages agree on one (None: no numbering found).

    Every page votes for ``page - n`` for each number at the edge of its text; footers such as "Issue 26
    (2024-02-28) Copyright Huawei Technologies Co., Ltd. 2" count, and years, section numbers and two-page
    spreads scatter their votes over many offsets.
    """
    votes: Counter[int] = Counter()
    for row in pages:
        page = row.locator.get("page")
        if page:
            votes.update({int(page) - n for n in edge_numbers(row.text)})
    if not votes:
        return None
    (offset, count), *rest = votes.most_common(2)
    if count < max(MIN_NUMBERED, NUMBERED_SHARE * len(pages)) or (rest and rest[0][1] == count):
        return None
    return offset


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
    offset: list[int | None] = []  # computed once, when a page number has no label line
    for kind, number in captions:
        pattern = caption_pattern(kind, number)
        matches = [row for row in pages if pattern.search(row.text)]
        if len(matches) <= MAX_PINNED:
            chosen += matches
    for number in numbers:
        # printed labels only: the PDF's own page number rarely is the one a reader quotes (covers, front
        # matter, two-page spreads), and pinning it cost rank 1 on the tune split (docs/documents.md)
        matches = [row for row in pages if has_page_label(row.text, number)]
        if not matches:
            if not offset:
                offset.append(printed_offset(pages))
            if offset[0] is not None:
                matches = [row for row in pages if row.locator.get("page") == number + offset[0]]
        if len(matches) <= MAX_PINNED:
            chosen += matches
    for position in positions(question):
        if len(pages) >= abs(position):
            chosen.append(pages[position - 1 if position > 0 else position])
    return list({row.id: row for row in chosen}.values())


class DocumentsPolicy(BasePolicy):
    name = "documents"

    def before_fusion(self, ctx: SearchContext) -> None:
        lists = ctx.lists
        if Signal.IMAGE not in lists or len(lists) < 2 or Signal.IMAGE in ctx.config.document_signals:
            return
        candidates = list(dict.fromkeys(i for ranked in lists.values() for i, _ in ranked))
        documents = {row.id for row in ctx.rows.get(candidates)  # image tiles are regions without a page: not here
                     if row.modality in _DOCUMENT_MODALITIES and row.locator.get("page") is not None}
        if not documents:
            return
        ctx.ineligible.setdefault(Signal.IMAGE, set()).update(documents)
        lists[Signal.IMAGE] = [(i, s) for i, s in lists[Signal.IMAGE] if i not in documents]
        if not lists[Signal.IMAGE]:
            del lists[Signal.IMAGE]

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        may_rerank = bool(query.rerank) or (query.rerank is None and ctx.config.rerank_documents)
        wanted = max(query.k, max(RERANK_DEPTH, ctx.config.rerank_depth) if may_rerank else 0)  # a shallower rerank: same pool
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
        if not captions and not numbers and not positions(query.text):
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
