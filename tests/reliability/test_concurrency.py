"""Torture: two indexers, a reader and a deleter on one LanceDB store, with kill -9 at random moments.

Each trial changes the collection a little (adds, edits and removes files), starts two indexers and a
deleter while a reader process searches throughout, kills some at random (often while they hold the
writer lock), lets the rest finish, then indexes once more and checks the store: no duplicate
items, nothing lost (every file on disk indexed, with all its items), nothing left over, and no process
that was not killed died of an error. A long text file is written in parts, so kills also land between
parts. The quick variant runs a few trials; the slow one more (``POLYSEEK_TORTURE_TRIALS``, and
``POLYSEEK_TORTURE_REPORT`` names a JSON file for the figures in docs/reliability.md).
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

ENCODERS = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]
ENV = {**os.environ, "POLYSEEK_LOG": "WARNING", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
READER = """
import os, sys, time
from polyseek.engine import Engine
from polyseek.errors import PolyseekError
while True:  # it may start before the first indexer has made the store
    try:
        engine = Engine(sys.argv[1], image_encoder="deterministic", text_encoder="deterministic")
        break
    except PolyseekError:
        time.sleep(0.2)
queries = 0
while not os.path.exists(sys.argv[2]):
    engine.search("a red photo of whales", k=5)
    engine.status()
    engine.files()
    queries += 1
    time.sleep(0.05)
