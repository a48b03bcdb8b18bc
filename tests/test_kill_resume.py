"""Indexing survives kill -9 at any moment: the index opens, holds no duplicates or half items, and resumes."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

N_FILES = 900


def run_index(folder, store):
    return subprocess.Popen(
        [sys.executable, "-m", "polyseek", "index", str(folder), "--store", str(store),
         "--image-encoder", "deterministic", "--text-encoder", "deterministic", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "POLYSEEK_LOG": "ERROR"},
    )


def committed(store) -> int:
    """Files the running indexer has committed so far (read beside it; SQLite WAL allows that)."""
    import sqlite3

    path = store / "catalog.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM files").fetchone()[0]
    except sqlite3.Error:
        return 0


def check_consistent(store):
    from polyseek.engine import Engine

    engine = Engine(str(store))  # opening only reads: recovery of a cut batch is a writer's job, under the lock
    try:
        engine.indexer.recover()
        files = {k: f for k, f in engine.catalog.files().items() if f.status == "ok"}
        assert engine.catalog.pending() == []
        rows = engine.store.get([i for i, _ in engine.store.search("image", [1.0] + [0.0] * 63, 10_000)])
        per_doc = collections.Counter(r.doc for r in rows)
        assert all(n == 1 for n in per_doc.values()), "duplicate items"
        assert set(per_doc) == set(files), "items without a committed file, or files without items"
        assert engine.store.count() == len(files)
        return len(files)
    finally:
        engine.close()


@pytest.mark.slow
def test_kill_at_several_moments_then_resume(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(N_FILES):
        Image.new("RGB", (24, 24), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(folder / f"p{i:04d}.png")
    store = tmp_path / "store"
    seen = []
    for extra_batches in (1, 2, 3):
        proc = run_index(folder, store)
        # kill only once this run has committed new work, so the kill lands mid-run on a fast or a slow machine
        start = seen[-1] if seen else 0
        deadline = time.monotonic() + 120
        while proc.poll() is None and committed(store) <= start + (extra_batches - 1) and time.monotonic() < deadline:
            time.sleep(0.02)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        seen.append(check_consistent(store))
        if finished:
            break
    assert seen[0] < N_FILES, "the first kill should land mid-run; make the collection larger"
    proc = run_index(folder, store)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["added"] == N_FILES - seen[-1]
    assert check_consistent(store) == N_FILES
