"""Document rerank cost on real pages: the passages the cross-encoder reads per query, and its time with fewer
results (depth) and shorter windows (max_length). Latency only: quality needs ``polyseek eval pages``.

    cp -r /tmp/ev19/mm/store /tmp/me/mm-store
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/rerank_cost.py --store /tmp/me/mm-store \\
        --queries ../shared/eval/mmlongbench-doc/queries.jsonl --image-encoder deterministic --limit 12

Each question is searched with ``rerank=True``; the results the reranker was given are kept, and the
cross-encoder is then timed on the first 20/10/5 of them at 256 and 128 word pieces. Each question is also
searched whole with ``--depth``/``--window`` set in ``SearchConfig`` (``rerank_depth``, ``rerank_window``),
interleaved with the shipped search so both meet the same load. Writes ``results/rerank_cost.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

import polyseek.search.pipeline as pipeline_module  # noqa: E402
from polyseek.engine import Engine  # noqa: E402
from polyseek.search.aggregate import _passages  # noqa: E402
from polyseek.search.rerank import CrossEncoderReranker, question_focus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--image-encoder", default=None)
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--depth", type=int, default=5, help="rerank_depth of the cheaper whole search timed beside")
    parser.add_argument("--window", type=int, default=128, help="rerank_window (word pieces) of that search")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if not (args.store / "items.lance").exists():
        parser.error(f"no polyseek store at {args.store}")
    questions = [json.loads(line).get("question") for line in args.queries.read_text().splitlines() if line.strip()]
    questions = [q for q in questions if q][: args.limit]
    load_start = [round(x, 2) for x in os.getloadavg()]
    engine = Engine(args.store, **({"image_encoder": args.image_encoder} if args.image_encoder else {}))
    captured: list[tuple[str, list]] = []
    real = pipeline_module.rerank_results

    def keep(text, results, reranker, **options):
        captured.append((text, list(results)))
        return real(text, results, reranker, **options)

    cheaper = replace(engine.config, rerank_depth=args.depth, rerank_window=args.window)
    whole: list[float] = []
    whole_cheaper: list[float] = []
    for config in (engine.config, cheaper):  # load both models before timing
        engine.search(questions[0], k=10, rerank=True, config=config)
    pipeline_module.rerank_results = keep  # type: ignore[assignment]
    for question in questions:
        started = time.perf_counter()
        engine.search(question, k=10, rerank=True)
        whole.append((time.perf_counter() - started) * 1000)
        pipeline_module.rerank_results = real
        started = time.perf_counter()
        engine.search(question, k=10, rerank=True, config=cheaper)
        whole_cheaper.append((time.perf_counter() - started) * 1000)
        pipeline_module.rerank_results = keep  # type: ignore[assignment]
    pipeline_module.rerank_results = real
    rows = [{"method": "Engine.search with rerank (as shipped: 20 results, 256 pieces)", "p50_ms": round(float(np.median(whole)), 1),
             "passages_p50": int(np.median([sum(len(_passages(r)) for r in results[:20]) for _, results in captured]))},
            {"method": f"Engine.search with rerank, {args.depth} results, {args.window} pieces (interleaved)",
             "p50_ms": round(float(np.median(whole_cheaper)), 1),
             "ratio_to_shipped": round(float(np.median(whole_cheaper)) / float(np.median(whole)), 3),
             "passages_p50": int(np.median([sum(len(_passages(r)) for r in results[: args.depth]) for _, results in captured]))}]
    base = None
    for max_length in (256, 128):
        model = CrossEncoderReranker(max_length=max_length)
        for depth in (20, 10, 5):
            times = []
            for text, results in captured:
                flat = [p for r in results[:depth] for p in _passages(r)]
                started = time.perf_counter()
                model.score(question_focus(text), flat)
                times.append((time.perf_counter() - started) * 1000)
            p50 = float(np.median(times))
            base = base or p50
            rows.append({"method": f"cross-encoder alone, {depth} results, {max_length} pieces", "p50_ms": round(p50, 1),
                         "ratio_to_shipped": round(p50 / base, 3)})
    engine.close()
    write("rerank_cost", {"args": sys.argv[1:], "questions": len(questions),
                          "load_average_start": load_start,
                          "load_average_end": [round(x, 2) for x in os.getloadavg()]}, rows,
          ["method", "p50_ms", "ratio_to_shipped", "passages_p50"], args.out)


if __name__ == "__main__":
    main()
