"""The quantised shortlist of a large LanceDB space: used when fresh, recall against exact, filters, staleness."""

from __future__ import annotations

import numpy as np
import pytest

import polyseek.stores.lancedb as lance_module
import polyseek.stores.shortlist as shortlist_module
from polyseek.stores import Row, open_store
from polyseek.types import Filters, Modality
from tests.stores.test_contract import StoreContract

DIM = 32
KINDS = (("image", "jpg"), ("page", "pdf"), ("text", "md"))


class TestLanceShortlistPath(StoreContract):
    """Every contract check with the shortlist answering vector searches (tiny tables: one list, all re-scored)."""

    @pytest.fixture(autouse=True)
    def small_thresholds(self, monkeypatch):
        monkeypatch.setattr(lance_module, "ANN_MIN_ROWS", 0)
        monkeypatch.setattr(lance_module, "SHORTLIST_MIN_ROWS", 0)

    def make_store(self, tmp_path):
        return open_store(tmp_path / "lance")


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """3,000 clustered rows in two spaces, with thresholds scaled down so optimize() writes shortlists (built once
    for the module; the test that writes to it runs last)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _large(tmp_path_factory.mktemp("shortlist"), monkeypatch)


def _large(tmp_path, monkeypatch):
    monkeypatch.setattr(lance_module, "ANN_MIN_ROWS", 1000)
    monkeypatch.setattr(lance_module, "SHORTLIST_MIN_ROWS", 1000)
    monkeypatch.setattr(lance_module, "ROWS_PER_PARTITION", 512)
    monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 100)
    monkeypatch.setattr(shortlist_module, "NPROBE", 6)
    monkeypatch.setattr(shortlist_module, "EXACT_FILTERED_ROWS", 150)
    monkeypatch.setattr(shortlist_module, "PREFIX", 16)
    rng = np.random.default_rng(3)
    n = 3000
    centres = rng.normal(size=(40, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, n)] + rng.normal(scale=0.3, size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    other = vectors[:, ::-1].copy()
    rows = []
    for i in range(n):
        modality, ext = KINDS[i % 3] if i % 50 else ("audio_segment", "mp3")  # 60 audio rows: a selective filter
        rows.append(Row(id=f"r{i:05d}", doc=f"/d/{i}", path=f"/d/{i}.{ext}", modality=modality, date=float(i),
                        vectors={"image": vectors[i], "text": other[i]}))
    store = open_store(tmp_path / "big")
    store.create({"image": DIM, "text": DIM})
    for s in range(0, n, 1000):
        store.upsert(rows[s : s + 1000])
    store.optimize()
    yield store, vectors, rows
    store.close()


def exact(vectors: np.ndarray, rows: list[Row], q: np.ndarray, k: int, keep=lambda row: True) -> list[str]:
    scores = vectors @ q
    order = sorted((i for i in range(len(rows)) if keep(rows[i])), key=lambda i: -scores[i])
    return [rows[i].id for i in order[:k]]


def test_optimize_writes_and_search_uses_the_shortlist(large):
    store, vectors, rows = large
    assert (store.path / lance_module.SHORTLIST_FOLDER / "image" / "meta.json").exists()
    rng = np.random.default_rng(9)
    recalls = []
    for j in rng.choice(len(rows), 30, replace=False):
        q = vectors[j] + rng.normal(scale=0.2, size=DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        got = store.search("image", q, 10)
        recalls.append(len({i for i, _ in got} & set(exact(vectors, rows, q, 10))) / 10)
        by_id = {r.id: k for k, r in enumerate(rows)}
        for row_id, score in got:  # scores are exact inner products, best first
            assert score == pytest.approx(float(vectors[by_id[row_id]] @ q), abs=1e-5)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert "image" in store.shortlists._open  # the answer came from the shortlist, not Lance's index
    assert np.mean(recalls) >= 0.9


def test_filters_through_the_shortlist_only_return_matching_rows(large):
    store, vectors, rows = large
    rng = np.random.default_rng(5)
    cases = [
        (Filters(modalities=(Modality.PAGE,)), lambda r: r.modality == "page"),  # a third: more lists probed
        (Filters(modalities=(Modality.AUDIO_SEGMENT,)), lambda r: r.modality == "audio_segment"),  # 60 rows: exact scan
        (Filters(file_types=("jpg", "md"), date_from=500.0, date_to=2500.0),
         lambda r: r.ext in ("jpg", "md") and 500 <= r.date <= 2500),
        (Filters(file_types=("docx",)), lambda r: False),
    ]
    for filters, keep in cases:
        recalls = []
        for j in rng.choice(len(rows), 10, replace=False):
            q = vectors[j]
            got = [i for i, _ in store.search("image", q, 10, filters)]
            by_id = {r.id: r for r in rows}
            assert all(keep(by_id[i]) for i in got)
            want = exact(vectors, rows, q, 10, keep)
            assert len(got) == len(want)
            recalls.append(len(set(got) & set(want)) / len(want) if want else 1.0)
            if filters.modalities == (Modality.AUDIO_SEGMENT,):
                assert got == want  # the selective filter is answered exactly
        assert np.mean(recalls) >= 0.9, filters


def test_path_globs_still_go_through_lance(large):
    store, vectors, rows = large
    got = store.search("image", vectors[7], 5, Filters(path_glob="/d/7.*"))
    assert [i for i, _ in got] == ["r00007"]


def test_a_write_makes_the_shortlist_stale_until_optimize(large):
    store, vectors, rows = large
    q = -vectors[0]  # far from everything stored
    store.upsert([Row(id="new", doc="/d/new", path="/d/new.jpg", modality="image", vectors={"image": q, "text": q})])
    assert store.search("image", q, 1)[0][0] == "new"  # the stale shortlist is not used: Lance answers
    store.delete(ids=["r00001"])
    assert "r00001" not in {i for i, _ in store.search("image", vectors[1], 5)}
    store.optimize()
    store.shortlists._open.clear()
    assert store.search("image", q, 1)[0][0] == "new"
    assert "r00001" not in {i for i, _ in store.search("image", vectors[1], 5)}
    assert "image" in store.shortlists._open


def test_one_query_with_several_filters_matches_the_reference(tmp_path):
    """The exact path reuses a query's scores across filters (one search per kind): each answer stays its own."""
    from polyseek.stores.memory import MemoryStore
    from tests.stores.test_contract import DIM as CONTRACT_DIM
    from tests.stores.test_contract import make_rows

    store, reference = open_store(tmp_path / "lance"), MemoryStore()
    for s in (store, reference):
        s.create({"image": CONTRACT_DIM, "text": CONTRACT_DIM})
        s.upsert(make_rows())
    q = make_rows()[7].vectors["image"]
    for filters in (None, Filters(modalities=(Modality.PAGE,)), Filters(file_types=("jpg",)),
                    Filters(modalities=(Modality.TEXT, Modality.IMAGE), date_to=1_700_000_000 + 20 * 86400), None):
        assert [i for i, _ in store.search("image", q, 5, filters)] == [i for i, _ in reference.search("image", q, 5, filters)]
    store.upsert([Row(id="zz", doc="/z", path="/z.jpg", modality="image", vectors={"image": q})])  # new version
    assert store.search("image", q, 1)[0][0] in ("zz", "item007")
    assert "zz" in [i for i, _ in store.search("image", q, 2)]
    store.close()


