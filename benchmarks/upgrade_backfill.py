"""An upgrade's backfill beside searches: photos/s of the backfill and search p95 against the idle p95 and against
the new model's own indexing speed, all in one run (the cores are shared, so every figure has its baseline beside it).

    .venv/bin/python benchmarks/upgrade_backfill.py ../shared/eval/flickr8k --new aligner:/tmp/h14/lite2 \
        --workdir /tmp/me/backfill --configs 1:16,1:8,1:32,0:16,1:16:p --slice 96

One index of the first ``--limit`` photos is built with ``--old`` (kept in ``WORKDIR/base`` and copied for each run),
then an upgrade to ``--new`` starts (no item backfilled). For each configuration ``threads:batch`` (threads 0: the
runtime's default, every core; a third field ``p``: in a child process, as ``polyseek upgrade --resume`` beside a
server; ``pN``: that process niced N; ``tN``: the backfill's threads niced N) the next ``--slice`` photos are backfilled in a thread while the first caption of each
photo is searched back to back; an idle window of ``--window`` searches just before each busy one gives that
configuration's idle p95 (the load drifts). The new model's plain indexing speed (``Engine.index`` of ``--slice``
photos into a fresh store) is measured before and after. CPU seconds per photo of the backfill's own threads are
reported beside the wall rates: with one intra-op thread, ``items_per_cpu_second`` is the rate on one free core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402


def p95(values: list[float]) -> float | None:
    return round(1000 * float(np.percentile(values, 95)), 1) if values else None


def searches(engine, texts: list[str], count: int, stop: threading.Thread | None = None) -> list[float]:
    """Back-to-back searches of the image space: ``count`` of them, or until ``stop`` ends."""
    out: list[float] = []
    position = 0
    while (stop.is_alive() if stop is not None else len(out) < count):
        t = time.perf_counter()
        engine.search(texts[position % len(texts)], k=50, spaces=["image"])
        out.append(time.perf_counter() - t)
        position += 1
    return out


def index_speed(new: str, paths: list[str], store: Path) -> dict:
    from polyseek.engine import Engine

    shutil.rmtree(store, ignore_errors=True)
    engine = Engine(str(store), image_encoder=new, text_encoder="deterministic")
    engine.index(paths[:2])  # model loading outside the timing
    started, cpu = time.perf_counter(), time.process_time()
    summary = engine.index(paths[2:])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.close()
    shutil.rmtree(store, ignore_errors=True)
    return {"items": summary.items, "items_per_second": round(summary.items / seconds, 2),
            "items_per_cpu_second": round(summary.items / cpu, 2), "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="captions folder (captions.json beside images/)")
    parser.add_argument("--old", default="aligner")
    parser.add_argument("--new", required=True, help="e.g. aligner:DIR from polyseek align --backbone lite2")
    parser.add_argument("--limit", type=int, default=506)
    parser.add_argument("--slice", type=int, default=96, help="photos backfilled per configuration")
    parser.add_argument("--configs", default="1:16,1:8,1:32,0:16", help="threads:batch_files, comma-separated (threads 0: default)")
    parser.add_argument("--window", type=int, default=60, help="idle searches before each busy window")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    from polyseek.engine import Engine
    from polyseek.eval.upgrade import _backfill_process, photo_task
    from polyseek.upgrade import backfill, upgrade

    photos, queries, _ = photo_task(args.folder, args.limit)
    paths = [str(c.image) for c in photos]
    texts = [q.text for q in queries]
    configs = [(int(c.split(":")[0]) or None, int(c.split(":")[1]), c.split(":")[2] if c.count(":") == 2 else "")
               for c in args.configs.split(",")]
    if len(configs) * args.slice > len(paths):
        raise SystemExit(f"{len(configs)} configurations of {args.slice} photos need {len(configs) * args.slice} photos; --limit is {len(paths)}")
    work = Path(args.workdir)
    base, run = work / "base", work / "run"
    if not (base / ".built").exists():
        shutil.rmtree(base, ignore_errors=True)
        engine = Engine(str(base), image_encoder=args.old, text_encoder="deterministic")
        engine.index(paths)
        engine.close()
        (base / ".built").write_text("ok")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    load_start = os.getloadavg()
    indexing = [index_speed(args.new, paths[: args.slice + 2], work / "new-index")]
    engine = Engine(str(run), image_encoder=args.old, text_encoder="deterministic")
    started = upgrade(engine, image_encoder=args.new, sample=args.sample, keep_sample=False)
    searches(engine, texts, 10)  # warm
    rows = []
    for threads, batch, process in configs:
        idle = searches(engine, texts, args.window)
        result: dict = {}
        if process.startswith("t"):  # a thread of this process whose scheduling priority is N below the searches'
            def niced(threads=threads, batch=batch, nice=int(process[1:] or 0)) -> None:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + nice)
                result.update(backfill(engine, batch_files=batch, max_files=args.slice, threads=threads, finalize_when_done=False))

            worker = threading.Thread(target=niced)  # the decode thread it starts inherits the priority
        elif process:  # as `polyseek upgrade --resume` beside a server: a process of its own
            worker = threading.Thread(target=lambda: result.update(_backfill_process(
                engine, {"image": args.old, "text": "deterministic"}, nice=int(process[1:] or 0), batch_files=batch,
                max_files=args.slice, throttle=0.0, threads=threads)))
        else:
            worker = threading.Thread(target=lambda: result.update(backfill(
                engine, batch_files=batch, max_files=args.slice, threads=threads, finalize_when_done=False)))
        load = os.getloadavg()[0]
        worker.start()
        busy = searches(engine, texts, 0, stop=worker)
        worker.join()
        kind = "process" if process.startswith("p") else "thread"
        where = f"{kind} nice {process[1:]}" if process[1:] else kind
        rows.append({"config": f"{where}, threads {threads or 'default'}, batch {batch}", "photos": result["items"],
                     "backfill_per_s": result["items_per_second"], "backfill_per_cpu_s": result["items_per_cpu_second"],
                     "idle_p95_ms": p95(idle), "busy_p95_ms": p95(busy), "busy_searches": len(busy),
                     "p95_vs_idle": round(p95(busy) / p95(idle), 2) if busy else None,
                     "idle_p50_ms": round(1000 * float(np.median(idle)), 1),
                     "busy_p50_ms": round(1000 * float(np.median(busy)), 1) if busy else None, "load": round(load, 2)})
        print(rows[-1], flush=True)
    engine.close()
    indexing.append(index_speed(args.new, paths[-(args.slice + 2):], work / "new-index"))
    new_speed = float(np.mean([i["items_per_second"] for i in indexing]))
    for row in rows:
        row["vs_new_indexing"] = round(row["backfill_per_s"] / new_speed, 2)
    results = {"old": args.old, "new": args.new, "photos": len(paths), "slice": args.slice, "fit": started["fit"],
               "new_indexing": indexing, "new_indexing_per_s_mean": round(new_speed, 2),
               "load_average": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
               "nice": os.nice(0)}
    write("upgrade_backfill", results, rows, ["config", "photos", "backfill_per_s", "backfill_per_cpu_s", "vs_new_indexing",
                                              "idle_p95_ms", "busy_p95_ms", "p95_vs_idle", "busy_searches", "load"], args.out)


if __name__ == "__main__":
    main()
