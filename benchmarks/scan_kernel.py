"""The shortlist's one-pass scan kernel in the whole query path: ONNX Runtime's integer product against numpy's einsum.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scan_kernel.py --store /tmp/warm13/bench/100000/store --queries 120

One process, one store (a store ``query_latency.py --store DIR`` built: 100k mixed items), the benchmark's text queries
through ``Engine.trace`` with ``stores.shortlist.INTEGER_SCAN`` off and on in turn, query by query (which goes first
alternating), so both see the same load on shared cores. Rows: wall and CPU (all threads) p50/p95 per kernel, the
stages that differ, and the share of queries whose top 10 (ids and scores) is identical; the scan alone on the image
space's codes as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402
from query_latency import QUERIES, forget_scores  # noqa: E402

import polyseek.stores.shortlist as shortlist_module  # noqa: E402
from polyseek.engine import Engine  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a built store (query_latency.py --store DIR: DIR/<size>/store)")
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if shortlist_module._integer_kernel() is None:
        sys.exit("ONNX Runtime could not make the scan kernel: nothing to compare")
    engine = Engine(args.store)
    engine.search(QUERIES[0], k=10)  # warm: encoders, shortlists, the kernel's session
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    stages: dict[bool, dict[str, list[float]]] = {False: {}, True: {}}
    hits: dict[bool, list[list]] = {False: [], True: []}
    for n in range(args.queries):
        for integer in ((False, True) if n % 2 else (True, False)):
            shortlist_module.INTEGER_SCAN = integer
            forget_scores(engine)
            started, cpu_started = time.perf_counter(), time.process_time()
            trace = engine.trace(QUERIES[n % len(QUERIES)], k=10, rerank=False)
            wall[integer].append((time.perf_counter() - started) * 1000)
            cpu[integer].append((time.process_time() - cpu_started) * 1000)
            hits[integer].append([(h.item.id, h.score) for h in trace.hits])
            for name, ms in trace.timings.items():
                stages[integer].setdefault(name, []).append(ms)
    shortlist_module.INTEGER_SCAN = True
    same = float(np.mean([a == b for a, b in zip(hits[False], hits[True])]))
    rows = []
    for integer, label in ((True, "integer product (ONNX Runtime u8 x s8), as shipped"), (False, "numpy einsum: same-run baseline")):
        stage_p50 = {name: round(float(np.median(v)), 2) for name, v in stages[integer].items() if np.median(v) >= 0.3}
        rows.append({"method": f"text query, scan by {label}", "items": engine.store.count(),
                     "p50_ms": percentile(wall[integer], 50), "p95_ms": percentile(wall[integer], 95),
                     "cpu_p50_ms": percentile(cpu[integer], 50), "identical_top10": round(same, 3),
                     "retrieve_p50_ms": stage_p50.get("retrieve"), "stages_p50_ms": stage_p50})
    ratio = np.median(np.array(wall[True]) / np.array(wall[False]))
    rows.append({"method": "ratio integer / einsum, query by query (median)", "items": engine.store.count(),
                 "p50_ms": round(float(ratio), 3),
                 "cpu_p50_ms": round(float(np.median(np.array(cpu[True]) / np.array(cpu[False]))), 3)})
    shortlist = engine.store.shortlists._open.get("image")  # type: ignore[attr-defined]
    if shortlist is not None:
        rng = np.random.default_rng(0)
        weights = (rng.normal(size=shortlist.rotation.shape[0]).astype(np.float32) @ shortlist.rotation) * shortlist.scale
        for label, scan in (("integer", lambda: shortlist_module._integer_scan(shortlist._unsigned_codes(), weights)),
                            ("einsum", lambda: shortlist_module._scan(shortlist.codes, weights))):
            scan()
            spent = []
            for _ in range(30):
                cpu_started = time.process_time()
                scan()
                spent.append((time.process_time() - cpu_started) * 1000)
            rows.append({"method": f"scan alone, image space codes ({shortlist.rows} x {shortlist.codes.shape[1]}), {label}",
                         "items": shortlist.rows, "cpu_p50_ms": percentile(spent, 50)})
    engine.close()
    write("scan_kernel", {"queries": args.queries, "store": str(args.store),
                          "load_average_end": [round(x, 2) for x in os.getloadavg()]}, rows,
          ["method", "items", "p50_ms", "p95_ms", "cpu_p50_ms", "retrieve_p50_ms", "identical_top10"], args.out)


if __name__ == "__main__":
    main()
