"""Milvus store on Milvus Lite: the shared store contract, URI parsing, filters Milvus cannot express, Engine end to end."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from polyseek.errors import StoreError, StoreURIError
from polyseek.stores import Row, open_store
from polyseek.stores.memory import MemoryStore, bm25_scores
from polyseek.types import Filters
from tests.stores.test_contract import DIM, StoreContract, make_rows

pytest.importorskip("pymilvus", reason="needs the milvus extra: pip install 'polyseek[milvus]'")
pytest.importorskip("milvus_lite", reason="needs the milvus extra: pip install 'polyseek[milvus]'")

from polyseek.stores.filters import glob_to_like as _glob_to_like  # noqa: E402
from polyseek.stores.milvus import MilvusStore, parse_uri  # noqa: E402


def glob_to_like(glob):
    return _glob_to_like(glob, can_escape=False)


def lite_uri(tmp_path, name="index.db", options=""):
    return f"milvus+lite://{tmp_path / name}{options}"


class TestMilvusLiteStore(StoreContract):
    def make_store(self, tmp_path):
        return open_store(lite_uri(tmp_path))

    def test_persists_across_reopen(self, store, tmp_path):
        reopened = open_store(lite_uri(tmp_path))
        try:
            assert reopened.count() == 40 and reopened.spaces == {"image": DIM, "text": DIM}
            assert reopened.get(["item007"])[0].text == store.get(["item007"])[0].text
        finally:
            reopened.close()

    def test_dimension_conflict(self, store):
        with pytest.raises(StoreError, match="already holds"):
            store.create({"image": DIM * 2})

    def test_new_space_on_a_filled_collection_says_how_to_fix(self, store):
        with pytest.raises(StoreError, match="needs a new collection") as info:
            store.create({"audio": DIM})
        assert "collection" in info.value.hint
        assert store.count() == 40  # nothing was dropped

    def test_new_space_on_an_empty_collection_is_added(self, tmp_path):
        store = open_store(lite_uri(tmp_path, "empty.db"))
        try:
            store.create({"image": DIM})
            store.create({"image": DIM, "text": DIM * 2})
            assert store.spaces == {"image": DIM, "text": DIM * 2}
            row = make_rows(1)[0]
            row.vectors = {"text": np.ones(DIM * 2, np.float32) / np.sqrt(2 * DIM)}
            store.upsert([row])
            assert [i for i, _ in store.search("text", row.vectors["text"], 3)] == [row.id]
        finally:
            store.close()

    def test_native_bm25_is_okapi_over_every_row(self, store):
        """Milvus counts rows without text in N and the average length, so its scores equal ``bm25_scores`` over all
        40 texts (not the reference store's 26); equal scores also show k1=1.2, b=0.75 reached the index."""
        rows = make_rows()
        want = {r.id: s for r, s in zip(rows, bm25_scores("rocket chart", [r.text for r in rows])) if s > 0}
        got = dict(store.text_search("rocket chart", 40))
        assert set(got) == set(want)
        np.testing.assert_allclose([got[i] for i in sorted(want)], [want[i] for i in sorted(want)], rtol=1e-5)

    def test_catalog_folder_sits_next_to_the_db_file(self, store, tmp_path):
        assert store.path == tmp_path / "index.polyseek" and store.path.is_dir()

    def test_glob_that_like_cannot_express_is_post_filtered(self, tmp_path):
        """``_``/``%`` cannot be escaped in Milvus ``like`` and classes do not exist: these globs need the exact check."""
        paths = ["/d/my_cat.jpg", "/d/myXcat.jpg", "/d/50%.jpg", "/d/50x.jpg", "/d/a1.jpg", "/d/b1.jpg", "/d/c1.jpg"]
        rng = np.random.default_rng(1)
        rows = []
        for i, path in enumerate(paths):
            vector = rng.normal(size=DIM).astype(np.float32)
            rows.append(Row(id=f"r{i}", doc=path, path=path, modality="image", text=f"word{i} shared",
                            vectors={"image": vector / np.linalg.norm(vector)}))
        store, reference = open_store(lite_uri(tmp_path, "glob.db")), MemoryStore()
        try:
            for s in (store, reference):
                s.create({"image": DIM})
                s.upsert(rows)
            query = np.ones(DIM, np.float32) / np.sqrt(DIM)
            for glob in ["/d/my_cat.jpg", "/d/50%.jpg", "/d/[ab]1.jpg", "/d/[!a]1.jpg", "/d/*_*"]:
                assert glob_to_like(glob)[1], glob
                want = reference.search("image", query, 1, Filters(path_glob=glob))
                got = store.search("image", query, 1, Filters(path_glob=glob))
                assert [i for i, _ in got] == [i for i, _ in want], glob
                want = [i for i, _ in reference.text_search("shared", 10, Filters(path_glob=glob))]
                assert sorted(i for i, _ in store.text_search("shared", 10, Filters(path_glob=glob))) == sorted(want)
        finally:
            store.close()


class TestMilvusLiteScanLexical(StoreContract):
    """``?lexical=scan``: BM25 in Python over the filtered texts, the path for Milvus servers without BM25 (< 2.5)."""

    def make_store(self, tmp_path):
        return open_store(lite_uri(tmp_path, options="?lexical=scan"))

    def test_scan_scores_equal_the_reference(self, store, reference):
        # the same formula on the same texts: scores agree exactly (native Milvus BM25 keeps statistics per segment)
        got, want = store.text_search("rocket chart", 20), reference.text_search("rocket chart", 20)
        assert [i for i, _ in got] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-9)