class TestLanceFlatSnapshotPath(StoreContract):
    """Every contract check with the exact scan reading optimize()'s flat snapshot (memory-mapped) instead of Lance."""

    @pytest.fixture(autouse=True)
    def small_thresholds(self, monkeypatch):
        monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 0)

    def make_store(self, tmp_path):
        return open_store(tmp_path / "lance")


def test_a_new_process_scans_the_flat_snapshot_and_a_write_makes_it_stale(tmp_path, monkeypatch):
    """The snapshot answers exactly what the table answers, is used only for the version it was written for,
    and is refreshed by the next optimize()."""
    from tests.stores.test_contract import DIM as CONTRACT_DIM
    from tests.stores.test_contract import make_rows

    monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 0)
    writer = open_store(tmp_path / "lance")
    writer.create({"image": CONTRACT_DIM, "text": CONTRACT_DIM})
    writer.upsert(make_rows())
    queries = [r.vectors["image"] for r in make_rows(6, seed=4)]
    cases = [None, Filters(modalities=(Modality.PAGE,)), Filters(file_types=("jpg", "txt"), date_to=1_700_000_000 + 20 * 86400)]
    from_table = [writer.search("image", q, 7, f) for q in queries for f in cases]  # before optimize: read from Lance
    wanted = ["item039", "nothing", "item000", "item017", "item000"]
    rows_from_table = writer.get(wanted)
    assert not (writer.path / lance_module.SHORTLIST_FOLDER / "image").exists()
    writer.optimize()
    meta = writer.path / lance_module.SHORTLIST_FOLDER / "image" / "meta.json"
    assert '"kind": "flat"' in meta.read_text()
    reader = open_store(tmp_path / "lance")  # a new process: the snapshot, memory-mapped
    assert [reader.search("image", q, 7, f) for q in queries for f in cases] == from_table
    assert isinstance(reader._flat_cache["image"][1], np.memmap)
    assert reader.get(wanted) == rows_from_table and [r.id for r in rows_from_table] == ["item039", "item000", "item017", "item000"]
    assert reader._rows_snapshot_at[1] is not None  # the rows came from the rows snapshot
    q = -queries[0]
    writer.upsert([Row(id="new", doc="/d/new", path="/d/new.jpg", modality="image", vectors={"image": q, "text": q})])
    fresh = open_store(tmp_path / "lance")
    assert fresh.search("image", q, 1)[0][0] == "new"  # the stale snapshot is not used: Lance's vectors are
    assert [r.id for r in fresh.get(["new", "item001"])] == ["new", "item001"] and fresh._rows_snapshot_at[1] is None
    assert not isinstance(fresh._flat_cache["image"][1], np.memmap)
    writer.optimize()
    again = open_store(tmp_path / "lance")
    assert again.search("image", q, 1)[0][0] == "new"
    assert isinstance(again._flat_cache["image"][1], np.memmap)
    for s in (writer, reader, fresh, again):
        s.close()


