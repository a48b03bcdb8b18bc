"""One writer at a time: the store's lock across processes, --no-wait, recovery only under the lock, fresh reader views."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from polyseek.errors import StoreBusyError
from polyseek.locking import WriterLock, lock_for

ENV = {**os.environ, "POLYSEEK_LOG": "WARNING", "HF_HUB_OFFLINE": "1"}


def hold_lock(store: Path, pending: list[str] = ()) -> subprocess.Popen:
    """Another process that holds the store's writer lock (optionally with a batch marked pending, as a live
    indexer has between marking and committing) until :func:`release`; it prints 'held' once it has the lock."""
    code = textwrap.dedent(f"""
        import sys
        from polyseek.catalog import Catalog
        from polyseek.locking import WriterLock
        lock = WriterLock({str(store / 'write.lock')!r})
        with lock.hold():
            Catalog({str(store / 'catalog.sqlite')!r}).mark_pending({list(pending)!r})
            print("held", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "held"
    return proc


def release(holder: subprocess.Popen, after: float = 0.0) -> None:
    time.sleep(after)
    holder.stdin.write("done\n")
    holder.stdin.flush()
    holder.wait(10)


def test_lock_is_reentrant_and_exclusive_between_threads(tmp_path):
    lock = WriterLock(tmp_path / "write.lock")
    order = []
    with lock.hold():
        with lock.hold():
            assert lock.held
        thread = threading.Thread(target=lambda: (lock.acquire(), order.append("other"), lock.release()))
        thread.start()
        time.sleep(0.3)
        order.append("first")  # the other thread still waits: the outer hold is not released yet
    thread.join(5)
    assert order == ["first", "other"]
    assert not lock.held


def test_a_second_process_waits_or_refuses_with_the_holders_pid(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    holder = hold_lock(store)
    threading.Thread(target=release, args=(holder, 1.5)).start()
    lock = WriterLock(store / "write.lock")
    with pytest.raises(StoreBusyError, match=rf"another polyseek is indexing this store \(pid {holder.pid}\)"):
        lock.acquire(wait=False)
    messages = []
    started = time.monotonic()
    with lock.hold(on_wait=messages.append):
        waited = time.monotonic() - started
        assert lock.holder() == os.getpid()
    holder.wait(10)
    assert waited > 0.5, "it must have waited for the other process"
    assert messages and messages[0] == f"another polyseek is indexing this store (pid {holder.pid}); waiting…"


def test_kill_9_releases_the_lock(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    holder = hold_lock(store)
    holder.kill()
    holder.wait(10)
    with WriterLock(store / "write.lock").hold(wait=False):  # no stale lock to clean up
        pass


def test_memory_store_gets_a_process_local_lock():
    from polyseek.stores.base import open_store

    store = open_store("memory://")
    assert lock_for(store) is lock_for(store) and lock_for(store).path is None
    assert lock_for(open_store("memory://")) is not lock_for(store)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polyseek", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


@pytest.mark.slow
def test_cli_no_wait_is_one_clear_line_and_waiting_is_announced(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    store = tmp_path / "store"
    store.mkdir()
    encoders = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]
    holder = hold_lock(store)
    refused = run_cli("index", str(folder), "--store", str(store), *encoders, "--no-wait")
    waiting = subprocess.Popen([sys.executable, "-m", "polyseek", "index", str(folder), "--store", str(store),
                                *encoders, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    first_line = waiting.stderr.readline()  # printed once it finds the lock taken
    release(holder)
    out, err = waiting.communicate(timeout=120)
    waited = subprocess.CompletedProcess(waiting.args, waiting.returncode, out, first_line + err)
    assert refused.returncode == StoreBusyError.exit_code
    assert refused.stderr.strip().splitlines() == [
        f"error: another polyseek is indexing this store (pid {holder.pid}) "
        "(wait for it to finish, or run again without --no-wait)"]
    assert waited.returncode == 0, waited.stderr
    assert f"another polyseek is indexing this store (pid {holder.pid}); waiting…" in waited.stderr
    assert '"added": 1' in waited.stdout


def test_a_reader_never_recovers_a_live_writers_batch(tmp_path, engine_factory):
    """Defect 2: opening the store (search, status, serve) used to run crash recovery and delete the batch a
    live indexer was writing; the catalog then said 'indexed' with no items behind it, for good."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (60 * i, 20, 20)).save(folder / f"p{i}.png")
    store = tmp_path / "store"
    engine_factory(store).index([folder])
    keys = [str(p) for p in sorted(folder.iterdir())]
    holder = hold_lock(store, pending=keys)  # a writer between marking its batch and committing it
    try:
        reader = engine_factory(store)
        assert reader.status()["items"] == 4
        assert len(reader.search("red", k=10)) == 4
        assert reader.store.count() == 4 and sorted(reader.catalog.pending()) == keys
    finally:
        release(holder)


def test_recovery_runs_under_the_lock_before_writing(tmp_path, engine_factory):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    Image.new("RGB", (16, 16), "blue").save(folder / "blue.png")
    store = tmp_path / "store"
    engine = engine_factory(store)
    engine.index([folder])
    # a writer killed between marking its batch and committing it: its files go and are indexed again
    engine.catalog.mark_pending([str(folder / "red.png")])
    summary = engine_factory(store).index([folder])
    assert summary.added == 1 and summary.unchanged == 1
    assert engine.catalog.pending() == [] and engine.store.count() == 2


def test_a_running_reader_sees_another_processes_writes(tmp_path, engine_factory):
    """Defect 8: a long-lived reader (the server) kept its first view of the table: new files unsearchable."""
    folder = tmp_path / "photos"
    folder.mkdir()
    store = tmp_path / "store"
    reader = engine_factory(store)  # opened while the store is still empty
    assert reader.store.count() == 0
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    proc = run_cli("index", str(folder), "--store", str(store), "--image-encoder", "deterministic",
                   "--text-encoder", "deterministic")
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 5
    while reader.store.count() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reader.store.count() == 1
    Image.new("RGB", (16, 16), "blue").save(folder / "blue.png")
    (folder / "note.txt").write_text("a blue whale in the sea")
    proc = run_cli("index", str(folder), "--store", str(store), "--image-encoder", "deterministic",
                   "--text-encoder", "deterministic")
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 5
    while len(reader.search("whale", k=10)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {Path(h.item.path).name for h in reader.search("whale", k=10)} == {"red.png", "blue.png", "note.txt"}
    assert reader.store.text_search("whale", 10), "the full-text index built by the writer serves the reader"


def test_search_never_writes_the_full_text_index(tmp_path):
    """Defect 8: a search built the full-text index itself, a write that could conflict with the indexer's."""
    import numpy as np

    from polyseek.stores.base import Row
    from polyseek.stores.lancedb import LanceStore

    store = LanceStore(str(tmp_path / "store"))
    store.create({"text": 4})
    store.upsert([Row(id="a", doc="/a.txt", path="/a.txt", modality="text", text="whales sing",
                      vectors={"text": np.ones(4, dtype=np.float32) / 2})])
    version = store.table.version
    assert store.text_search("whales", 5) == []  # no index yet: no lexical hits, and nothing written
    assert store.table.version == version
    store.optimize()  # the writer's step
    assert [i for i, _ in store.text_search("whales", 5)] == ["a"]


def test_a_server_job_waiting_for_the_lock_says_so_and_can_be_cancelled(tmp_path, engine_factory):
    from polyseek.server.jobs import JobManager
    from polyseek.server.security import RootPolicy

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    store = tmp_path / "store"
    engine = engine_factory(store)
    holder = hold_lock(store)
    try:
        jobs = JobManager(engine, RootPolicy([folder]))
        job = jobs.start(str(folder))
        deadline = time.monotonic() + 30
        while "waiting" not in job.detail and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.detail == f"another polyseek is indexing this store (pid {holder.pid}); waiting…"
        jobs.cancel(job.id)
        while job.state != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.state == "cancelled" and engine.store.count() == 0
        jobs.close()
    finally:
        release(holder)
