"""The warm query path's shortcuts answer exactly what the plain way answers: LanceDB queries in one round trip
(BM25 started early), and a shortlist's per-kind searches reusing the exact scores of the same query vector."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import polyseek.stores.shortlist as shortlist_module
from polyseek.stores import open_store
from polyseek.stores.shortlist import Shortlist
from polyseek.types import Filters, Modality
from tests.stores.test_contract import DIM, make_rows


@pytest.fixture
def store(tmp_path):
    store = open_store(tmp_path / "lance")
    store.create({"image": DIM, "text": DIM})
    store.upsert(make_rows())
    store.optimize()
    yield store
    store.close()


def lance_bm25(store, text: str, k: int, where: str | None = None) -> list[tuple[str, float]]:
    """The same BM25 query through lancedb's ordinary sync API (six round trips)."""
    builder = store.table.search(text, query_type="fts", fts_columns="text").select(["id", "path", "_score"]).limit(k)
    if where:
        builder = builder.where(where, prefilter=True)
    result = builder.to_arrow()
    pairs = zip(result.column("id").to_pylist(), result.column("_score").to_numpy().tolist())
    return sorted(((i, float(s)) for i, s in pairs), key=lambda kv: (-kv[1], kv[0]))


def test_bm25_in_one_round_trip_answers_what_the_sync_api_answers(store):
    for text in ("dog", "revenue chart", "coffee number7", "cat grass beach"):
        assert store.text_search(text, 10) == lance_bm25(store, text, 10)
        assert store.text_search(text, 10) != []
    pages = Filters(modalities=(Modality.PAGE,))
    assert store.text_search("dog cat", 10, pages) == lance_bm25(store, "dog cat", 10, "modality IN ('page')")
    assert all(int(i[4:]) % 3 == 2 for i, _ in store.text_search("dog cat", 10, pages))


def test_bm25_started_early_gives_the_same_hits_and_odd_syntax_gives_none(store):
    started = [store.text_search_soon(text, 5) for text in ("dog", "chart rocket", "dog")]  # all running at once
    assert [pending() for pending in started] == [store.text_search(t, 5) for t in ("dog", "chart rocket", "dog")]
    for odd in ('"unbalanced', "AND OR NOT", "((", "   "):
        assert store.text_search_soon(odd, 5)() == store.text_search(odd, 5)
        assert isinstance(store.text_search(odd, 5), list)


def test_bm25_by_row_id_answers_what_it_answers_by_item_id(store, monkeypatch):
    """From the ROW_ID_MAP_AFTER-th query of a version, BM25 returns row ids, read as item ids through the map: the same
    hits and scores; a map that misses a row (written since) gives the plain answer, and a new version a new map."""
    import polyseek.stores.lancedb as lance_module

    texts = ("dog", "revenue chart", "coffee number7", "cat grass beach", "zebra")
    pages = Filters(modalities=(Modality.PAGE,))
    want = {(t, f): lance_bm25(store, t, 10, None if f is None else "modality IN ('page')") for t in texts for f in (None, pages)}
    monkeypatch.setattr(lance_module, "ROW_ID_MAP_AFTER", 2)
    store.text_search("dog", 10)
    assert store._row_ids_at[2] is None  # a command that searches once never makes the map
    for (text, f), expected in want.items():
        assert store.text_search(text, 10, f) == expected
    held = store._row_ids_at[2]
    assert held is not None and len(held.row_ids) == len(make_rows())
    assert held.lookup(held.row_ids[::-1][:3]) == [i.decode() for i in held.ids[::-1][:3]] and held.lookup(held.row_ids[:0]) == []
    assert held.lookup(np.array([held.row_ids.max() + 1], dtype=np.uint64)) is None
    version = store._row_ids_at[0]
    store._row_ids_at = (version, 5, lance_module.RowIdMap(held.row_ids[:2], held.ids[:2]))  # rows missing from it
    assert store.text_search("cat grass beach", 10) == want[("cat grass beach", None)]
    extra = make_rows()[:1]
    store.upsert([replace(extra[0], id="item999", text="zebra zebra quagga")])
    store.optimize()
    for _ in range(3):
        got = store.text_search("zebra quagga", 10)
    assert got == lance_bm25(store, "zebra quagga", 10) and got[0][0] == "item999"
    assert store._row_ids_at[0] != version and store._row_ids_at[2] is not None