def test_recent_query_scores_are_reused_and_an_opposite_query_is_negated_exactly(tmp_path, monkeypatch):
    from tests.stores.test_contract import DIM as CONTRACT_DIM
    from tests.stores.test_contract import make_rows

    store = open_store(tmp_path / "lance")
    store.create({"image": CONTRACT_DIM, "text": CONTRACT_DIM})
    store.upsert(make_rows())
    rng = np.random.default_rng(2)
    queries = [rng.normal(size=CONTRACT_DIM).astype(np.float32) for _ in range(3)]
    first = [store.search("image", q, 40) for q in queries] + [store.search("image", -q, 40) for q in queries]
    products, einsum = [], np.einsum
    monkeypatch.setattr(lance_module.np, "einsum", lambda *a, **k: products.append(1) or einsum(*a, **k))
    again = [store.search("image", q, 40, Filters(modalities=(Modality.IMAGE,))) for q in queries]
    assert not products  # three queries asked before: no new matrix product
    assert again == [[(i, s) for i, s in ranked if i in {r.id for r in make_rows() if r.modality == "image"}][: len(a)]
                     for ranked, a in zip(first, again)]
    matrix, columns = store._flat("image", store.table.version)
    for q, opposite in zip(queries, first[3:]):
        exact_scores = {i: float(s) for i, s in zip(columns["id"], einsum("ij,j->i", matrix, -q))}
        assert all(exact_scores[i] == s for i, s in opposite)  # bit for bit what a fresh product gives
    store.close()


