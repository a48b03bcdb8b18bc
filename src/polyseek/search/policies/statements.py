"""Financial statements by name: a question that names a balance sheet, an income or a cash-flow statement gets
the page whose heading is that statement first, within the document of its first result.

Analysts' questions over filings say which statement holds the answer ("... answer using the cash flow
statement", "according to the balance sheet", "the statement of financial position"). The text signals and the
cross-encoder read "balance sheet" as two words that the auditor's report, the notes and the MD&A repeat on many
pages, while the statement itself is a page of numbers whose *heading* is "CONSOLIDATED BALANCE SHEETS". So:

1. **Cues** (:func:`statement_cues`): the statements a question names, in the order it names them; with
   ``implied`` (``SearchConfig.document_statements_implied``, on: chosen on the tune split) also those its
   metric implies when it names none (working capital → balance sheet, capital expenditure → cash flows, gross
   margin → income statement). Adjusted and non-GAAP figures imply nothing (they live in reconciliation
   tables, not in the statements).
2. **Statement pages** (:func:`statement_kind`): a page whose first lines hold a statement's title as a line of
   its own ("Consolidated Statements of Cash Flows", "CONDENSED CONSOLIDATED BALANCE SHEETS (Unaudited)"), and
   that is a table of numbers (an index of the statements or a note that opens with the title is not).
3. The named statements' pages: the *first run* of consecutive pages with the title (a statement and its
   continuation; the schedules, guarantor statements and quarterly data that repeat a title come after the
   primary statements), at most :data:`MAX_PER_STATEMENT` pages (a longer run pins nothing, as ambiguous), are put first in the order the question names them (``SearchConfig.document_statements``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from polyseek.catalog import Catalog
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.search.policies.documents import document_pages, pin_pages
from polyseek.types import Modality, item_id

BALANCE, INCOME, CASH_FLOW = "balance sheet", "income statement", "cash flow statement"
STATEMENTS = (BALANCE, INCOME, CASH_FLOW)
MAX_PER_STATEMENT = 2  # a statement runs over one or two pages; more pages with its title is ambiguous
HEADING_LINES = 6  # the title is looked for among a page's first lines (company name, "Table of Contents" before it)
T = TypeVar("T")
CACHED_DOCUMENTS = 64  # files whose statement pages are kept between queries
MIN_NUMBERS = 30  # a statement page is a table: at least this many figures on it (years and notes count too)

# what a question says when it names a statement
_NAMED = {
    BALANCE: r"balance\s+sheets?|statements?\s+of\s+(?:consolidated\s+)?financial\s+(?:position|condition)",
    INCOME: r"income\s+statements?|statements?\s+of\s+(?:consolidated\s+)?(?:income|operations|earnings)|"
            r"profit\s+(?:and|&)\s+loss\s+(?:statement|account)|\bp\s*&\s*l\b",
    CASH_FLOW: r"cash\s+flows?\s+statements?|statements?\s+of\s+(?:consolidated\s+)?cash\s+flows?",
}
# what a question's metric implies (only with ``implied``)
_IMPLIED = {
    BALANCE: r"working\s+capital|quick\s+ratio|current\s+ratio|total\s+(?:current\s+)?(?:assets|liabilities)|"
             r"return\s+on\s+(?:total\s+)?assets|\broa\b|asset\s+turnover|days\s+payable|accounts\s+payable|"
             r"inventory\s+turnover|debt\s+on\s+(?:its\s+|the\s+)?balance",
    INCOME: r"gross\s+(?:margin|profit)|operating\s+(?:margin|income)|net\s+(?:profit\s+)?margin|net\s+income|"
            r"cost\s+of\s+goods\s+sold|\bcogs\b|effective\s+tax\s+rate|\bebitda?\b|interest\s+coverage",
    CASH_FLOW: r"capital\s+expenditures?|\bcapex\b|cash\s+from\s+operations|operating\s+cash\s+flow|"
               r"free\s+cash\s+flow|dividends?\s+paid|\bd\s*&\s*a\b|depreciation\s+and\s+amortization",
}
_ADJUSTED = re.compile(r"\badjusted\b|non[-\s]?gaap", re.IGNORECASE)
_TITLES = {
    BALANCE: r"balance\s*sheets?|statements?\s*of\s*financial\s*(?:position|condition)",
    INCOME: r"statements?\s*of\s*(?:consolidated\s*)?(?:income|operations|earnings)"
            r"(?:\s*and\s*comprehensive\s*(?:income|loss|earnings))?|income\s*statements?",
    CASH_FLOW: r"statements?\s*of\s*(?:consolidated\s*)?cash\s*flows?|cash\s*flows?\s*statements?",
}
# a heading line: optional company prefix and "condensed/consolidated", the title, optional "(Unaudited)",
# "(Continued)", "(in millions ...)"; a line that goes on into text or ends in a page number (an index) is not one
_TAIL = r"(?:\s*[-\u2013\u2014,]?\s*(?:\((?:[^()]{0,60})\)|unaudited|continued))*\s*$"
_HEADINGS = {kind: re.compile(rf"^(?:[\w.,&'\u2019 -]{{0,50}}?\s)?(?:condensed\s*)?(?:consolidated\s*)?(?:{title}){_TAIL}",
                              re.IGNORECASE) for kind, title in _TITLES.items()}
# a line that speaks about the statement ("Notes to ...", "Analysis of the ...", "Index to ...") is not its heading
_NOT_HEADING = re.compile(r"^\s*(?:notes?\s+to|index\s+to|report\s+of)|\b(?:analysis|discussion|of\s+the|our|see)\b\s",
                          re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.,])\(?\$?\d[\d,]*(?:\.\d+)?\)?(?![\w])")


def statement_cues(text: str, *, implied: bool = False) -> list[str]:
    """The statements a question names (with ``implied``: or its metric implies), in the order it names them.

    >>> statement_cues("Answer using the cash flow statement and the balance sheet: what was FY2018 capex?")
    ['cash flow statement', 'balance sheet']
    >>> statement_cues("What is the FY2019 quick ratio?", implied=True)
    ['balance sheet']
    """
    found: dict[str, int] = {}
    for kind, pattern in _NAMED.items():
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            found[kind] = match.start()
    if implied and not found and not _ADJUSTED.search(text):
        for kind, pattern in _IMPLIED.items():
            match = re.search(pattern, text, re.IGNORECASE)
            if match:
                found[kind] = match.start()
    return sorted(found, key=lambda kind: found[kind])


def statement_kind(page_text: str) -> str | None:
    """Which statement a page is, by a heading line among its first lines and a table of figures below it."""
    lines = [line.strip() for line in page_text.split("\n") if line.strip()][:HEADING_LINES]
    for line in lines:
        if len(line) > 120 or _NOT_HEADING.match(line):
            continue
        for kind, heading in _HEADINGS.items():
            if heading.match(line):
                return kind if len(_NUMBER.findall(page_text)) >= MIN_NUMBERS else None
    return None


def first_run(matches: list[T], page: Callable[[T], int]) -> list[T]:
    """The first run of consecutive pages among ``matches`` (in page order), or nothing when that run is longer
    than :data:`MAX_PER_STATEMENT`.

    >>> first_run([52, 107], lambda p: p), first_run([84, 85], lambda p: p), first_run([5, 6, 7], lambda p: p)
    ([52], [84, 85], [])
    """
    run: list[T] = []
    for match in matches:
        if run and page(match) != page(run[-1]) + 1:
            break
        run.append(match)
    return run if len(run) <= MAX_PER_STATEMENT else []


def statement_pages(question: str, pages: list, *, implied: bool = False) -> list:
    """The pages of the statements a question names, in the order it names them."""
    cues = statement_cues(question, implied=implied)
    if not cues:
        return []
    kinds = {row.id: statement_kind(row.text) for row in pages}
    chosen: list = []
    for cue in cues:
        chosen += first_run([row for row in pages if kinds[row.id] == cue], lambda row: row.locator.get("page") or 0)
    return chosen


class StatementsPolicy(BasePolicy):
    """Pins the statements a question names; which pages of a document are statements is found once per indexed
    version of the file (its catalogue hash and item count) and kept (:data:`CACHED_DOCUMENTS` files), so only the
    first such question on a filing reads all its pages."""

    name = "statements"

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog
        self._kinds: OrderedDict[tuple[str, str, int], dict[str, list[tuple[str, int]]]] = OrderedDict()

    def finish(self, ctx: SearchContext) -> None:
        query = ctx.query
        if not ctx.config.document_statements or not ctx.hits or not query.text:
            return
        implied = ctx.config.document_statements_implied
        cues = statement_cues(query.text, implied=implied)
        if not cues:
            return

        def choose(doc: str) -> list:
            kinds = self.statement_ids(ctx, doc)
            if kinds is None:  # not (yet) a whole file in the catalogue: read its pages now
                return statement_pages(query.text, document_pages(ctx.rows, doc), implied=implied)
            chosen = [i for cue in cues for i, _ in first_run(kinds.get(cue, []), lambda entry: entry[1])]
            return ctx.rows.get(chosen)

        pin_pages(ctx, choose, mark="statement")

    def statement_ids(self, ctx: SearchContext, doc: str) -> dict[str, list[tuple[str, int]]] | None:
        """``{statement: [(page item id, page number)] in page order}`` of one indexed file, or None when the catalogue has no
        complete record of it."""
        record = self.catalog.file(doc) if self.catalog is not None else None
        if record is None or not record.items:
            return None
        key = (doc, record.hash, int(record.items))
        if key not in self._kinds:
            pages = sorted((row for row in ctx.rows.get([item_id(doc, i) for i in range(record.items)])
                            if row.modality == Modality.PAGE.value), key=lambda row: row.locator.get("page") or 0)
            kinds: dict[str, list[tuple[str, int]]] = {}
            for row in pages:
                kind = statement_kind(row.text)
                if kind:
                    kinds.setdefault(kind, []).append((row.id, int(row.locator.get("page") or 0)))
            self._kinds[key] = kinds
            while len(self._kinds) > CACHED_DOCUMENTS:
                self._kinds.popitem(last=False)
        self._kinds.move_to_end(key)
        return self._kinds[key]
