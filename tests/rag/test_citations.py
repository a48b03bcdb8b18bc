"""Citation markers: parsing, cleaning, attribution of uncited sentences, snippets."""

from __future__ import annotations

from polyseek.rag.base import ContextBlock
from polyseek.rag.citations import attribute, clean_markers, finish, markers
from polyseek.types import Hit, Item, Locator, Modality


def block(number, text, page=1):
    item = Item(id=f"id{number}", path="/docs/report.pdf", modality=Modality.PAGE, locator=Locator(page=page), text=text)
    return ContextBlock(number=number, hit=Hit(item=item, score=1.0), text=text)


def test_markers_and_cleaning():
    assert markers("a [2] b [1, 3] c [2]") == [2, 1, 3]
    assert clean_markers("x [1, 9] y [9] z [2;2]", {1, 2}) == "x [1] y z [2]"


def test_attribute_cites_the_supporting_block_only():
    blocks = [block(1, "Revenue grew 12% in 2015 to 6.8 billion dollars."), block(2, "The company has 9,000 employees.")]
    text = attribute("Revenue grew 12% in 2015. Employees number 9,000. The moon is made of cheese.", blocks)
    assert text == "Revenue grew 12% in 2015 [1]. Employees number 9,000 [2]. The moon is made of cheese."


def test_finish_resolves_citations_to_locators_with_quoted_snippets():
    blocks = [block(1, "Revenue grew 12% in 2015 to 6.8 billion dollars.", page=4), block(2, "Headcount: 9,000.", page=7)]
    text, citations = finish("Revenue grew 12% in 2015 to 6.8 billion dollars. [1] Something [5].", blocks)
    assert text == "Revenue grew 12% in 2015 to 6.8 billion dollars [1]. Something."
    assert [(c.number, c.id, c.locator["page"], c.snippet) for c in citations] == [
        (1, "id1", 4, "Revenue grew 12% in 2015 to 6.8 billion dollars")]


# ---- sentences, abbreviations and dense numbering (issue 11, defect 12) --------------------------------------

def spans(text):
    from polyseek.rag.context import split_sentences

    return [text[a:b] for a, b in split_sentences(text)]


def test_abbreviations_initials_and_decimals_do_not_end_sentences():
    text = ("Dr. Smith moved to the U.S. Army base in 2015. Growth was 3.5 percent, e.g. in Jan. and Feb. sales. "
            "J. R. R. Tolkien wrote it. See No. 5 for details. The firm left the U.S. In 2019 it returned. "
            "Smith et al. (2020) agree. I said no. Then I left.")
    assert spans(text) == [
        "Dr. Smith moved to the U.S. Army base in 2015.",
        "Growth was 3.5 percent, e.g. in Jan. and Feb. sales.",
        "J. R. R. Tolkien wrote it.",
        "See No. 5 for details.",
        "The firm left the U.S.",
        "In 2019 it returned.",
        "Smith et al. (2020) agree.",
        "I said no.",
        "Then I left.",
    ]


class OverlapReranker:
    """Plumbing stand-in for the cross-encoder: scores a sentence by the question words it contains."""

    def score(self, question, sentences):
        words = set(question.lower().split())
        return [4.0 * len(words & set(s.lower().replace(".", " ").split())) - 6.0 for s in sentences]


def test_extractive_answer_keeps_abbreviations_and_numbers_citations_densely():
    from polyseek.rag.extractive import ExtractiveAnswerer

    blocks = [block(1, "The capital of the U.S. is Washington, D.C. and it is on the Potomac river."),
              block(2, "Bananas are yellow and grow in warm places near the equator.", page=2),
              block(3, "The treaty was signed in the U.S. Congress in the capital river city.", page=3),
              block(4, "Washington is the capital city near the river.", page=4)]
    question = "capital river city washington"
    streamed = "".join(ExtractiveAnswerer(reranker=OverlapReranker()).stream(question, blocks))
    assert "U.S [" not in streamed and "D.C [" not in streamed
    text, citations = finish(streamed, blocks)
    assert markers(text) == list(range(1, len(citations) + 1)), text  # [1], [2], [3]: no gap
    assert len(citations) == 3 and {c.id for c in citations} == {"id1", "id3", "id4"}
    assert "U.S. Congress" in text and "U.S [" not in text


def test_renumber_in_order_of_first_use():
    from polyseek.rag.citations import renumber

    assert renumber("a [3] b [1] c [3, 4] d [4]") == ("a [1] b [2] c [1, 3] d [3]", {3: 1, 1: 2, 4: 3})


def test_stream_renumbering_matches_the_final_answer():
    """Markers split across streamed pieces are held back until whole; what streamed is what the answer says."""
    from polyseek.rag.citations import StreamRenumberer

    blocks = [block(n, f"Fact number {n} is about topic {n}.", page=n) for n in range(1, 6)]
    pieces = ["Topic five fact [", "5", "]. Topic two fact [2", "]. Both [5, ", "2] and a bad one [9]."]
    renumber = StreamRenumberer({b.number for b in blocks})
    streamed = "".join(renumber.feed(p) for p in pieces) + renumber.flush()
    assert streamed == "Topic five fact [1]. Topic two fact [2]. Both [1, 2] and a bad one [9]."
    text, citations = finish(streamed, renumber.blocks(blocks))
    assert text == "Topic five fact [1]. Topic two fact [2]. Both [1][2] and a bad one."
    assert [(c.number, c.id) for c in citations] == [(1, "id5"), (2, "id2")]


def test_a_stop_that_ends_an_abbreviation_keeps_its_place():
    blocks = [block(1, "The company moved its headquarters to the U.S.")]
    text, citations = finish("The company moved its headquarters to the U.S. [1] It grew.", blocks)
    assert text.startswith("The company moved its headquarters to the U.S. [1]") and len(citations) == 1