def test_lancedb_imports_without_the_rest_client_apis_and_they_still_load_on_use():
    import subprocess
    import sys

    code = ("import sys, pydantic; from polyseek.stores.lancedb import import_lancedb; db = import_lancedb(); "
            "print(any(m.startswith('lance_namespace_urllib3_client.api.') for m in sys.modules)); "
            "import lance_namespace_urllib3_client as c; print(c.ApiClient.__name__); "
            "from lance_namespace_urllib3_client.models import ListTablesResponse as R; print(R(tables=['t']).tables[0]); "
            "print('defer_build' in pydantic.BaseModel.model_config)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # the deferred models still validate on first use, and pydantic's defaults are as they were for every other model
    assert out == ["False", "ApiClient", "t", "False"]


def test_the_rows_snapshot_finds_exact_ids_only(tmp_path):
    import pyarrow as pa

    rows = pa.table({"id": ["b", "ab", "a", "abc", "é"], "text": ["B", "AB", "A", "ABC", "E"]})
    shortlist_module.build_rows(tmp_path / "rows", rows, version=3)
    snapshot = shortlist_module.RowsSnapshot(tmp_path / "rows")
    got = snapshot.records(["abcd", "ab", "zz", "", "é", "0"])  # "abcd" is longer than any stored id
    assert sorted((r["id"], r["text"]) for r in got) == [("ab", "AB"), ("é", "E")]
    assert shortlist_module.build_rows(tmp_path / "nul", pa.table({"id": ["x\0"], "text": ["X"]}), version=1) is None


def test_json_fields_parsed_together_equal_each_parsed_alone():
    texts = ['{"page": 3, "bbox": [0.1, 0.25, 1e-3, 7]}', "{}", None, "", '{"a": {"b": [1, "x,]"]}}',
             '{"s": "\\u00e9 ]["}', '{"n": 123456789012345678901234567890}']
    assert shortlist_module._json_objects(texts) == [shortlist_module._json_object(t) for t in texts]
    assert shortlist_module._json_objects(["{}", None]) == [{}, {}]
    # a field that is not one JSON value is parsed alone, as before (and fails alone, as before)
    with pytest.raises(ValueError):
        shortlist_module._json_objects(['{"a": 1}', "[1", "2]"])
    with pytest.raises(ValueError):
        shortlist_module._json_objects(['{"a": 1}', '1, 2'])
    with pytest.raises(ValueError):  # the same count of values, but not the fields' own
        shortlist_module._json_objects(["[1", "2]", "3, 4"])
    assert shortlist_module._json_objects(["null", "[]", '{"a": 1}']) == [None, [], {"a": 1}]


def test_rows_of_the_rows_snapshot_equal_its_records(tmp_path):
    import json

    import pyarrow as pa

    ids = [f"i{j}" for j in range(40)]
    table = pa.table({"id": ids, "doc": [f"/d/{j}" for j in range(40)], "path": [f"/d/{j}.pdf" for j in range(40)],
                      "ext": ["pdf"] * 40, "modality": ["page" if j % 2 else "text" for j in range(40)],
                      "date": [float(j) if j % 3 else None for j in range(40)],
                      "locator": [json.dumps({"page": j, "bbox": None}) if j % 2 else "{}" for j in range(40)],
                      "metadata": [json.dumps({"n": j}) if j % 5 == 0 else None for j in range(40)],
                      "text": [None if j % 7 == 0 else f"words {j}" for j in range(40)]})
    shortlist_module.build_rows(tmp_path / "rows", table, version=1)
    snapshot = shortlist_module.RowsSnapshot(tmp_path / "rows")
    wanted = ["i7", "i3", "missing", "i10", "i30", "i3"]
    expected = {r["id"]: Row(id=r["id"], doc=r["doc"], path=r["path"], modality=r["modality"],
                             locator=json.loads(r["locator"]), text=r["text"] or "",
                             metadata=json.loads(r["metadata"] or "{}"), date=r["date"] or 0.0)
                for r in snapshot.records(wanted)}
    got = snapshot.rows(wanted)
    assert {row.id: row for row in got} == expected and len(expected) == 4
    assert expected["i3"].locator == {"page": 3, "bbox": None} and expected["i10"].metadata == {"n": 10}


def test_vectors_of_a_scanned_space_come_from_memory_and_match_lance(tmp_path):
    from tests.stores.test_contract import DIM as CONTRACT_DIM
    from tests.stores.test_contract import make_rows

    store = open_store(tmp_path / "lance")
    store.create({"image": CONTRACT_DIM, "text": CONTRACT_DIM})
    store.upsert(make_rows())
    wanted = ["item003", "item000", "nothing", "item001"]  # photos (000, 003) have no text vector
    from_lance = {space: store.get_vectors(space, wanted) for space in ("image", "text")}
    assert "text" not in store._positions_of and "image" not in store._flat_cache
    for space in ("image", "text"):
        store.search(space, make_rows()[5].vectors["image"], 3)
        from_memory = store.get_vectors(space, wanted)
        assert space in store._positions_of
        assert sorted(from_memory) == sorted(from_lance[space]) == (["item000", "item001", "item003"] if space == "image" else ["item001"])
        assert all(np.array_equal(from_memory[i], from_lance[space][i]) for i in from_memory)
    store.close()


def test_an_id_ending_in_nul_leaves_the_space_on_lance(tmp_path, monkeypatch):
    """numpy's fixed-width ids would drop a trailing NUL byte: such a space gets no flat snapshot, and answers right."""
    monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 0)
    store = open_store(tmp_path / "lance")
    store.create({"image": 4})
    q = np.array([1, 0, 0, 0], dtype=np.float32)
    store.upsert([Row(id="odd\0", doc="/a", path="/a.jpg", modality="image", vectors={"image": q}),
                  Row(id="plain", doc="/b", path="/b.jpg", modality="image", vectors={"image": -q})])
    store.optimize()
    assert not (store.path / lance_module.SHORTLIST_FOLDER / "image").exists()
    reader = open_store(tmp_path / "lance")
    assert [i for i, _ in reader.search("image", q, 2)] == ["odd\0", "plain"]
    assert [r.id for r in reader.get(["odd\0"])] == ["odd\0"] and set(reader.get_vectors("image", ["odd\0"])) == {"odd\0"}
    for s in (store, reader):
        s.close()


