"""Do task instructions in front of a query help retrieval? (VLM2Vec / MM-Embed style templates vs none.)

Two tasks, each on existing indexes, no rerank (the reranker reads the question without the instruction, so
only first-stage retrieval can change):

- pages: page questions (MMLongBench-Doc / FinanceBench layout) within their own PDF, hit@5 and R@5;
- captions: Flickr8k captions → photos over an index of a subset of the photos, R@1 and R@5.

Each template is scored on the ``tune`` half (pages: :func:`polyseek.eval.pages.split_of` on the document;
captions: the same hash on the image name); the best template on ``tune`` is then compared with no instruction
on ``test``. Writes JSON and a markdown table.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/instructions.py --pages ../shared/eval/mmlongbench-doc \\
        --pages-store /tmp/ask17/mm/store --captions ../shared/eval/flickr8k --captions-store /tmp/ask17/cap/store \\
        --captions-images 120 --out /tmp/ask17/instructions.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from polyseek.engine import Engine
from polyseek.eval.pages import load_questions, page_metrics, ranked_pages, split_of
from polyseek.types import Filters, Modality, QueryPart

PAGE_TEMPLATES = {
    "none": None,
    "vlm2vec": "Find a document page that answers the question:",  # VLM2Vec's retrieval task phrasing
    "mm-embed": "Retrieve a document page that provides the answer to the given question:",  # MM-Embed's phrasing
    "short": "Question:",
}
CAPTION_TEMPLATES = {
    "none": None,
    "vlm2vec": "Find me an everyday image that matches the given caption:",
    "mm-embed": "Retrieve an image that matches the given caption:",
    "short": "A photo of:",
}


def pages_task(folder: str, store: str, limit: int | None) -> dict[str, Any]:
    documents, questions = load_questions(os.path.normpath(Path(folder).absolute()))  # keyed as the index keys it
    engine = Engine(store)
    indexed = {Path(key).name for key in engine.catalog.files()}
    questions = [q for q in questions if q.doc_id in indexed][:limit]  # an index of part of the PDFs: their questions
    out: dict[str, Any] = {}
    try:
        for name, template in PAGE_TEMPLATES.items():
            rows = []
            for question in questions:
                path = str((documents / question.doc_id).absolute())
                hits = engine.search([QueryPart(text=question.question)], k=10, rerank=False, instruction=template,
                                     filters=Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=path))
                metrics = page_metrics(ranked_pages(hits, with_document=False), set(question.evidence_pages))
                rows.append((question.split, metrics))
            out[name] = {half: summary([m for s, m in rows if s == half], ("hit@5", "recall@5", "mrr@10"))
                         for half in ("tune", "test")}
    finally:
        engine.close()
    return {"n_questions": len(questions), "templates": PAGE_TEMPLATES, "results": out}


def captions_task(folder: str, store: str, n_images: int) -> dict[str, Any]:
    root = Path(folder)
    records = sorted(json.loads((root / "captions.json").read_text()), key=lambda r: r["image"])[:n_images]
    engine = Engine(store)
    out: dict[str, Any] = {}
    try:
        tick = time.perf_counter()
        engine.index([str(root / "images" / r["image"]) for r in records], remove_missing=False)
        indexed = round(time.perf_counter() - tick, 1)
        for name, template in CAPTION_TEMPLATES.items():
            rows = []
            for record in records:
                for caption in record["captions"]:
                    hits = engine.search([QueryPart(text=caption)], k=5, instruction=template,
                                         filters=Filters(modalities=(Modality.IMAGE,)))
                    names = [Path(h.item.path).name for h in hits]
                    rows.append((split_of(record["image"]), {"recall@1": float(names[:1] == [record["image"]]),
                                                             "recall@5": float(record["image"] in names)}))
            out[name] = {half: summary([m for s, m in rows if s == half], ("recall@1", "recall@5")) for half in ("tune", "test")}
    finally:
        engine.close()
    return {"n_images": len(records), "index_seconds": indexed, "templates": CAPTION_TEMPLATES, "results": out}


def summary(rows: list[dict[str, float]], metrics: tuple[str, ...]) -> dict[str, Any]:
    return {"n": len(rows), **{m: round(sum(r[m] for r in rows) / len(rows), 4) if rows else None for m in metrics}}


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["# Query instructions (tune = dev half, test = held out)", ""]
    for task, data in report["tasks"].items():
        results = data["results"]
        metrics = [m for m in next(iter(results.values()))["tune"] if m != "n"]
        lines += [f"## {task}", "", "| template | text | " + " | ".join(f"tune {m}" for m in metrics) + " | "
                  + " | ".join(f"test {m}" for m in metrics) + " |", "|---|---|" + "---:|" * (2 * len(metrics))]
        for name, halves in results.items():
            lines.append(f"| {name} | {data['templates'][name] or '–'} | "
                         + " | ".join(f"{halves['tune'][m]:.3f}" for m in metrics) + " | "
                         + " | ".join(f"{halves['test'][m]:.3f}" for m in metrics) + " |")
        lines += ["", f"n: tune {results['none']['tune']['n']}, test {results['none']['test']['n']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", action="append", default=[], help="page-question folder (repeatable)")
    parser.add_argument("--pages-store", action="append", default=[], help="its existing index (same order)")
    parser.add_argument("--pages-limit", type=int, default=None)
    parser.add_argument("--captions", default=None, help="Flickr8k-layout folder")
    parser.add_argument("--captions-store", default=None, help="index folder for the caption photos (made if new)")
    parser.add_argument("--captions-images", type=int, default=120)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tasks: dict[str, Any] = {}
    for folder, store in zip(args.pages, args.pages_store):
        tasks[f"pages: {Path(folder).name}"] = pages_task(folder, store, args.pages_limit)
    if args.captions:
        tasks[f"captions: {Path(args.captions).name}"] = captions_task(args.captions, args.captions_store, args.captions_images)
    report = {"tasks": tasks, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    Path(args.out).write_text(json.dumps(report, indent=1))
    Path(args.out).with_suffix(".md").write_text(to_markdown(report))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
