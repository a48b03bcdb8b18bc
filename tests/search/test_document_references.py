"""Questions that name a figure, a table or a page get that page first (DocumentsPolicy.finish)."""

from __future__ import annotations

from dataclasses import replace

from polyseek.search.config import SearchConfig
from polyseek.search.policies.documents import (
    caption_pattern,
    edge_numbers,
    has_page_label,
    positions,
    printed_offset,
    references,
)
from polyseek.types import Filters, Modality
from tests.ingest._pdf import PageSpec, write_pdf


def test_references_parsed_from_questions():
    assert references("In figure 1, which relation arrows do not point to leaf nodes?") == ([("figure", 1)], [])
    assert references("What are the items in blue in Table1-1?") == ([("table", 1)], [])
    assert references("See Fig. 3 and Tables 4 on page 17, slide 2") == ([("figure", 3), ("table", 4)], [17, 2])
    assert references("How did revenue change in 2019?") == ([], [])
    # an example of the answer's format names no page
    assert references("List all pages on which the logo locates, formatted as a list like ['Page 2', 'Page 4'].") == ([], [])
    assert references('How many dogs are there in page 17? Write the answer as a list, e.g., ["1","2"]') == ([], [17])


def test_caption_lines_match_only_captions():
    pattern = caption_pattern("figure", 3)
    assert pattern.search("text above\nFigure 3: Recall by model size")
    assert pattern.search("Fig. 3. Results")
    assert pattern.search("Figure3.Programming the EPROM")
    assert not pattern.search("as shown in Figure 3. The setup is")  # a mention inside a line
    assert not pattern.search("question. (See\nFigure 3.)")  # a parenthesised mention that wrapped
    assert not pattern.search("Figure 3 shows the recall")  # no caption punctuation
    assert not pattern.search("Figure 31: another figure")
    assert caption_pattern("table", 2).search("Table 2: Accuracy on the test set")


def test_page_labels_are_read_from_the_edge_lines_only():
    body = "\n".join(f"line {i}" for i in range(10))
    assert has_page_label("17\n" + body, 17)
    assert has_page_label(body + "\n- 17 -", 17)
    assert has_page_label(body + "\nPage 17 of 40", 17)
    assert not has_page_label("a\nb\nc\nd\n17\ne\nf\ng\nh", 17)  # a table cell in the middle of the page
    assert not has_page_label(body + "\n170", 17)


def _pdf(tmp_path):
    filler = "Survey results for every region are discussed in the text of this report."
    pages = [
        PageSpec(lines=[(72, 72, 11, "Figure 2 shows how the survey results differ by region."), (72, 90, 11, filler),
                        (300, 760, 9, "15")]),
        PageSpec(lines=[(72, 72, 11, "Methods of the survey"), (72, 400, 10, "Figure 2: Share of respondents by region"),
                        (300, 760, 9, "16")]),
        PageSpec(lines=[(72, 72, 11, "Appendix tables of the survey"), (72, 90, 11, filler), (300, 760, 9, "17")]),
        PageSpec(lines=[(72, 72, 11, "Survey results by region: the summary. " + filler), (300, 760, 9, "18")]),
    ]
    return write_pdf(tmp_path / "survey.pdf", pages)


def _top_pages(engine, question, path, config):
    hits = engine.search(question, k=4, config=config,
                         filters=Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=str(path)))
    return [hit.item.locator.page for hit in hits]


def test_named_figure_and_printed_page_come_first(tmp_path, engine_factory):
    path = _pdf(tmp_path)
    engine = engine_factory()
    engine.index([path])
    on = replace(SearchConfig(), rerank_documents=False)
    off = replace(on, document_references=False)
    question = "What does Figure 2 show about the survey results by region?"
    assert _top_pages(engine, question, path, on)[0] == 2  # the caption's page, not the page that mentions it
    assert _top_pages(engine, "What is in the table on page 17 of the survey?", path, on)[0] == 3  # printed label
    hits = engine.search(question, k=4, config=on, filters=Filters(path_glob=str(path)))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)  # scores still fall
    assert hits[0].scores.get("reference") == 1.0
    # a figure no caption names pins nothing: the order is the one without the rule
    assert _top_pages(engine, "What does Figure 9 show?", path, on) == _top_pages(engine, "What does Figure 9 show?", path, off)


def test_positions_and_edge_numbers():
    assert positions("How many lines are highlighted in yellow on the first page?") == [1]
    assert positions("In the figure at Page at the second last, how many people are standing?") == [-2]
    assert positions("What is on the last slide and the second-to-last page?") == [-1, -2]
    assert positions("When was the last serious shock recorded in the table?") == []  # "last" without "page"
    assert edge_numbers("Object Storage Service\nbody\nmore body\nmiddle\nx\ny\nz\nIssue 26 (2024-02-28) Copyright Ltd. 2") == {2}
    assert edge_numbers("a\nb\nc\nd\ne\n17 of 40") == {17}
    assert edge_numbers("a\nb\nc\nd\n33\ne\nf\ng\nh") == set()  # a number in the middle of the page


class _Row:
    def __init__(self, page: int, text: str) -> None:
        self.locator = {"page": page}
        self.text = text


def test_printed_offset_needs_pages_that_agree():
    front = [_Row(1, "Cover"), _Row(2, "Contents\n1 About 3\n2 Pricing 9")]
    numbered = [_Row(p, "Body text of the page\nmore" + f"\nmore\nmore\nGuide 2024 Copyright Ltd. {p - 2}") for p in range(3, 9)]
    assert printed_offset(front + numbered) == 2  # the footer's number runs two behind the PDF's page
    spreads = [_Row(p, f"{2 * p}\nbody\nbody\nbody\n{2 * p + 1}") for p in range(1, 9)]  # two printed pages a sheet
    assert printed_offset(spreads) is None
    assert printed_offset(front) is None


def _footer_pdf(tmp_path):
    topics = ["storage classes", "buckets", "access keys and their rotation", "pricing", "regions"]
    pages = [PageSpec(lines=[(72, 72, 20, "Object Storage Service Product Guide")]),
             PageSpec(lines=[(72, 72, 14, "Contents"), (72, 100, 11, "1 About the service 1"), (72, 116, 11, "2 Buckets 3")])]
    for printed in range(1, 6):
        topic = topics[printed - 1]
        pages.append(PageSpec(lines=[(72, 72, 11, f"This section explains {topic}."), (72, 90, 11, f"More on {topic}."),
                                     (72, 740, 8, "Object Storage Service"),
                                     (72, 752, 8, f"Issue 26 (2024-02-28) Copyright Huawei Technologies Co., Ltd. {printed}")]))
    return write_pdf(tmp_path / "guide.pdf", pages)


def test_page_named_by_footer_number_or_position_comes_first(tmp_path, engine_factory):
    path = _footer_pdf(tmp_path)
    engine = engine_factory()
    engine.index([path])
    on = replace(SearchConfig(), rerank_documents=False)
    off = replace(on, document_references=False)
    question = "How many access keys does the figure in Page 2 show?"
    assert _top_pages(engine, question, path, off)[0] == 5  # the access-keys page (printed 3)
    assert _top_pages(engine, question, path, on)[0] == 4  # printed "2" in the footer of the PDF's 4th page
    assert _top_pages(engine, "What does the last page of the guide say about buckets?", path, off)[0] != 7
    assert _top_pages(engine, "What does the last page of the guide say about buckets?", path, on)[0] == 7
    assert _top_pages(engine, "What is the title on the first page?", path, on)[0] == 1
