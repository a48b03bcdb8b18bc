"""Contract tests every store backend must pass; each is compared with the in-memory reference."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import InvalidInputError, StoreError, StoreURIError
from polyseek.stores import Row, open_store
from polyseek.stores.memory import MemoryStore
from polyseek.types import Filters, Modality

DIM = 8


def make_rows(n: int = 40, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    words = ["dog", "cat", "grass", "beach", "revenue", "chart", "rocket", "coffee"]
    for i in range(n):
        vector = rng.normal(size=DIM).astype(np.float32)
        vector /= np.linalg.norm(vector)
        ext = ["jpg", "txt", "pdf"][i % 3]
        rows.append(Row(
            id=f"item{i:03d}", doc=f"/data/doc{i // 2}.{ext}", path=f"/data/{'a' if i < n // 2 else 'b'}/doc{i // 2}.{ext}",
            modality=[Modality.IMAGE, Modality.TEXT, Modality.PAGE][i % 3].value,
            text="" if ext == "jpg" else f"{words[i % 8]} {words[(i * 3) % 8]} number{i}",
            locator={"page": 1 + i % 4, "bbox": None} if ext == "pdf" else {},
            metadata={"i": i}, date=1_700_000_000 + i * 86400,
            vectors={"image": vector} if ext == "jpg" else {"image": vector, "text": vector[::-1].copy()},
        ))
    return rows


class StoreContract:
    """Subclasses provide ``make_store(tmp_path)``; every backend gets the same checks."""

    def make_store(self, tmp_path):  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path):
        store = self.make_store(tmp_path)
        store.create({"image": DIM, "text": DIM})
        store.upsert(make_rows())
        store.optimize()  # the writer's step after a batch: indexes (full-text too) are built here, never by a search
        yield store
        store.close()

    @pytest.fixture
    def reference(self):
        store = MemoryStore()
        store.create({"image": DIM, "text": DIM})
        store.upsert(make_rows())
        return store

    def test_count_and_get(self, store):
        assert store.count() == 40
        rows = store.get(["item005", "nope", "item001"])
        assert [r.id for r in rows] == ["item005", "item001"]
        assert rows[0].locator == {"page": 2, "bbox": None}
        assert rows[0].metadata == {"i": 5}
        assert rows[1].to_item().modality is Modality.TEXT

    def test_vector_search_matches_reference(self, store, reference):
        rng = np.random.default_rng(7)
        for space in ("image", "text"):
            for _ in range(5):
                query = rng.normal(size=DIM).astype(np.float32)
                query /= np.linalg.norm(query)
                got = store.search(space, query, 10)
                want = reference.search(space, query, 10)
                assert [i for i, _ in got] == [i for i, _ in want]
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-4)

    def test_space_only_holds_rows_with_that_vector(self, store):
        ids = {i for i, _ in store.search("text", np.ones(DIM, np.float32) / np.sqrt(DIM), 100)}
        assert ids and all(int(i[4:]) % 3 != 0 for i in ids)  # jpg rows have no text vector

    def test_filters_match_reference(self, store, reference):
        query = np.ones(DIM, np.float32) / np.sqrt(DIM)
        for filters in [
            Filters(file_types=("pdf",)),
            Filters(path_glob="/data/a/*"),
            Filters(modalities=(Modality.TEXT,)),
            Filters(date_from=1_700_000_000 + 10 * 86400, date_to=1_700_000_000 + 20 * 86400),
            Filters(path_glob="/data/b/doc1?.txt", file_types=("txt",)),
        ]:
            got = [i for i, _ in store.search("image", query, 100, filters)]
            want = [i for i, _ in reference.search("image", query, 100, filters)]
            assert got == want, filters

    def test_random_filters_and_queries_match_reference(self, store, reference):
        """Congruence: 100 random filter combinations and query vectors give the reference store's results."""
        rng = np.random.default_rng(11)
        globs = ["/data/a/*", "/data/?/doc1*", "/data/[ab]/doc2?.*", "/data/[!a]/*.pdf", "*doc1[0-4].txt",
                 "/data/b/doc_*", "*%*", "/data/a/doc?.jpg", "*", "/data/*/doc3*"]
        for trial in range(100):
            query = rng.normal(size=DIM).astype(np.float32)
            query /= np.linalg.norm(query)
            start = 1_700_000_000 + int(rng.integers(0, 30)) * 86400
            filters = Filters(
                path_glob=str(rng.choice(globs)) if rng.random() < 0.4 else None,
                file_types=tuple(str(t) for t in rng.choice(["jpg", "txt", "pdf"], size=int(rng.integers(1, 3)), replace=False))
                if rng.random() < 0.4 else (),
                modalities=(Modality.TEXT, Modality.PAGE) if rng.random() < 0.3 else (),
                date_from=float(start) if rng.random() < 0.3 else None,
                date_to=float(start + int(rng.integers(1, 20)) * 86400) if rng.random() < 0.3 else None,
            )
            space = "image" if trial % 2 else "text"
            k = int(rng.integers(1, 30))
            got = store.search(space, query, k, filters)
            want = reference.search(space, query, k, filters)
            assert [i for i, _ in got] == [i for i, _ in want], (trial, filters)
            np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-4)

    def test_text_search_finds_terms(self, store, reference):
        got = [i for i, _ in store.text_search("number13", 5)]
        assert got[:1] == ["item013"]
        assert set(i for i, _ in store.text_search("rocket", 50)) == set(i for i, _ in reference.text_search("rocket", 50))
        assert store.text_search("rocket", 50, Filters(file_types=("pdf",)))
        assert all(i in {r.id for r in make_rows() if r.path.endswith(".pdf")} for i, _ in store.text_search("rocket", 50, Filters(file_types=("pdf",))))

    def test_upsert_replaces_by_id(self, store):
        row = make_rows()[4]
        row.text = "replaced zebra"
        store.upsert([row])
        assert store.count() == 40
        assert store.get(["item004"])[0].text == "replaced zebra"
        assert [i for i, _ in store.text_search("zebra", 3)] == ["item004"]

    def test_delete_by_id_and_doc(self, store):
        store.delete(ids=["item000"])
        assert store.count() == 39
        store.delete(docs=["/data/doc1.pdf", "/data/doc1.jpg"])  # rows 2 and 3
        assert store.count() == 37
        assert store.get(["item002", "item003"]) == []
        assert "item002" not in {i for i, _ in store.search("image", np.ones(DIM, np.float32), 100)}

    def test_refuses_bad_vectors_and_writes_nothing(self, store):
        bad = make_rows(2, seed=3)
        bad[0].id, bad[1].id = "new0", "new1"
        bad[1].vectors = {"image": np.full(DIM, np.nan, np.float32)}
        with pytest.raises(InvalidInputError, match="NaN"):
            store.upsert(bad)
        bad[1].vectors = {"image": np.ones(DIM + 1, np.float32)}
        with pytest.raises(InvalidInputError, match="dims"):
            store.upsert(bad)
        assert store.count() == 40 and store.get(["new0"]) == []

    def test_get_vectors(self, store):
        vectors = store.get_vectors("text", ["item001", "item000"])
        assert set(vectors) == {"item001"}
        np.testing.assert_allclose(vectors["item001"], make_rows()[1].vectors["text"], atol=1e-6)


