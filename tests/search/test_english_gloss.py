"""The reranker reads a foreign query's English gloss (search/policies/english_gloss.py)."""

from __future__ import annotations

from polyseek.encoders.projection import QuerySwap
from polyseek.search import pipeline
from polyseek.types import Signal


class Glossing:
    """A query encoder that, like ``multilingual``, keeps the English gloss of the foreign queries it encoded."""

    def __init__(self, base, glosses: dict[str, str]) -> None:
        self.base, self.glosses, self.dim, self.name = base, glosses, base.dim, "glossing"

    def encode_queries(self, texts):
        return self.base.encode_queries([self.glosses.get(t, t) for t in texts])

    def english_gloss(self, text):
        return self.glosses.get(text)


def _rerank_reads(engine, monkeypatch, query: str) -> list[str]:
    seen: list[str] = []
    original = pipeline.rerank_results

    def spy(query_text, *args, **kwargs):
        seen.append(query_text)
        return original(query_text, *args, **kwargs)

    monkeypatch.setattr(pipeline, "rerank_results", spy)
    engine.search(query, k=3, rerank=True)
    return seen


def test_a_foreign_query_is_reranked_by_its_english_gloss_and_english_by_its_words(tmp_path, engine_factory, monkeypatch):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "harbour.txt").write_text("The lighthouse stands at the port entrance.\n", encoding="utf-8")
    (notes / "garden.txt").write_text("Roses and tulips in the garden.\n", encoding="utf-8")
    engine = engine_factory()
    engine.index([str(notes)])
    text = engine.spaces.encoder(Signal.TEXT)
    engine.spaces.install(Signal.TEXT, QuerySwap(text, Glossing(text, {"Hafen Leuchtturm": "port lighthouse"})))
    assert _rerank_reads(engine, monkeypatch, "Hafen Leuchtturm") == ["port lighthouse"]
    assert _rerank_reads(engine, monkeypatch, "lighthouse at the port") == ["lighthouse at the port"]


def test_without_a_glossing_encoder_the_reranker_reads_the_query(tmp_path, engine_factory, monkeypatch):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Der Leuchtturm steht am Hafen.\n", encoding="utf-8")
    engine = engine_factory()
    engine.index([str(notes)])
    assert _rerank_reads(engine, monkeypatch, "Hafen Leuchtturm") == ["Hafen Leuchtturm"]