print(queries)
"""


def polyseek(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "polyseek", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def lock_holder(store: Path) -> int | None:
    """The pid in the store's writer lock file: the process writing now (the file is emptied on release)."""
    try:
        text = (store / "write.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def change_collection(folder: Path, rng: random.Random, trial: int) -> None:
    """A few new photos and notes, an edited note, a removed photo; a long text in the first trial."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(rng.randint(4, 10)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        Image.new("RGB", (20, 20), colour).save(folder / f"t{trial:03d}-p{i}.png")
    for i in range(rng.randint(0, 2)):
        words = " ".join(rng.choice(["whale", "sea", "red", "map", "song", "deep"]) for _ in range(rng.randint(5, 400)))
        (folder / f"t{trial:03d}-n{i}.txt").write_text(words + "\n")
    if trial == 0:  # 400 items: committed in parts of 64
        (folder / "long.txt").write_text("".join(f"Passage {n} about whales.\n\n" + "x" * 780 + "\n\n" for n in range(200)))
    existing = sorted(p for p in folder.iterdir() if p.suffix == ".png")
    for victim in rng.sample(existing, k=min(len(existing) // 8, 3)):
        victim.unlink()
    notes = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.name != "long.txt")
    if notes:
        with rng.choice(notes).open("a") as handle:
            handle.write("one more line about the deep sea\n")


def check_store(store: Path, folder: Path) -> dict:
    """The store after a final uninterrupted run: exactly the files on disk, each item once."""
    from polyseek.engine import Engine

    engine = Engine(str(store), image_encoder="deterministic", text_encoder="deterministic")
    try:
        engine.index([folder])
        table = engine.store.table.to_arrow().select(["id", "doc", "locator", "text"])
        ids = table.column("id").to_pylist()
        # a long line of text is cut into several items with one locator, so the text is part of what an item is
        places = list(zip(table.column("doc").to_pylist(), table.column("locator").to_pylist(), table.column("text").to_pylist()))
        files = engine.catalog.files()
        on_disk = {str(p) for p in folder.iterdir()}
        problems = []
        if len(set(ids)) != len(ids):
            problems.append(f"{len(ids) - len(set(ids))} duplicate ids")
        if len(set(places)) != len(places):
            problems.append(f"{len(places) - len(set(places))} items stored twice")
        if set(files) != on_disk:
            problems.append(f"catalog vs disk: missing {sorted(on_disk - set(files))[:3]}, extra {sorted(set(files) - on_disk)[:3]}")
        bad = [k for k, f in files.items() if f.status != "ok"]
        if bad:
            problems.append(f"failed files {bad[:3]}")
        per_doc = collections.Counter(doc for doc, _, _ in places)
        wrong = {k: (f.items, per_doc.get(k, 0)) for k, f in files.items() if f.items != per_doc.get(k, 0)}
        if wrong:
            problems.append(f"item counts differ (catalog, store): {dict(list(wrong.items())[:3])}")
        if set(per_doc) - set(files):
            problems.append(f"items of files not in the catalog: {sorted(set(per_doc) - set(files))[:3]}")
        if engine.catalog.pending() or engine.catalog.partial():
            problems.append("journal not empty")
        return {"items": len(ids), "files": len(files), "problems": problems}
    finally:
        engine.close()


def trial(folder: Path, store: Path, rng: random.Random, number: int) -> dict:
    change_collection(folder, rng, number)
    index_args = ["index", str(folder), "--store", str(store), *ENCODERS, "--json"]
    procs: dict[str, subprocess.Popen] = {}
    starts: dict[str, float] = {}
    # a victim dies at a random time after it starts, or (more often) a random moment after it takes the
    # writer lock: then the kill lands while it writes, whatever the machine's speed
    plans: dict[str, tuple[str, float]] = {}
    for name in ("indexer-1", "indexer-2", "deleter"):
        if rng.random() < 0.6:
            plans[name] = ("time", rng.uniform(0.5, 8.0)) if rng.random() < 0.3 else ("writing", rng.uniform(0.0, 1.5))
    for name in ("indexer-1", "indexer-2", "deleter"):
        if name.startswith("indexer"):
            procs[name] = polyseek(*index_args)
        else:
            targets = sorted(str(p) for p in folder.iterdir())
            procs[name] = polyseek("delete", *rng.sample(targets, k=min(3, len(targets))), "--store", str(store))
        starts[name] = time.monotonic()
        time.sleep(rng.uniform(0, 0.4))
    killed, writing_since = [], {}
    deadline = time.monotonic() + 300
    while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
        now = time.monotonic()
        holder = lock_holder(store)
        for name, (kind, delay) in list(plans.items()):
            proc = procs[name]
            if proc.poll() is not None:
                continue
            if kind == "writing":
                if holder != proc.pid:
                    continue
                writing_since.setdefault(name, now)
                due = now - writing_since[name] >= delay
            else:
                due = now - starts[name] >= delay
            if due:
                proc.send_signal(signal.SIGKILL)
                killed.append(f"{name} ({'while writing' if holder == proc.pid else 'not writing'})")
                del plans[name]
        time.sleep(0.01)
    errors = []
    for name, proc in procs.items():
        if proc.poll() is None:
            proc.kill()
            errors.append(f"{name} still running after 300 s")
        out, err = proc.communicate()
        if any(k.startswith(name + " ") for k in killed):
            continue
        allowed = {0, 4} if name == "deleter" else {0}  # 4: the deleter named a file not indexed (yet)
        if proc.returncode not in allowed or "Traceback" in err:
            errors.append(f"{name} exit {proc.returncode}: {err.strip()[-800:]}")
    state = check_store(store, folder)  # after a last uninterrupted run
    return {"trial": number, "killed": killed, "errors": errors, **state}


def run_trials(tmp_path: Path, count: int, seed: int) -> list[dict]:
    """``count`` trials on one store; one reader process searches the store throughout and must never fail."""
    rng = random.Random(seed)
    folder, store, stop = tmp_path / "collection", tmp_path / "store", tmp_path / "stop-reading"
    reader_log = (tmp_path / "reader.log").open("w+")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store), str(stop)], stdout=subprocess.PIPE,
                              stderr=reader_log, text=True, env=ENV)
    results = []
    try:
        for number in range(count):
            started = time.monotonic()
            result = trial(folder, store, rng, number)
            result["seconds"] = round(time.monotonic() - started, 1)
            if reader.poll() is not None:
                result["errors"].append(f"reader exit {reader.returncode}: {(tmp_path / 'reader.log').read_text()[-800:]}")
            results.append(result)
            print(json.dumps(result), flush=True)
            assert not result["errors"] and not result["problems"], result
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=120)
        err = (tmp_path / "reader.log").read_text()
    assert reader.returncode == 0 and "Traceback" not in err, err[-2000:]
    results.append({"reader_queries": int(out.strip() or 0)})
    return results


def test_concurrent_writers_readers_and_kills_quick(tmp_path):
    results = run_trials(tmp_path, count=2, seed=11)
    assert all(r["items"] > 0 for r in results[:-1]) and results[-1]["reader_queries"] > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_concurrent_writers_readers_and_kills_many(tmp_path):
    count = int(os.environ.get("POLYSEEK_TORTURE_TRIALS", "8"))
    seed = int(os.environ.get("POLYSEEK_TORTURE_SEED", "2026"))
    results = run_trials(tmp_path, count=count, seed=seed)
    report = os.environ.get("POLYSEEK_TORTURE_REPORT")
    if report:
        Path(report).write_text(json.dumps({"trials": results, "seed": seed}, indent=1))
    assert len(results) == count + 1
