"""The snapshot store (a cold command's reader): the same answers as LanceStore, no lancedb import, never a stale
snapshot."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import polyseek.stores.lancedb as lance_module
import polyseek.stores.shortlist as shortlist_module
from polyseek.stores import Row, open_store
from polyseek.stores.snapshot import SnapshotStore, open_snapshot
from polyseek.types import Filters, Modality
from tests.mcp._loop import run_async

DIM = 16
KINDS = (("image", "jpg"), ("page", "pdf"), ("text", "md"))
WORDS = "harbour ferry lighthouse revenue region coffee rocket galaxy meeting notes dog grass".split()


def thresholds(monkeypatch) -> None:
    """Scaled down so that optimize() writes shortlists and the rows snapshot for 1,200 rows."""
    monkeypatch.setattr(lance_module, "ANN_MIN_ROWS", 100_000)
    monkeypatch.setattr(lance_module, "SHORTLIST_MIN_ROWS", 1000)
    monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 1000)
    monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 100)
    monkeypatch.setattr(shortlist_module, "PREFIX", 8)


def rows(n: int, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    made = []
    for i in range(n):
        modality, ext = KINDS[i % 3]
        text = " ".join(rng.choice(WORDS, 4)) if modality != "image" else ""
        spaces = {"image": vectors[i]} | ({"text": vectors[i][::-1].copy()} if modality != "image" else {})
        made.append(Row(id=f"r{i:05d}", doc=f"/d/{i}", path=f"/d/{'ab'[i % 2]}/{i}.{ext}", modality=modality, text=text,
                        locator={"page": i % 7} if modality == "page" else {}, metadata={"n": i}, date=float(i),
                        vectors=spaces))
    return made


def flat_thresholds(monkeypatch) -> None:
    """...and so that it writes flat snapshots (the exact scan's range, below the shortlists')."""
    thresholds(monkeypatch)
    monkeypatch.setattr(lance_module, "SHORTLIST_MIN_ROWS", 5000)


@pytest.fixture(scope="module", params=["shortlist", "flat"])
def folder(tmp_path_factory, request):
    with pytest.MonkeyPatch.context() as monkeypatch:
        (thresholds if request.param == "shortlist" else flat_thresholds)(monkeypatch)
        path = tmp_path_factory.mktemp(request.param) / "store"
        store = open_store(path)
        store.create({"image": DIM, "text": DIM})
        store.upsert(rows(1200))
        store.optimize()
        store.close()
        yield path


def same_thresholds(folder, monkeypatch) -> None:
    (flat_thresholds if folder.parent.name.startswith("flat") else thresholds)(monkeypatch)


def test_it_answers_what_the_lance_store_answers(folder, monkeypatch):
    same_thresholds(folder, monkeypatch)
    snapshot, lance = open_snapshot(folder), open_store(folder)
    assert isinstance(snapshot, SnapshotStore) and snapshot.spaces == lance.spaces
    rng = np.random.default_rng(5)
    cases = [None, Filters(modalities=(Modality.PAGE,)), Filters(file_types=("md",), date_from=100.0),
             Filters(path_glob="/d/a/*")]
    for space in ("image", "text"):
        for _ in range(4):
            q = rng.normal(size=DIM).astype(np.float32)
            q /= np.linalg.norm(q)
            for f in cases:
                assert snapshot.search(space, q, 12, f) == lance.search(space, q, 12, f)
    ids = [f"r{i:05d}" for i in rng.choice(1200, 40)] + ["nope", "r00001"]
    assert snapshot.get(ids) == lance.get(ids)
    for space in ("image", "text"):
        mine, theirs = snapshot.get_vectors(space, ids), lance.get_vectors(space, ids)
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[i], theirs[i]) for i in mine)
    for text in ("harbour ferry", "revenue", "galaxy meeting notes", "zzz", "   "):
        for f in (None, Filters(modalities=(Modality.TEXT,)), Filters(path_glob="/d/b/*")):
            assert snapshot.text_search(text, 15, f) == lance.text_search(text, 15, f)
    assert snapshot.text_search("harbour", 5) and snapshot.count() == lance.count() == 1200
    snapshot.close()
    lance.close()


def test_a_command_reads_it_without_importing_lancedb(folder):
    """In a new process: open, search by vector and by text, get rows; lancedb's package and pandas stay unloaded."""
    code = f"""
import json, sys
import numpy as np
import polyseek.stores.lancedb as m, polyseek.stores.shortlist as s
m.SHORTLIST_MIN_ROWS, m.FLAT_SNAPSHOT_MIN_ROWS = {5000 if folder.parent.name.startswith("flat") else 1000}, 1000
from polyseek.stores.snapshot import open_snapshot
store = open_snapshot({str(folder)!r})
hits = store.search("image", np.ones({DIM}, dtype=np.float32) / {DIM ** 0.5}, 5)
words = store.text_search("harbour ferry", 5)
got = store.get([i for i, _ in hits])
print(json.dumps({{"hits": len(hits), "words": len(words), "rows": len(got),
                   "loaded": sorted(n for n in ("lancedb", "lancedb.table", "pandas", "pydantic") if n in sys.modules)}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"hits": 5, "words": 5, "rows": 5, "loaded": []}


def test_a_write_makes_it_stale_until_the_next_optimize(tmp_path, monkeypatch):
    thresholds(monkeypatch)
    store = open_store(tmp_path / "store")
    store.create({"image": DIM, "text": DIM})
    made = rows(1100, seed=2)
    store.upsert(made[:1050])
    assert open_snapshot(tmp_path / "store") is None  # no snapshots yet
    store.optimize()
    assert isinstance(open_snapshot(tmp_path / "store"), SnapshotStore)
    store.upsert(made[1050:])  # a new table version: the snapshots describe the one before
    assert open_snapshot(tmp_path / "store") is None
    store.optimize()
    fresh = open_snapshot(tmp_path / "store")
    assert fresh is not None and fresh.count() == 1100
    q = made[1099].vectors["image"]
    assert fresh.search("image", q, 1)[0][0] == made[1099].id
    store.close()


def test_a_write_through_it_goes_to_lance_and_stops_its_snapshot_reads(folder, tmp_path, monkeypatch):
    import shutil

    same_thresholds(folder, monkeypatch)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    snapshot = open_snapshot(copy)
    assert snapshot is not None
    extra = Row(id="zz", doc="/d/zz", path="/d/zz.md", modality="text", text="unique zebra words",
                vectors={"image": np.eye(DIM, dtype=np.float32)[0], "text": np.eye(DIM, dtype=np.float32)[1]})
    snapshot.upsert([extra])
    assert snapshot.count() == 1201 and [r.id for r in snapshot.get(["zz"])] == ["zz"]
    assert snapshot.search("image", np.eye(DIM, dtype=np.float32)[0], 1)[0][0] == "zz"
    snapshot.close()


def test_no_snapshot_outside_the_snapshots_range(folder, monkeypatch):
    same_thresholds(folder, monkeypatch)
    assert open_snapshot(folder) is not None
    monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 5000)  # LanceStore would read Lance, not the files
    assert open_snapshot(folder) is None
    assert open_snapshot(folder.parent / "missing") is None


def build_engine_store(folder, rows: int = 1500, seed: int = 7) -> None:
    """An optimized engine store of ``rows`` mixed items (photos, pages, notes) on 64-word deterministic encoders."""
    from polyseek.engine import Engine

    words = 64
    writer = Engine(folder, image_encoder=f"deterministic:{words}", text_encoder=f"deterministic:{words}")
    writer.spaces.ensure(writer.store)
    rng = np.random.default_rng(seed)
    made = []
    for i in range(rows):
        modality, ext = KINDS[i % 3]
        text = " ".join(rng.choice(WORDS, 5))
        vector = writer.encoder("text").encode_documents([text])[0]
        noise = rng.normal(scale=0.05, size=words).astype(np.float32)
        spaces = {"image": (vector + noise) / np.linalg.norm(vector + noise)} | ({"text": vector} if modality != "image" else {})
        made.append(Row(id=f"r{i:05d}", doc=f"/d/{i}", path=f"/d/{i}.{ext}", modality=modality,
                        text=text if modality != "image" else "", vectors=spaces))
    writer.store.upsert(made)
    writer.store.optimize()
    writer.close()


@pytest.mark.parametrize("mode", ["shortlist", "flat"])
def test_an_engine_on_it_ranks_as_on_the_lance_store(tmp_path, monkeypatch, mode):
    """The whole search pipeline (calibration draws, per-kind searches, BM25, fusion, rows) through both stores, with
    the cold command's early background draw on the snapshot side."""
    from polyseek.cli.remote import draw_backgrounds
    from polyseek.engine import Engine

    (thresholds if mode == "shortlist" else flat_thresholds)(monkeypatch)
    build_engine_store(tmp_path / "store")
    snapshot = open_snapshot(tmp_path / "store")
    assert snapshot is not None
    fast, plain = Engine(snapshot, read_only=True), Engine(tmp_path / "store", read_only=True)
    draw_backgrounds(fast)
    for query in ("harbour ferry", "revenue region notes", "a dog on the grass", "galaxy"):
        for options in ({}, {"filters": Filters(modalities=(Modality.PAGE,))}, {"filters": Filters(path_glob="/d/1*")}):
            mine = [(h.id, h.score) for h in fast.search(query, k=10, **options)]
            assert mine and mine == [(h.id, h.score) for h in plain.search(query, k=10, **options)]
    fast.close()
    plain.close()


def test_an_unknown_core_or_a_running_event_loop_changes_no_answer(folder, monkeypatch):
    same_thresholds(folder, monkeypatch)
    lance = open_store(folder)
    expected = lance.text_search("harbour ferry", 10)
    assert expected
    snapshot = open_snapshot(folder)

    async def inside_a_loop():  # an application with its own event loop (the core's queries then run on a thread)
        return snapshot.text_search("harbour ferry", 10)

    # on a thread of its own: the UI tests' Playwright keeps this thread's loop running (tests/mcp/_loop.py)
    assert run_async(inside_a_loop()) == expected

    def unknown(*args):
        raise AttributeError("no such method in this lancedb")

    other = open_snapshot(folder)
    monkeypatch.setattr(other, "_fts_rows", unknown)
    assert other.text_search("harbour ferry", 10) == expected  # lancedb's own API answered
    for s in (lance, snapshot, other):
        s.close()
