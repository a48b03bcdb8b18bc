"""The kind prior cannot overturn a literal match: in a generated mixed folder (photos + a PDF), a short noun
phrase whose every word is on one page finds that page, although the prior says the query asks for a picture."""

from __future__ import annotations

from dataclasses import replace

import pytest

from polyseek.search.kind_prior import load
from polyseek.search.policies import kind_prior as policy_module
from polyseek.search.policies.kind_prior import KindPriorPolicy
from polyseek.types import Filters, Modality
from tests.conftest import make_images
from tests.ingest._pdf import PageSpec, text_page, write_pdf

LIGHTHOUSE = PageSpec(lines=[(72, 72, 14, "History of the harbour lighthouse"),
                             (72, 110, 11, "The lighthouse was built in 1874 from granite quarried nearby."),
                             (72, 126, 11, "Its lamp was electrified in 1921 and automated in 1968.")])

KEEPER = PageSpec(lines=[(72, 72, 14, "The keeper"), (72, 110, 11, "A keeper lived beside the lighthouse until 1968.")])
KITCHEN = PageSpec(lines=[(72, 72, 14, "Kitchen"), (72, 110, 11, "The counter tops are polished granite slabs.")])


@pytest.fixture
def mixed(tmp_path, engine_factory):
    folder = tmp_path / "mixed"
    make_images(folder / "photos")
    make_images(folder / "more", colours={f"c{i}": (40 * i, 255 - 30 * i, 90) for i in range(6)})
    (folder / "documents").mkdir()
    write_pdf(folder / "documents" / "harbour.pdf", [text_page(1), LIGHTHOUSE, text_page(3), KEEPER, text_page(5)])
    write_pdf(folder / "documents" / "kitchen.pdf", [KITCHEN, text_page(2)])
    engine = engine_factory()
    engine.index([folder])
    prior = replace(load(), weight=8.0)  # the shipped model, weighed heavily: pictures far above pages
    for p in engine.pipeline.policies:
        if isinstance(p, KindPriorPolicy):
            p._prior = prior
    return engine, prior


def top_kind(engine, text: str, **options) -> Modality:
    return engine.search(text, k=5, **options)[0].item.modality


def test_a_page_holding_every_query_word_is_not_held_back_by_the_prior(mixed, monkeypatch):
    engine, prior = mixed
    query = "lighthouse granite quarried"
    assert prior.probabilities(query)["visual"] > 0.8  # the prior takes the noun phrase for a picture
    off = engine.with_config(kind_prior=0.0)
    assert top_kind(engine, query, config=off).is_document  # the evidence: the page leads without the prior
    with monkeypatch.context() as m:  # the rule switched off: the defect, reproduced
        m.setattr(policy_module, "MIN_LITERAL_WORDS", 10**6)
        assert top_kind(engine, query) == Modality.IMAGE
    trace = engine.trace(query, k=5)
    assert trace.hits[0].item.modality.is_document and trace.hits[0].item.path.endswith("harbour.pdf")
    assert trace.state["kind-prior.literal"] == ["document"]
    # the page's kind gets the prior the pictures get: it is lifted as far as they are, not past them
    assert trace.state["kind-prior"]["document"] == pytest.approx(trace.state["kind-prior"]["image"])


def test_the_prior_still_decides_without_a_literal_match(mixed):
    engine, _ = mixed
    # words the page does not hold are no evidence: the prior applies as before
    for query in ("lighthouse at sunset", "old lighthouse sunset"):
        trace = engine.trace(query, k=5)
        assert "kind-prior.literal" not in trace.state
        assert trace.state["kind-prior"]["document"] < 0 < trace.state["kind-prior"]["image"]
        assert trace.hits[0].item.modality == Modality.IMAGE
    # an instruction naming the kind is the person's word, not a guess: it wins over the literal match
    named = engine.trace("lighthouse granite quarried", k=3, instruction="find a photo of")
    assert "kind-prior.literal" not in named.state and named.hits[0].item.modality == Modality.IMAGE
    # an explicit modality still wins over everything
    hits = engine.search("lighthouse granite quarried", k=3, filters=Filters(modalities=(Modality.IMAGE,)))
    assert hits and all(h.item.modality == Modality.IMAGE for h in hits)


def test_a_keyword_query_gets_no_prior_and_a_named_document_leads(mixed):
    engine, prior = mixed
    # one or two words lie outside the queries the model was fitted on (captions and questions of three or more)
    for query in ("lighthouse", "lighthouse keeper"):
        assert prior.probabilities(query)["visual"] > 0.8
        trace = engine.trace(query, k=5)
        assert not trace.state.get("kind-prior")  # the evidence decides, as with the prior switched off
        off = engine.search(query, k=5, config=engine.with_config(kind_prior=0.0))
        assert [h.item.id for h in trace.hits] == [h.item.id for h in off]
    # "pdf" names documents and nothing else: pages lead whatever the model guesses from the query's form
    trace = engine.trace("pdf about the keeper", k=5)
    assert trace.state["kind-prior.named"] == ["document"]
    assert trace.hits[0].item.path.endswith("harbour.pdf") and trace.hits[0].item.modality.is_document
    with_table = engine.trace("a photo of a table", k=5)  # "table" has an everyday meaning: no document lead
    assert "kind-prior.named" not in with_table.state or with_table.state["kind-prior.named"] == ["image"]