@pytest.mark.parametrize("scan_all", [True, False], ids=["one-pass", "probed-lists"])
def test_the_shortlist_equals_exact_when_it_rescores_every_row(large, monkeypatch, scan_all):
    """With every row re-scored (and, probed, every list probed), the shortlist is the exact search: same ids,
    same order, exact scores, for every filter, however the query's earlier searches left its cache."""
    store, vectors, rows = large
    monkeypatch.setattr(shortlist_module, "SCAN_ALL_ROWS", 10**9 if scan_all else 0)
    monkeypatch.setattr(shortlist_module, "RESCORE", len(rows))
    monkeypatch.setattr(shortlist_module, "NPROBE", 10**6)
    monkeypatch.setattr(shortlist_module, "EXACT_KIND_ROWS", 0)
    shortlist = store.shortlists.get("image", store.table.version)
    assert shortlist is not None
    cases = [(None, lambda r: True), (Filters(modalities=(Modality.PAGE,)), lambda r: r.modality == "page"),
             (Filters(modalities=(Modality.IMAGE, Modality.TEXT)), lambda r: r.modality in ("image", "text")),
             (Filters(modalities=(Modality.PAGE,), date_to=1500.0), lambda r: r.modality == "page" and r.date <= 1500)]
    rng = np.random.default_rng(11)
    for j in rng.choice(len(rows), 4, replace=False):
        q = vectors[j] + rng.normal(scale=0.3, size=DIM).astype(np.float32)
        for filters, keep in cases + cases[::-1]:  # the second round answers from the query's cached codes' scores
            got = shortlist.search(q, 20, filters)
            assert [i for i, _ in got] == exact(vectors, rows, q, 20, keep)
            by_id = {r.id: k for k, r in enumerate(rows)}
            assert all(s == pytest.approx(float(vectors[by_id[i]] @ q), abs=1e-5) for i, s in got)


