"""Questions that name a financial statement get the page headed by that statement first (StatementsPolicy)."""

from __future__ import annotations

from dataclasses import replace

from polyseek.search.config import SearchConfig
from polyseek.search.policies.statements import BALANCE, CASH_FLOW, INCOME, first_run, statement_cues, statement_kind
from polyseek.types import Filters, Modality
from tests.ingest._pdf import PageSpec, write_pdf

_ROWS = "\n".join(f"Line item {i} $ {1000 + 37 * i:,} $ {900 + 41 * i:,}" for i in range(20))


def test_cues_named_in_question_order():
    question = ("You are an investment banker and your only resource(s) is (are): the statement of financial "
                "position and the cash flow statement. What is the FY2015 operating cash flow ratio?")
    assert statement_cues(question) == [BALANCE, CASH_FLOW]
    assert statement_cues("By the consolidated statements of operations, what was FY2019 net income?") == [INCOME]
    assert statement_cues("What is the FY2019 quick ratio for Nike?") == []  # implied cues are off by default
    assert statement_cues("What is the FY2019 quick ratio for Nike?", implied=True) == [BALANCE]
    assert statement_cues("What was FY2018 capital expenditure?", implied=True) == [CASH_FLOW]
    assert statement_cues("What was Adjusted EBITDA in FY2023?", implied=True) == []  # a non-GAAP figure
    assert statement_cues("Which region grew fastest?", implied=True) == []


def test_statement_pages_by_heading_and_figures():
    assert statement_kind(f"59\nADOBE SYSTEMS INCORPORATED\nCONSOLIDATED BALANCE SHEETS\n(In thousands)\n{_ROWS}") == BALANCE
    assert statement_kind(f"Table of Contents\nAcme Inc.\nConsolidated Statements of Cash Flows (Continued)\n{_ROWS}") == CASH_FLOW
    assert statement_kind(f"CONDENSED CONSOLIDATED STATEMENTS OF INCOME (Unaudited)\n{_ROWS}") == INCOME
    assert statement_kind(f"SQUARE,INC.\nCONSOLIDATEDBALANCESHEETS\n{_ROWS}") == BALANCE  # a text layer without spaces
    # the same title as prose, a note, an analysis or an index is not the statement
    assert statement_kind(f"We have audited the accompanying consolidated balance sheets of Acme\n{_ROWS}") is None
    assert statement_kind(f"Notes to Consolidated Balance Sheets\n{_ROWS}") is None
    assert statement_kind(f"ANALYSIS OF THE CONDENSED CONSOLIDATED STATEMENTS OF INCOME\n{_ROWS}") is None
    assert statement_kind("CONSOLIDATED BALANCE SHEETS\nThe balance sheet is discussed in the text.") is None  # no figures
    assert statement_kind("\n".join(["a", "b", "c", "d", "e", "f", "g"]) + "\nCONSOLIDATED BALANCE SHEETS\n" + _ROWS) is None


def _pdf(tmp_path):
    prose = "The balance sheet shows total assets and the balance sheet changes are discussed here for the balance sheet."
    table = [(72, 130 + 14 * i, 9, f"Line item {i}     {1000 + 37 * i:,}     {900 + 41 * i:,}") for i in range(24)]
    pages = [
        PageSpec(lines=[(72, 72, 11, "Management discussion of the balance sheet"), (72, 90, 10, prose)]),
        PageSpec(lines=[(72, 72, 11, "Acme Corporation"), (72, 90, 11, "CONSOLIDATED STATEMENTS OF CASH FLOWS"), *table]),
        PageSpec(lines=[(72, 72, 11, "Acme Corporation"), (72, 90, 11, "CONSOLIDATED BALANCE SHEETS"), *table]),
        PageSpec(lines=[(72, 72, 11, "Report of the auditors"), (72, 90, 10, "We audited the balance sheet. " + prose)]),
    ]
    return write_pdf(tmp_path / "acme-10k.pdf", pages)


def test_named_statement_page_comes_first(tmp_path, engine_factory):
    path = _pdf(tmp_path)
    engine = engine_factory()
    engine.index([path])
    on = replace(SearchConfig(), rerank_documents=False)
    off = replace(on, document_statements=False)
    question = "According to the balance sheet, what were Acme's total assets?"
    filters = Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=str(path))
    without = [hit.item.locator.page for hit in engine.search(question, k=4, config=off, filters=filters)]
    assert without[0] != 3  # the prose pages say "balance sheet" more often than the statement does
    hits = engine.search(question, k=4, config=on, filters=filters)
    assert [hit.item.locator.page for hit in hits][0] == 3
    assert hits[0].scores.get("statement") == 1.0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # two statements named: both, in the question's order
    both = engine.search("Using the cash flow statement and the balance sheet, what was capex?", k=4, config=on, filters=filters)
    assert [hit.item.locator.page for hit in both][:2] == [2, 3]
    # no statement named: the rule leaves the order alone
    plain = "What does the report say about the auditors?"
    assert ([h.id for h in engine.search(plain, k=4, config=on, filters=filters)]
            == [h.id for h in engine.search(plain, k=4, config=off, filters=filters)])


def test_the_first_run_of_pages_with_a_title_is_the_statement():
    page = lambda p: p  # noqa: E731
    assert first_run([50, 96, 111, 112, 113], page) == [50]  # guarantor schedules repeat the title later
    assert first_run([84, 85], page) == [84, 85]  # a statement continued on the next page
    assert first_run([7, 8, 9], page) == []  # three pages in a row with one title: ambiguous