def test_get_and_vectors_through_lance_in_one_round_trip(store):
    rows = store.get(["item004", "missing", "item001"])
    assert [r.id for r in rows] == ["item004", "item001"]
    assert rows[0].metadata == {"i": 4} and rows[0].text
    vectors = store.get_vectors("text", ["item001", "item003", "item004"])  # item003 is a photo: no text vector
    want = {r.id: r.vectors["text"] for r in make_rows() if r.id in ("item001", "item004")}
    assert set(vectors) == set(want)
    for i, v in want.items():
        np.testing.assert_array_equal(vectors[i], v)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A shortlist of 4,000 rows in three kinds, every row scanned (no lists probed), 100 re-scored per search."""
    rng = np.random.default_rng(5)
    n, dim = 4000, 24
    centres = rng.normal(size=(30, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 30, n)] + rng.normal(scale=0.4, size=(n, dim)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    kinds = ["image", "page", "text"]
    modality = [kinds[i % 3] if i % 7 else "region" for i in range(n)]
    folder = tmp_path_factory.mktemp("warm") / "space"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 400)
        shortlist_module.build(folder, vectors, [f"r{i:05d}" for i in range(n)], modality, ["x"] * n,
                               np.arange(n, dtype=np.float64), version=1, prefix=8)
    return folder, vectors, rng


@pytest.mark.parametrize("scan_all", [True, False])
def test_per_kind_searches_reuse_exact_scores_and_answer_as_a_fresh_shortlist(built, monkeypatch, scan_all):
    folder, vectors, rng = built
    monkeypatch.setattr(shortlist_module, "RESCORE", 100)
    monkeypatch.setattr(shortlist_module, "RESCORE_PER_RESULT", 2)
    monkeypatch.setattr(shortlist_module, "EXACT_KIND_ROWS", 10)  # every kind through the codes, as at 100k rows
    monkeypatch.setattr(shortlist_module, "SCAN_ALL_ROWS", 10**9 if scan_all else 0)
    warm = Shortlist(folder)
    filters = [None, Filters(modalities=(Modality.IMAGE,)), Filters(modalities=(Modality.PAGE, Modality.REGION)),
               Filters(modalities=(Modality.TEXT,))]
    for _ in range(4):
        q = rng.normal(size=vectors.shape[1]).astype(np.float32)
        q /= np.linalg.norm(q)
        gathered: list[int] = []
        original = warm.vectors
        warm.vectors = type("Counting", (), {"__getitem__": lambda self, rows: gathered.append(len(rows)) or original[rows]})()
        try:
            answers = [warm.search(q, 30, f) for f in filters]  # one engine query: unfiltered, then kind by kind
        finally:
            warm.vectors = original
        for f, answer in zip(filters, answers):
            assert answer == Shortlist(folder).search(q, 30, f)  # ids and scores, bit for bit
            assert len(answer) == 30
        assert gathered[0] == 100 and sum(gathered[1:]) < 300  # the kinds' re-scoring read fewer rows than 3 x 100


def test_a_scan_in_two_halves_scores_every_row_as_one_pass(built, monkeypatch):
    folder, vectors, rng = built
    q = rng.normal(size=vectors.shape[1]).astype(np.float32)
    one_pass = Shortlist(folder)._scanned(q)
    monkeypatch.setattr(shortlist_module, "SPLIT_SCAN_ROWS", 100)
    halves = Shortlist(folder)._scanned(q)
    np.testing.assert_array_equal(halves, one_pass)
    monkeypatch.setattr(shortlist_module, "SCAN_ALL_ROWS", 10**9)
    pages = Filters(modalities=(Modality.PAGE,))
    monkeypatch.setattr(shortlist_module, "SPLIT_SCAN_ROWS", 10**9)
    whole = [Shortlist(folder).search(q, 20, f) for f in (None, pages)]
    monkeypatch.setattr(shortlist_module, "SPLIT_SCAN_ROWS", 100)
    assert [Shortlist(folder).search(q, 20, f) for f in (None, pages)] == whole


def test_bm25_without_row_ids_in_the_answer_reads_item_ids(store, monkeypatch):
    """A lancedb whose BM25 answer lacks the row ids it was asked for: the plain query answers, and the map is not
    used again for that version."""
    import lancedb.query

    import polyseek.stores.lancedb as lance_module

    want = lance_bm25(store, "revenue chart", 10)
    monkeypatch.setattr(lance_module, "ROW_ID_MAP_AFTER", 1)
    monkeypatch.setattr(lancedb.query.LanceFtsQueryBuilder, "with_row_id", lambda self, *_: self, raising=False)
    assert store.text_search("revenue chart", 10) == want
    assert store._row_ids_at[1] < 0 and store._row_ids_at[2] is None
    assert store.text_search("revenue chart", 10) == want
