"""A question naming a report by a word of its file name (typos forgiven) lifts that report's pages."""

from __future__ import annotations

import pytest

from polyseek.errors import InvalidInputError
from polyseek.search.config import SearchConfig
from polyseek.search.policies import document_names as policy_module
from polyseek.search.policies.document_names import DocumentNames, document_words
from tests.ingest._pdf import PageSpec, write_pdf


def page(*lines: str) -> PageSpec:
    return PageSpec(lines=[(72, 72 + 20 * n, 11, text) for n, text in enumerate(lines)])


QUESTION = "What was the advertising expense to sales ratio of Neflix in FY 2015?"


@pytest.fixture
def reports(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    # the answer's page never names the company; another company's report shares the question's generic words
    write_pdf(root / "NETFLIX_2015_10K.pdf", [
        page("Streaming members grew in every region during the year."),
        page("Marketing expenses", "Advertising expenses were 714.3 million in 2015, 533.1 million in 2014."),
    ])
    write_pdf(root / "ADOBE_2015_10K.pdf", [
        page("Advertising expense to sales ratio, fiscal 2015", "Advertising expense was 2015 sales ratio of 4 percent."),
        page("Advertising expense in FY 2015 rose with sales; the ratio of advertising to sales was steady."),
    ])
    write_pdf(root / "garden-notes.pdf", [page("Tomatoes need sun and water."), page("Prune the roses in March.")])
    return root


def names(hits) -> list[str]:
    return [h.item.path.rsplit("/", 1)[-1] for h in hits]


def test_document_words_skip_numbers_and_short_words():
    assert document_words("/r/NETFLIX_2015_10K.pdf") == {"netflix"}
    assert document_words("/r/ULTABEAUTY_2023Q4_EARNINGS.pdf") == {"ultabeauty", "earnings"}
    assert document_words("/r/3M_2018_10K.pdf") == set()


def test_a_misspelt_company_lifts_its_report_past_another_reports_pages(reports, engine_factory):
    engine = engine_factory()
    engine.index([reports])
    off = engine.search(QUESTION, k=3, config=engine.with_config(document_names=0.0, rerank_documents=False))
    assert names(off)[0] == "ADOBE_2015_10K.pdf"  # without the rule the generic words win
    trace = engine.trace(QUESTION, k=3, config=engine.with_config(rerank_documents=False))
    assert trace.state["document-names"] == [str((reports / "NETFLIX_2015_10K.pdf").absolute())]
    assert names(trace.hits)[0] == "NETFLIX_2015_10K.pdf"
    assert trace.hits[0].item.locator.page == 2
    # a question naming no report moves nothing
    assert "document-names" not in engine.trace("advertising expense to sales ratio in FY 2015", k=3).state


def test_typos_joined_words_and_generic_words(reports, engine_factory):
    engine = engine_factory()
    engine.index([reports])
    found = DocumentNames(engine.catalog)
    netflix = str((reports / "NETFLIX_2015_10K.pdf").absolute())
    assert found.named("revenue of Netfilx") == {netflix}  # two letters swapped
    assert found.named("revenue of Netflixx") == {netflix}  # one letter too many
    assert found.named("revenue of Nike") == set()
    assert found.named("garden notes") == {str((reports / "garden-notes.pdf").absolute())}
    assert found.named("gardennotes") == set()  # a joined name word is matched from two query words, not split
    (reports / "netflix-q1.txt").write_text("Quarter notes.\n")
    (reports / "netflix-q2.txt").write_text("Quarter notes.\n")
    (reports / "netflix-q3.txt").write_text("Quarter notes.\n")
    engine.index([reports])  # "netflix" now names four files: it says nothing
    assert found.named("revenue of Netflix") == set()


def test_the_weight_is_checked_and_zero_turns_it_off(reports, engine_factory, monkeypatch):
    with pytest.raises(InvalidInputError, match="document_names"):
        SearchConfig(document_names=-1)
    with pytest.raises(InvalidInputError, match="document_names"):
        SearchConfig(document_names=True)
    engine = engine_factory()
    engine.index([reports])
    assert "document-names" not in engine.trace(QUESTION, k=3, config=engine.with_config(document_names=0)).state
    monkeypatch.setattr(policy_module, "MAX_FILES_PER_WORD", 0)
    assert "document-names" not in engine.trace(QUESTION, k=3).state
