"""How soon a watched index shows a new file: seconds from the file's close to the end of its indexing batch,
for single photos and for a burst written at once, at two settle periods; beside the same files indexed directly
with ``engine.index([path])`` in the same run (the indexer's own cost, the floor under the watcher's latency).

    .venv/bin/python benchmarks/watch_latency.py --files 10 --burst 20 --settle 0.5 2.0

Goal (issue 18): changes are picked up "within seconds". The watcher waits ``settle`` seconds of quiet per file
(a file still being written must not be indexed half-way), checks every 250 ms, and batches what settled together.
``--encoders default`` uses the shipped models (the aligner embeds each photo); ``deterministic`` the plumbing ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402
from PIL import Image  # noqa: E402

from polyseek.engine import Engine  # noqa: E402
from polyseek.watch import WatchBatch, Watcher  # noqa: E402


def photo(path: Path, seed: int) -> float:
    """Write a small noisy photo; returns the monotonic time the file was closed."""
    Image.effect_noise((320, 240), 40 + seed % 50).convert("RGB").save(path, "JPEG", quality=90)
    return time.monotonic()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def watched_run(engine: Engine, folder: Path, settle: float, singles: int, burst: int) -> list[dict]:
    done: dict[str, float] = {}
    batches: list[WatchBatch] = []
    arrived = threading.Condition()

    def on_batch(batch: WatchBatch) -> None:
        with arrived:
            now = time.monotonic()
            batches.append(batch)
            for path in batch.indexed:
                done.setdefault(path, now)
            arrived.notify_all()

    def wait_for(paths: list[str]) -> None:
        with arrived:
            if not arrived.wait_for(lambda: all(p in done for p in paths), timeout=120):
                raise SystemExit(f"not indexed within 120 s: {[p for p in paths if p not in done]}")

    watcher = Watcher(engine, [folder], settle=settle, on_batch=on_batch).start()
    rows = []
    try:
        closed: dict[str, float] = {}
        for i in range(singles):  # one file at a time, each waited for
            path = folder / f"single-{settle}-{i}.jpg"
            closed[str(path)] = photo(path, i)
            wait_for([str(path)])
        latencies = [done[p] - closed[p] for p in closed]
        rows.append({"mode": "single photo", "settle_s": settle, "files": singles, "batches": singles,
                     "p50_s": statistics.median(latencies), "p95_s": percentile(latencies, 0.95), "max_s": max(latencies)})
        before = len(batches)
        burst_closed = {}
        for i in range(burst):  # written back to back
            path = folder / f"burst-{settle}-{i}.jpg"
            burst_closed[str(path)] = photo(path, i)
        wait_for(list(burst_closed))
        latencies = [done[p] - burst_closed[p] for p in burst_closed]
        rows.append({"mode": f"burst of {burst}", "settle_s": settle, "files": burst, "batches": len(batches) - before,
                     "p50_s": statistics.median(latencies), "p95_s": percentile(latencies, 0.95), "max_s": max(latencies)})
    finally:
        watcher.stop()
    return rows


def direct_run(engine: Engine, folder: Path, files: int) -> dict:
    timings = []
    for i in range(files):
        path = folder / f"direct-{i}.jpg"
        photo(path, i)
        started = time.monotonic()
        engine.index([str(path)], remove_missing=False)
        timings.append(time.monotonic() - started)
    return {"mode": "engine.index([path]) (baseline)", "settle_s": "", "files": files, "batches": files,
            "p50_s": statistics.median(timings), "p95_s": percentile(timings, 0.95), "max_s": max(timings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10, help="single photos per settle period")
    parser.add_argument("--burst", type=int, default=20, help="photos written back to back per settle period")
    parser.add_argument("--settle", type=float, nargs="+", default=[0.5, 2.0])
    parser.add_argument("--encoders", choices=["default", "deterministic"], default="default")
    parser.add_argument("--output", default="benchmarks/results")
    args = parser.parse_args()
    chosen = {} if args.encoders == "default" else {"image_encoder": "deterministic", "text_encoder": "deterministic"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "watched"
        folder.mkdir()
        (Path(tmp) / "direct").mkdir()
        with Engine(str(Path(tmp) / "index"), **chosen) as engine:
            photo(Path(tmp) / "direct" / "warm.jpg", 0)
            engine.index([str(Path(tmp) / "direct" / "warm.jpg")])  # load the encoders before timing anything
            rows = [direct_run(engine, Path(tmp) / "direct", args.files)]
            for settle in args.settle:
                rows += watched_run(engine, folder, settle, args.files, args.burst)
    write("watch_latency", {"encoders": args.encoders, "files": args.files, "burst": args.burst}, rows,
          ["mode", "settle_s", "files", "batches", "p50_s", "p95_s", "max_s"], args.output)


if __name__ == "__main__":
    main()
