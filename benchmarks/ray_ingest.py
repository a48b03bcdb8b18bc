"""Ray ingestion benchmark: photos indexed into Milvus Lite by the plain single-process indexer, then with Ray Data on
1 and 2 embedding actors (a local Ray cluster, started before the timed runs), back to back in one run, then the plain
indexer again (the same-run baseline is the mean of the two plain runs, so load drift shows). Every run loads its
own encoders (the plain engine on first use, each Ray actor in its constructor), so model loading is in all times.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/ray_ingest.py --images ../shared/eval/flickr8k/images --limit 200

Ray overhead per item = (Ray time on 1 actor - plain time) / items: scheduling, pickling chunks through the object
store, the actor's start. The goal is >= 0.8x plain throughput with 2 actors on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

from polyseek.engine import Engine  # noqa: E402


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run(folder: Path, store: str, ray_options=None) -> dict:
    engine = Engine(store)
    started = time.perf_counter()
    summary = engine.index([folder], ray=ray_options)
    seconds = time.perf_counter() - started
    names = engine.encoder_names()
    engine.close()
    assert summary.added > 0 and not summary.failed, summary.failed[:3]
    return {"items": summary.items, "seconds": seconds, "items_per_s": summary.items / seconds,
            "encoder": names["image"], "load_avg": load()}


def row_bytes(store: str) -> dict:
    """Mean bytes per stored photo row: the vectors as Milvus holds them (every row carries every space, a zero
    vector where it has none) and the scalar fields (path, locator, metadata, text) as the store writes them."""
    from polyseek.stores.base import dumps

    engine = Engine(store, read_only=True)
    try:
        ids = [r["id"] for r in engine.store._iterate("", ["id"])]
        rows = engine.store.get(ids)
        vector_bytes = 4 * sum(engine.store.spaces.values())
        scalar = sum(len(r.id) + len(r.doc) + len(r.path) + len(r.ext) + len(r.modality) + 8 + len(dumps(r.locator))
                     + len(dumps(r.metadata)) + len(r.text.encode()) for r in rows) / max(1, len(rows))
        return {"rows": len(rows), "spaces": dict(engine.store.spaces), "vector_bytes_per_row": vector_bytes,
                "scalar_bytes_per_row": scalar}
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray cluster")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    import ray

    from polyseek.distributed.ray_ingest import RayOptions

    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for path in files:
            os.symlink(path.resolve(), folder / path.name)
        uptime_before = open("/proc/loadavg").read().strip()
        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        cluster_start_s = time.perf_counter() - started
        try:
            cases = [("plain indexer (first)", None), ("ray, 1 actor", RayOptions(workers=1)),
                     ("ray, 2 actors", RayOptions(workers=2)), ("plain indexer (again)", None)]
            rows = []
            for number, (case, options) in enumerate(cases):
                row = run(folder, f"milvus+lite://{tmp}/run{number}.db", options)
                rows.append({"case": case, **row})
                print(rows[-1], flush=True)
        finally:
            ray.shutdown()
        sizes = row_bytes(f"milvus+lite://{tmp}/run0.db")
        uptime_after = open("/proc/loadavg").read().strip()
    plain_s = (rows[0]["seconds"] + rows[3]["seconds"]) / 2
    items = rows[0]["items"]
    for row in rows:
        row["vs_plain_throughput"] = plain_s / row["seconds"]
    overhead_ms = 1000 * (rows[1]["seconds"] - plain_s) / items
    results = {"images": str(args.images), "subset": f"first {len(files)} files by name", "cpus": args.cpus,
               "ray_cluster_start_s": cluster_start_s, "plain_mean_s": plain_s,
               "ratio_2_actors_vs_plain": plain_s / rows[2]["seconds"],
               "ray_overhead_ms_per_item_1_actor": overhead_ms,
               "photo_row_bytes": sizes, "loadavg_before": uptime_before, "loadavg_after": uptime_after, "goal": ">= 0.8x plain with 2 actors"}
    print(results)
    write("ray_ingest", results, rows, ["case", "items", "seconds", "items_per_s", "vs_plain_throughput", "encoder", "load_avg"],
          args.out)


if __name__ == "__main__":
    main()