def test_probed_lists_filtered_by_kind_score_only_that_kind(large, monkeypatch):
    """Each list stores its rows kind by kind: a search for one kind scores that kind's codes only, and finds what
    the exact search finds (recall over 20 queries)."""
    store, vectors, rows = large
    monkeypatch.setattr(shortlist_module, "SCAN_ALL_ROWS", 0)
    monkeypatch.setattr(shortlist_module, "EXACT_KIND_ROWS", 0)  # the page rows are probed, not scanned exactly
    shortlist = store.shortlists.get("image", store.table.version)
    assert shortlist is not None
    shortlist._recent.clear()
    page = shortlist.modalities.index("page")
    kinds = np.asarray(shortlist.modality)[shortlist.order]
    per_kind = len(shortlist.modalities)
    for c in range(len(shortlist.offsets) - 1):  # the kind's block of each list holds that kind's rows only
        start, end = shortlist.bounds[c * per_kind + page], shortlist.bounds[c * per_kind + page + 1]
        assert (kinds[start:end] == page).all()
    scored: list[int] = []
    codes = shortlist.codes

    class Spy(np.ndarray):
        pass

    spy = codes.view(Spy)
    original = Spy.__getitem__

    def record(self, item):
        scored.append(len(np.asarray(codes)[item]))
        return original(self, item)

    monkeypatch.setattr(Spy, "__getitem__", record)
    monkeypatch.setattr(shortlist, "codes", spy)
    rng = np.random.default_rng(4)
    keep = lambda r: r.modality == "page"  # noqa: E731
    recalls = []
    for j in rng.choice(len(rows), 20, replace=False):
        got = [i for i, _ in shortlist.search(vectors[j], 10, Filters(modalities=(Modality.PAGE,)))]
        want = exact(vectors, rows, vectors[j], 10, keep)
        recalls.append(len(set(got) & set(want)) / 10)
    assert scored and sum(scored) <= sum(1 for r in rows if keep(r)) * 20  # never another kind's codes
    assert np.mean(recalls) >= 0.9


def test_a_shortlist_space_gives_its_vectors_from_the_memory_map(large):
    store, vectors, rows = large
    store.search("image", vectors[3], 5)
    wanted = ["r00003", "nothing", "r00010"]
    got = store.get_vectors("image", wanted)
    assert sorted(got) == ["r00003", "r00010"]
    assert np.array_equal(got["r00003"], vectors[3]) and np.array_equal(got["r00010"], vectors[10])
    assert "image" in store._positions_of  # found in the shortlist's ids, not asked of Lance


def test_a_shortlist_is_not_built_for_an_id_ending_in_nul(tmp_path):
    vectors = np.eye(4, dtype=np.float32)
    assert shortlist_module.build(tmp_path / "s", vectors, ["a", "b", "c\0", "d"], ["image"] * 4, ["jpg"] * 4,
                                  np.zeros(4), version=1) is None
    assert not (tmp_path / "s").exists()


def test_a_shortlist_written_before_kinds_were_stored_apart_still_answers(tmp_path, monkeypatch):
    """A format-2 shortlist (no per-kind blocks; what optimize() wrote before) is still read and probed whole."""
    import json

    monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 50)
    monkeypatch.setattr(shortlist_module, "SCAN_ALL_ROWS", 0)
    monkeypatch.setattr(shortlist_module, "EXACT_KIND_ROWS", 0)
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(600, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"v{i:03d}" for i in range(600)]
    modality = [KINDS[i % 3][0] for i in range(600)]
    shortlist_module.build(tmp_path / "s", vectors, ids, modality, [KINDS[i % 3][1] for i in range(600)],
                           np.arange(600, dtype=np.float64), version=1)
    (tmp_path / "s" / "bounds.npy").unlink()
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    (tmp_path / "s" / "meta.json").write_text(json.dumps({**meta, "format": 2}))
    old = shortlist_module.Shortlist(tmp_path / "s")
    assert old.bounds is None
    q = vectors[5]
    got = [i for i, _ in old.search(q, 10, Filters(modalities=(Modality.PAGE,)), nprobe=12, rescore=600)]
    pages = [i for i in range(600) if modality[i] == "page"]
    want = [ids[i] for i in sorted(pages, key=lambda i: -float(vectors[i] @ q))[:10]]
    assert got == want
