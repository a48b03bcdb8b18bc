"""Page ↔ region aggregation: regions lift and annotate their page; other items pass through untouched."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.indexer import item_id
from polyseek.search.aggregate import Aggregated, aggregate_pages, combine, page_item_id, rerank_results
from polyseek.search.config import SearchConfig
from polyseek.search.context import SearchContext
from polyseek.search.pipeline import rerank, to_hits
from polyseek.search.policies.documents import DocumentsPolicy
from polyseek.search.rows import RowCache
from polyseek.stores.base import Row
from polyseek.stores.memory import MemoryStore
from polyseek.types import Filters, Item, Locator, Modality, Query, QueryPart

DOC = "/docs/report.pdf"


def page(index: int, number: int, text: str = "") -> Item:
    return Item(id=item_id(DOC, index), path=DOC, modality=Modality.PAGE, locator=Locator(page=number), text=text)


def region(index: int, number: int, page_index: int, text: str = "", bbox=(10.0, 10.0, 100.0, 50.0)) -> Item:
    return Item(id=item_id(DOC, index), path=DOC, modality=Modality.REGION, locator=Locator(page=number, bbox=bbox),
                text=text, metadata={"page_item": page_index, "kind": "text"})


def photo(name: str) -> Item:
    return Item(id=name, path=f"/photos/{name}.jpg", modality=Modality.IMAGE)


def test_combine_interpolates_between_max_and_sum():
    assert combine([0.2, 0.5, 0.1], decay=0.0) == 0.5
    assert combine([0.2, 0.5, 0.1], decay=1.0) == pytest.approx(0.8)
    assert combine([0.5, 0.25], decay=0.5) == pytest.approx(0.625)


def test_regions_fold_into_their_page_and_name_the_best_one():
    p1, r1a, r1b, p2, r2a = page(0, 1), region(1, 1, 0), region(2, 1, 0), page(3, 2), region(4, 2, 3)
    cat = photo("cat")
    items = {i.id: i for i in (p1, r1a, r1b, p2, r2a, cat)}
    ranked = [(r2a.id, 0.9), (cat.id, 0.8), (r1a.id, 0.7), (p1.id, 0.6), (r1b.id, 0.5), (p2.id, 0.1)]
    results = aggregate_pages(ranked, items, decay=0.0)
    assert [r.item.id for r in results] == [p2.id, cat.id, p1.id]
    assert results[0].best_region == r2a and results[0].score == 0.9 and results[0].region_score == 0.9
    assert results[2].best_region == r1a and set(results[2].members) == {r1a.id, p1.id, r1b.id}
    assert results[1].best_region is None  # a photo passes through
    # with decay, the page where three items matched overtakes the photo
    summed = aggregate_pages(ranked, items, decay=0.5)
    assert [r.item.id for r in summed][:2] == [p1.id, p2.id]


def test_a_page_brought_in_only_by_its_region_is_fetched():
    p1, r1 = page(0, 1, "the page"), region(5, 1, 0, "the region")
    asked = []

    def fetch(ids):
        asked.extend(ids)
        return {p1.id: p1}

    results = aggregate_pages([(r1.id, 0.4)], {r1.id: r1}, fetch)
    assert asked == [page_item_id(r1)] == [p1.id]
    assert results[0].item == p1 and results[0].best_region == r1
    # without a fetcher the region stands for its page
    alone = aggregate_pages([(r1.id, 0.4)], {r1.id: r1})
    assert alone[0].item == r1


def test_rerank_moves_text_results_and_leaves_pictures_in_place():
    class ByLength:
        name = "by-length"

        def score(self, query, passages):
            return np.array([len(p) for p in passages], dtype=np.float32)

    a, b, cat, c = page(0, 1, "short"), page(1, 2, "a much longer text"), photo("cat"), page(2, 3, "medium text")
    results = [Aggregated(item=x, score=s) for x, s in ((a, 0.9), (b, 0.8), (cat, 0.7), (c, 0.6))]
    reordered, scores = rerank_results("q", results, ByLength(), depth=4, keep=0.0)
    assert [r.item.id for r in reordered] == [b.id, c.id, cat.id, a.id]
    assert cat.id not in scores and scores[b.id] == len("a much longer text")
    # blending in the first-stage order: a strong keep leaves it as it was
    kept, _ = rerank_results("q", results, ByLength(), depth=4, keep=10.0)
    assert [r.item.id for r in kept] == [a.id, b.id, cat.id, c.id]
    # a pinned result (a file the query names) keeps its place like the photo; the others reorder around it
    pinned, scores = rerank_results("q", results, ByLength(), depth=4, keep=0.0, pinned={a.id})
    assert [r.item.id for r in pinned] == [a.id, b.id, cat.id, c.id] and a.id not in scores
    pinned, _ = rerank_results("q", results, ByLength(), depth=4, keep=0.0, pinned={c.id})
    assert [r.item.id for r in pinned] == [b.id, a.id, cat.id, c.id]
    # a led group (the kind the query names, placed first) is reordered within itself, the rest within itself
    d = page(3, 4, "the longest text of all of them here")
    results = [Aggregated(item=x, score=s) for x, s in ((a, 0.9), (c, 0.8), (b, 0.7), (d, 0.6))]
    led, _ = rerank_results("q", results, ByLength(), depth=4, keep=0.0, led={a.id, c.id})
    assert [r.item.id for r in led] == [c.id, a.id, d.id, b.id]
    free, _ = rerank_results("q", results, ByLength(), depth=4, keep=0.0)
    assert [r.item.id for r in free] == [d.id, b.id, c.id, a.id]


def build_hits(store, query, fused, per_signal):
    """The documents policy's pooling, then the pipeline's rerank and hits stages, on a given fused ranking."""
    ctx = SearchContext(query=query, config=SearchConfig(rerank_documents=False), rows=RowCache(store), encoders=None)
    ctx.fused = list(fused)
    ctx.lists = {signal: list(values.items()) for signal, values in per_signal.items()}
    DocumentsPolicy().after_fusion(ctx)
    rerank(ctx)
    to_hits(ctx)
    return ctx.hits


def test_build_hits_collapses_pages_unless_regions_are_asked_for():
    store = MemoryStore()
    store.create({"text": 2})
    p1, r1, r2 = page(0, 1, "annual revenue"), region(1, 1, 0, "revenue table", (5, 6, 7, 8)), region(2, 1, 0, "notes")
    store.upsert([Row(id=i.id, doc=DOC, path=DOC, modality=i.modality.value, locator=i.locator.to_dict(), text=i.text,
                      metadata=i.metadata, vectors={"text": np.array([1.0, 0.0], dtype=np.float32)}) for i in (p1, r1, r2)])
    fused = [(r1.id, 0.03), (p1.id, 0.02), (r2.id, 0.01)]
    query = Query(parts=(QueryPart(text="revenue"),), k=5)
    hits = build_hits(store, query, fused, {"text": dict(fused)})
    assert len(hits) == 1 and hits[0].item.id == p1.id
    assert hits[0].best_region.id == r1.id and hits[0].to_dict()["best_region"]["locator"] == {"page": 1, "bbox": [5, 6, 7, 8]}
    assert hits[0].scores["region"] == 0.03 and hits[0].to_dict()["locator"] == {"page": 1, "bbox": None}
    regions_only = Query(parts=(QueryPart(text="revenue"),), k=5, filters=Filters(modalities=(Modality.REGION,)))
    hits = build_hits(store, regions_only, [(r1.id, 0.03), (r2.id, 0.01)], {})
    assert [h.item.id for h in hits] == [r1.id, r2.id] and all(h.best_region is None for h in hits)


def test_an_item_with_text_found_only_by_the_image_space_is_not_scored_like_a_photo(engine_factory):
    """Fusion normalises by the signals an item could have matched; a PDF region has text even when the
    text signals did not list it, so an image-space-only match must not get a photo's full score."""
    engine = engine_factory(store="memory://")
    engine.spaces.ensure(engine.store)
    dim = engine.encoder("text").dim
    query_vector = engine.encoder("text").encode_queries(["alpha"])[0]
    rng = np.random.default_rng(0)

    def far() -> np.ndarray:
        vector = rng.normal(size=dim).astype(np.float32)
        vector -= vector @ query_vector * query_vector  # orthogonal to the query
        return vector / np.linalg.norm(vector)

    rows = [Row(id=f"filler{i}", doc=f"/f{i}.txt", path=f"/f{i}.txt", modality="text", text=f"filler words {i}",
                vectors={"text": query_vector * 0.5 + far() * 0.5, "image": far()}) for i in range(60)]
    rows.append(Row(id="match", doc="/a.txt", path="/a.txt", modality="text", text="alpha",
                    vectors={"text": query_vector, "image": query_vector * 0.6 + far() * 0.4}))
    rows.append(Row(id="region", doc=DOC, path=DOC, modality="region", text="unrelated words", locator={"page": 1, "bbox": [1, 2, 3, 4]},
                    vectors={"text": far(), "image": query_vector}))
    for row in rows:
        row.vectors = {s: v / np.linalg.norm(v) for s, v in row.vectors.items()}
    engine.store.upsert(rows)
    hits = engine.search("alpha", k=10, filters=Filters(modalities=(Modality.TEXT, Modality.REGION)))  # lists 50 deep
    assert hits[0].item.id == "match"
    # the region is first in the image space and below the text lists' depth: its rank-1 image share is divided
    # by every signal's weight (a photo's would be divided by the image weight alone, and beat "match")
    weights = engine.config.weights
    expected = weights["image"] / 61 / sum(weights.values())
    region = [h for h in hits if h.item.id == "region"]
    assert not region or (region[0].scores["fused"] == pytest.approx(expected) and "text" not in region[0].scores)
    assert hits[0].score > 2 * expected


def test_text_queries_rank_pdf_evidence_by_text_and_image_queries_by_picture(engine_factory, tmp_path):
    from PIL import Image

    from tests.ingest._pdf import report_page, text_page, write_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "report.pdf", [report_page(), text_page(2)])
    Image.new("RGB", (64, 48), (220, 20, 20)).save(docs / "red.jpg")
    engine = engine_factory()
    engine.index([str(docs)])
    hits = engine.search("quarterly revenue by region", k=5, rerank=False)
    pages = [h for h in hits if h.item.modality == Modality.PAGE]
    assert pages and all("image" not in h.scores for h in pages)  # the image space did not rank them
    assert any("image" in h.scores for h in hits if h.item.modality == Modality.IMAGE)  # it still ranks photos
    with_image = engine.with_config(document_signals=("image", "text", "lexical"))
    assert any("image" in h.scores for h in engine.search("quarterly revenue by region", k=5, rerank=False, config=with_image)
               if h.item.modality == Modality.PAGE)
    by_picture = engine.search(image=str(docs / "red.jpg"), k=5, filters=Filters(modalities=(Modality.PAGE,)))
    assert by_picture and all("image" in h.scores for h in by_picture)
