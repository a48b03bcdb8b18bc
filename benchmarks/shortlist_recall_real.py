"""Real embeddings: an indexed collection's engine top 10 through the quantised shortlist against the exact scan.

    cp -r /tmp/ev19b/fb/store /tmp/me/fb-store   # a copy: this writes the shortlists into it
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/shortlist_recall_real.py --store /tmp/me/fb-store \\
        --queries ../shared/eval/financebench/queries.jsonl --image-encoder deterministic

The synthetic vectors of ``query_latency.py`` stand in for embeddings; this checks the shortlist on real ones (a
store indexed by ``polyseek eval pages``, its own questions as queries). The store's shortlists are written with
the row threshold lowered to 0 (a store under 50k rows keeps the exact scan as shipped), then every question is
searched both ways, in turn, with ``rerank=False``. Writes ``results/shortlist_recall_real.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402
from query_latency import exact_scan, forget_scores  # noqa: E402

import polyseek.stores.lancedb as lance_module  # noqa: E402
from polyseek.engine import Engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a copy of an indexed store (shortlists are written into it)")
    parser.add_argument("--queries", type=Path, required=True, help="JSON lines with a 'question' (or 'query') field")
    parser.add_argument("--image-encoder", default=None, help="the image encoder the store was indexed with")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if not (args.store / "items.lance").exists():
        parser.error(f"no polyseek store at {args.store}")
    questions = []
    for line in args.queries.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            questions.append(record.get("question") or record.get("query"))
    questions = [q for q in questions if q][: args.limit]
    engine = Engine(args.store, **({"image_encoder": args.image_encoder} if args.image_encoder else {}))
    saved = lance_module.SHORTLIST_MIN_ROWS
    lance_module.SHORTLIST_MIN_ROWS = 0
    built = engine.store.build_shortlists()
    recalls, times = [], {False: [], True: []}
    for question in questions:
        found = {}
        for exact in (False, True):
            with exact_scan() if exact else _shipped():
                forget_scores(engine)
                started = time.perf_counter()
                found[exact] = [h.item.id for h in engine.search(question, k=10, rerank=False)]
                times[exact].append((time.perf_counter() - started) * 1000)
        if found[True]:
            recalls.append(len(set(found[False]) & set(found[True])) / len(found[True]))
    lance_module.SHORTLIST_MIN_ROWS = saved
    engine.close()
    rows = [{"method": "Engine.search top 10 through the shortlist, against the exact scan", "items": engine_items(built),
             "queries": len(recalls), "recall@10": round(float(np.mean(recalls)), 4), "min_recall@10": min(recalls),
             "identical_top10_share": round(float(np.mean([r == 1.0 for r in recalls])), 3),
             "p50_ms": round(float(np.median(times[False])), 1), "exact_p50_ms": round(float(np.median(times[True])), 1)}]
    write("shortlist_recall_real", {"args": sys.argv[1:], "load_average_end": [round(x, 2) for x in os.getloadavg()],
                                    "shortlists": {k: {"rows": v.rows, "lists": v.lists} for k, v in built.items()}}, rows,
          ["method", "items", "queries", "recall@10", "min_recall@10", "identical_top10_share", "p50_ms", "exact_p50_ms"],
          args.out)


class _shipped:  # noqa: N801 - the shortlist on, whatever the store's size
    def __enter__(self) -> None:
        self.saved = lance_module.SHORTLIST_MIN_ROWS
        lance_module.SHORTLIST_MIN_ROWS = 0

    def __exit__(self, *exc: object) -> None:
        lance_module.SHORTLIST_MIN_ROWS = self.saved


def engine_items(built: dict) -> int:
    return max((b.rows for b in built.values()), default=0)


if __name__ == "__main__":
    main()
