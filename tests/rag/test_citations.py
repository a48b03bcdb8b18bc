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
