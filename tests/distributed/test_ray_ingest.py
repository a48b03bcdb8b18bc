"""Ingestion on a real local Ray cluster (two nodes) into a shared Milvus, against the single-process indexer; a killed
worker and a killed coordinator leave no duplicates and no lost items; a second process with no catalog searches
the collection from its URI alone. Ray stays unimported without --ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from polyseek.engine import Engine
from polyseek.errors import IndexMismatchError

pytest.importorskip("pymilvus", reason="needs the milvus extra")
pytest.importorskip("milvus_lite", reason="needs the milvus extra")

ENCODERS = {"image_encoder": "deterministic", "text_encoder": "deterministic"}
POLYSEEK = [sys.executable, "-m", "polyseek"]


def make_folder(root: Path, images: int, notes: int) -> Path:
    """Small photos (random pixels, two sizes), text notes, and one broken file that must fail the same way."""
    from PIL import Image

    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(images):
        size = (48, 64) if i % 2 else (80, 60)
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / f"photo{i:03d}.png")
    for i in range(notes):
        (root / f"note{i:03d}.md").write_text(f"# Note {i}\n\nA red bicycle leans on wall {i}. The dog number {i * 7} sleeps.\n")
    (root / "broken.png").write_bytes(b"not a png at all")
    return root


def snapshot(engine: Engine) -> dict[str, tuple[str, str, np.ndarray | None, np.ndarray | None]]:
    ids = [i for rec in engine.files() for i in engine.indexer.file_item_ids(engine.catalog.file(rec["path"]))]
    rows = {row.id: row for row in engine.store.get(ids)}
    image = engine.store.get_vectors("image", ids)
    text = engine.store.get_vectors("text", ids)
    return {i: (rows[i].path, rows[i].text, image.get(i), text.get(i)) for i in ids}


def ids_in_store(engine: Engine) -> list[str]:
    return [r["id"] for r in engine.store._iterate("", ["id"])]  # every row, duplicates included


@pytest.fixture
def coordinator_home(tmp_path, monkeypatch):
    """The coordinator's own data dir: where a milvus:// collection's catalog (files, journal) lives."""
    home = tmp_path / "coordinator"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return home


def test_ray_is_not_imported_without_the_flag(tmp_path):
    folder = make_folder(tmp_path / "data", images=1, notes=1)
    code = ("import sys, polyseek.cli.app, polyseek.engine as e; "
            f"en = e.Engine('memory://', image_encoder='deterministic', text_encoder='deterministic'); en.index([{str(folder)!r}]); "
            "sys.exit(1 if any(m == 'ray' or m.startswith('ray.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.slow
def test_ray_cluster_matches_single_process_and_serves_from_the_uri(tmp_path, ray_cluster, milvus_server, coordinator_home):
    folder = make_folder(tmp_path / "data", images=10, notes=8)
    with Engine(f"milvus+lite://{tmp_path / 'single.db'}", **ENCODERS) as single:
        plain = single.index([str(folder)])
        expected = snapshot(single)
    uri = f"milvus://{milvus_server}/ray_same"
    with Engine(uri, **ENCODERS) as engine:
        from polyseek.distributed.ray_ingest import RayOptions

        summary = engine.index([str(folder)], ray=RayOptions(address=ray_cluster, workers=2, batch=4))
        got = snapshot(engine)
        assert sorted(ids_in_store(engine)) == sorted(got)  # no duplicates
        again = engine.index([str(folder)], ray=RayOptions(address=ray_cluster))
    assert (summary.added, summary.items, len(summary.failed)) == (plain.added, plain.items, len(plain.failed)) == (18, 18, 1)
    assert summary.failed[0]["path"].endswith("broken.png") and summary.failed[0]["reason"] == plain.failed[0]["reason"]
    assert (again.added, again.unchanged) == (0, 19)
    assert sorted(got) == sorted(expected)
    for item, (path, text, image, vector) in expected.items():
        assert got[item][:2] == (path, text)
        for mine, theirs in ((got[item][2], image), (got[item][3], vector)):
            assert (mine is None) == (theirs is None)
            if theirs is not None:
                np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5)

    # a second machine: another process, another data dir (no catalog), only the collection's URI
    reader_env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "reader"), "HF_HUB_OFFLINE": "1"}
    found = subprocess.run([*POLYSEEK, "search", "red bicycle wall 3", "--store", uri, "--json", "-k", "3"],
                           env=reader_env, capture_output=True, text=True, timeout=180)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    with Engine(uri, read_only=True) as here:
        assert [h["id"] for h in hits] == [h.item.id for h in here.search("red bicycle wall 3", k=3)]
    assert hits[0]["path"].endswith("note003.md")
    assert not list((tmp_path / "reader").rglob("catalog.sqlite"))  # the reader has no catalog and wrote none
    refused = subprocess.run([*POLYSEEK, "search", "dog", "--store", uri, "--text-encoder", "bge-small-onnx"],
                             env=reader_env, capture_output=True, text=True, timeout=180)
    assert refused.returncode == IndexMismatchError.exit_code and "deterministic" in refused.stderr
    assert "Traceback" not in refused.stderr


def _worker_pids() -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "EmbedWorker" in line and "ray::" in line]


@pytest.mark.slow
def test_killed_worker_and_killed_coordinator_lose_nothing_and_duplicate_nothing(tmp_path, ray_cluster, milvus_server,
                                                                                coordinator_home):
    from polyseek.distributed.ray_ingest import RayOptions

    folder = make_folder(tmp_path / "data", images=10, notes=40)
    uri = f"milvus://{milvus_server}/ray_kill"
    killed: list[int] = []

    def on_progress(event) -> None:  # kill one embedding actor (kill -9) once a quarter of the files are written
        if not killed and event.files_done >= 10:
            for pid in _worker_pids()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with Engine(uri, **ENCODERS) as engine:
        try:
            first = engine.index([str(folder)], ray=RayOptions(address=ray_cluster, workers=2, batch=2),
                                 on_progress=on_progress)
            outcome = f"run finished after the kill: {first.added} added"
        except Exception as exc:  # Ray gave up on the actor: the next run goes on
            outcome = f"run stopped: {exc}"
        assert killed, "no embedding actor was found to kill"
        second = engine.index([str(folder)], ray=RayOptions(address=ray_cluster, workers=2))
        items = ids_in_store(engine)
        assert len(items) == len(set(items)) == 50, outcome
        assert len(engine.files()) == 51 and second.added + second.unchanged == 51
        assert [f["path"] for f in engine.files() if f["status"] == "failed"] == [str(folder / "broken.png")]
        print(outcome)  # Ray Data restarts the killed actor and retries its batches: so far the first run always finished

    # the coordinator killed (kill -9) between two journalled writes: the next run undoes any pending batch and finishes
    touched = sorted(folder.glob("note*.md"))
    for path in touched:
        path.write_text(path.read_text() + "\nEdited.\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = ("import sys; from polyseek.engine import Engine; from polyseek.distributed.ray_ingest import RayOptions; "
            f"Engine({uri!r}).index([{str(folder)!r}], ray=RayOptions(address={ray_cluster!r}, workers=2, batch=2, flush_rows=4))")
    run = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)

    from polyseek.indexer import file_hash

    hashes = {str(path): file_hash(path) for path in touched}

    def committed(engine: Engine) -> int:  # edited notes the coordinator's catalog records as indexed
        return sum(1 for key, record in engine.catalog.files().items() if hashes.get(key) == record.hash)

    with Engine(uri, read_only=True) as watcher:  # reads the coordinator's catalog (SQLite, WAL) while it writes
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.poll() is None and committed(watcher) < 4:
            time.sleep(0.1)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        at_kill = committed(watcher)
    assert run.returncode == -signal.SIGKILL and 0 < at_kill < 40, f"the kill did not land mid-run ({at_kill} of 40 in)"
    resumed = subprocess.run([*POLYSEEK, "index", str(folder), "--store", uri, "--ray", "--ray-address", ray_cluster, "--json"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)  # what was committed is not done again; a batch cut short (journal: pending)
    # is undone and forgotten, so it comes back as "added"; the rest of the edited notes as "updated"
    assert (summary["added"] + summary["updated"], summary["unchanged"], summary["failed"]) == (40 - at_kill, 11 + at_kill, [])
    with Engine(uri, **ENCODERS) as engine:
        items = ids_in_store(engine)
        assert len(items) == len(set(items)) == 50
        notes = [row for row in engine.store.get(items) if row.path.endswith(".md")]
        assert len(notes) == 40 and all("Edited" in row.text for row in notes)