def test_parse_cluster_uris(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("POLYSEEK_MILVUS_TOKEN", raising=False)
    plain = parse_uri("milvus://db.example:19531")
    assert (plain.connect, plain.collection, plain.db_name, plain.lite) == ("http://db.example:19531", "polyseek", "", False)
    full = parse_uri("milvus+https://alice:s3cret@db.example/prod/photos?index=HNSW")
    assert (full.connect, full.db_name, full.collection, full.token, full.index_type) == (
        "https://db.example:443", "prod", "photos", "alice:s3cret", "HNSW")
    assert "s3cret" not in full.uri and "s3cret" not in str(full.local_dir)
    # the catalog lives under the user data dir, one folder per server/database/collection
    assert full.local_dir.parent == tmp_path / "data" / "polyseek" / "milvus"
    assert parse_uri("milvus://db.example:19530/other").local_dir != parse_uri("milvus://db.example/photos").local_dir
    assert parse_uri("milvus://db.example/photos").local_dir == parse_uri("milvus://db.example:19530/photos").local_dir
    monkeypatch.setenv("POLYSEEK_MILVUS_TOKEN", "root:Milvus")
    assert parse_uri("milvus://db.example").token == "root:Milvus"


@pytest.mark.parametrize("uri, message", [
    ("milvus+lite:///tmp/folder", "ending in .db"),
    ("milvus://", "no host"),
    ("milvus://h/a/b/c", "too many"),
    ("milvus://h/bad-name", "collection name"),
    ("milvus://h?lexcal=scan", "unknown option"),
    ("milvus://h?lexical=fuzzy", "lexical"),
])
def test_bad_milvus_uris(uri, message):
    with pytest.raises(StoreURIError, match=message):
        open_store(uri)


def test_unknown_scheme_names_the_milvus_ones():
    with pytest.raises(StoreURIError) as info:
        open_store("qdrant://localhost:6333")
    assert "milvus://host:port" in str(info.value) and "milvus+lite:///" in str(info.value)


def test_missing_client_names_the_extra(monkeypatch, tmp_path):
    from polyseek.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # what an install without the extra sees
    with pytest.raises(MissingDependencyError, match="pymilvus") as info:
        open_store(lite_uri(tmp_path))
    assert "polyseek[milvus]" in info.value.hint


def test_unreachable_server_is_a_store_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with pytest.raises(StoreError, match="cannot open Milvus store") as info:
        MilvusStore("milvus://127.0.0.1:9?timeout=1")
    assert "running" in info.value.hint


def test_engine_indexes_and_searches_on_milvus_lite(collection, engine_factory, tmp_path):
    from polyseek.types import Modality

    uri = lite_uri(tmp_path, "engine.db")
    engine = engine_factory(uri)
    summary = engine.index([collection])
    assert (summary.added, summary.failed) == (4, ())
    assert (tmp_path / "engine.polyseek" / "catalog.sqlite").is_file()
    red = engine.search("red", k=1, filters=Filters(modalities=(Modality.IMAGE,)))
    assert [h.item.path.rsplit("/", 1)[-1] for h in red] == ["red.jpg"]
    hit = engine.search("dog running grass", k=1)[0]
    assert hit.item.modality is Modality.TEXT and "lexical" in hit.scores
    engine.close()
    again = engine_factory(uri)  # the catalog and the collection both survived: nothing to redo
    assert again.index([collection]).unchanged == 4
    assert again.status()["items"] == summary.items