class TestMemoryStore(StoreContract):
    def make_store(self, tmp_path):
        return open_store("memory://")


class TestLanceStore(StoreContract):
    def make_store(self, tmp_path):
        return open_store(tmp_path / "lance")

    def test_persists_across_reopen(self, store, tmp_path):
        reopened = open_store(tmp_path / "lance")
        assert reopened.count() == 40 and reopened.spaces == {"image": DIM, "text": DIM}

    def test_dimension_conflict(self, store):
        with pytest.raises(StoreError, match="already holds"):
            store.create({"image": DIM * 2})


def test_unknown_scheme_lists_valid_ones():
    with pytest.raises(StoreURIError, match="memory://"):
        open_store("redis://localhost")


class TestLanceStoreScanPath(StoreContract):
    """The same checks through Lance's own scan (the path large tables and path globs take)."""

    @pytest.fixture(autouse=True)
    def no_flat_cache(self, monkeypatch):
        import polyseek.stores.lancedb as lance_module

        monkeypatch.setattr(lance_module, "ANN_MIN_ROWS", 0)

    def make_store(self, tmp_path):
        return open_store(tmp_path / "lance")


def test_lance_ann_index_is_built_and_searched(tmp_path, monkeypatch):
    """Past the size threshold, optimize() builds the vector index and searches go through it."""
    import polyseek.stores.lancedb as lance_module

    monkeypatch.setattr(lance_module, "ANN_MIN_ROWS", 500)
    monkeypatch.setattr(lance_module, "ROWS_PER_PARTITION", 256)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(20, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 20, 1200)] + rng.normal(scale=0.05, size=(1200, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = open_store(tmp_path / "ann")
    store.create({"image": DIM})
    store.upsert([Row(id=f"v{i}", doc=f"/d/{i}", path=f"/d/{i}.jpg", modality="image", vectors={"image": v})
                  for i, v in enumerate(vectors)])
    store.optimize()
    columns = {c for ix in store.table.list_indices() for c in ix.columns}
    assert {"vec_image", "has_image"} <= columns
    overlap = []
    for q in vectors[:20]:
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        got = {int(i[1:]) for i, _ in store.search("image", q, 10)}
        overlap.append(len(got & exact) / 10)
    assert np.mean(overlap) > 0.6
