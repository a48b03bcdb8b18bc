"""Score the kind prior's weight on a universal pool without writing to it: one search per query, then a grid.

Each query of the chosen split (captions of a Flickr8k-layout folder, questions of MMLongBench-Doc/FinanceBench-
layout folders, split as ``polyseek eval universal`` splits them) is searched once on the pool, read-only, with
the prior and the document reranker off (both act after fusion); its fused candidates are kept with their kinds
and literal matches (``policies/kind_prior.literal_kinds``). Every weight is then scored by re-sorting them with
the prior the policy would add, the literal-match rule included: per task, top-1 kind, hit@1, hit@10, and the
fit script's objective (mean of top-1 kind and hit@10 over the two classes). ``--scope own`` searches each task
on its own items instead (the set's folder and target modalities), for the gap. Session 6 chose the shipped
weight with ``--split dev`` on the 6,467-item pool (docs/universal.md); session 7 chose the document-names weight
(``policies/document_names.py``, added to the fused scores as the prior is, so the two commute) on the same dev
half with ``--document-names W`` (0, 0.25, 0.5, 1.0; pages only, ``--scope universal`` and ``own``):

    python scripts/kind_prior_grid.py --store /tmp/u12/full/store --captions ../shared/eval/flickr8k \
        --pages ../shared/eval/mmlongbench-doc --pages /tmp/ev19/fb160 --max-captions 300 --output dev.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.eval.datasets import load_captions
from polyseek.eval.pages import load_questions
from polyseek.eval.pages import split_of as page_split
from polyseek.eval.universal import split_of_photo

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
WANTED = {"visual": {"image"}, "document": {"document"}}


def rankings(store: str, captions: Path | None, pages: list[Path], split: str, scope: str, max_captions: int,
             document_names: float | None = None) -> list[dict[str, Any]]:
    from polyseek.engine import Engine
    from polyseek.search.calibration import kind_of
    from polyseek.search.config import SearchConfig
    from polyseek.search.policies.kind_prior import literal_kinds
    from polyseek.types import Filters, Modality, QueryPart

    engine = Engine(store, read_only=True)
    indexed = {str(path) for path, record in engine.catalog.files().items() if record.status == "ok"}
    queries: list[tuple[str, str, list, str, Filters]] = []
    if captions is not None:
        dataset = load_captions(captions)
        images = {c.id: str(c.image.expanduser().absolute()) for c in dataset.candidates if c.image is not None}
        t2i = next(t for t in dataset.tasks if t.name == "text_to_image")
        own = Filters(path_glob=str((captions / "images").absolute()) + "/*", modalities=(Modality.IMAGE,))
        count = 0
        for query in t2i.queries:
            photo = next(iter(t2i.qrels[query.id]))
            if split_of_photo(photo) == split and images[photo] in indexed and count < max_captions:
                queries.append((query.text, "visual", [images[photo]], "captions", own))
                count += 1
    for folder in pages:
        documents, questions = load_questions(folder, split="all")
        own = Filters(path_glob=str(documents.absolute()) + "/*", modalities=(Modality.PAGE, Modality.REGION))
        for q in questions:
            path = str((documents / q.doc_id).absolute())
            if (page_split(q.doc_id) == "tune") == (split == "dev") and path in indexed:
                queries.append((q.question, "document", [[path, int(p)] for p in q.evidence_pages], folder.name, own))
    off = SearchConfig(kind_prior=0.0, rerank_documents=False)
    if document_names is not None:  # the document-names lift is additive like the prior: on unless 0
        off = replace(off, document_names=document_names)
    out = []
    started = time.time()
    try:
        for number, (text, label, targets, task, own) in enumerate(queries, 1):
            trace = engine.trace([QueryPart(text=text)], k=10, config=off, filters=own if scope == "own" else None)
            fused = trace.fused[:300]
            rows = trace.rows.by_id([i for i, _ in fused])
            candidates = []
            for item_id, score in fused:
                row = rows.get(item_id)
                kind = kind_of(row) if row is not None else "other"
                page = (row.locator or {}).get("page") if row is not None else None
                key = [row.path, int(page)] if kind == "document" and page is not None and row is not None else (row.path if row else item_id)
                candidates.append([kind, key, float(score)])
            out.append({"text": text, "label": label, "task": task, "targets": targets,
                        "evidence": trace.fusion == "evidence",
                        "literal": sorted(literal_kinds(trace, rows)) if trace.fusion == "evidence" else [],
                        "candidates": candidates})
            print(f"\r{number}/{len(queries)} {time.time() - started:.0f} s", end="", file=sys.stderr, flush=True)
    finally:
        engine.close()
    print(file=sys.stderr)
    return out


def score(ranked: list[dict[str, Any]], weight: float, literal_rule: bool = True) -> dict[str, dict[str, float]]:
    """Per task: top-1 kind, hit@1, hit@10 with the shipped classifier at ``weight``."""
    from polyseek.search.kind_prior import load

    prior = load()
    if prior is None:
        raise SystemExit("no shipped kind prior")
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for ranking in ranked:
        biases = prior.biases(ranking["text"], weight=weight) if ranking["evidence"] and weight else {}
        if biases and literal_rule and ranking["literal"]:
            top = max(0.0, *biases.values())
            biases = {**biases, **{k: max(top, biases.get(k, 0.0)) for k in ranking["literal"]}}
        keys: list[Any] = []
        kinds: list[str] = []
        for kind, key, _ in sorted(ranking["candidates"], key=lambda c: -(c[2] + biases.get(c[0], 0.0))):
            key = tuple(key) if isinstance(key, list) else key
            if key not in keys:
                keys.append(key)
                kinds.append(kind)
        targets = {tuple(t) if isinstance(t, list) else t for t in ranking["targets"]}
        top10 = keys[:10]
        rows.setdefault(ranking["task"], []).append((float(bool(kinds) and kinds[0] in WANTED[ranking["label"]]),
                                                      float(bool(top10) and top10[0] in targets),
                                                      float(any(k in targets for k in top10))))
    return {task: dict(zip(("top1_kind", "hit@1", "hit@10"), np.round(np.mean(v, axis=0), 4).tolist())) | {"n": len(v)}
            for task, v in rows.items()}


def objective(scores: dict[str, dict[str, float]]) -> float:
    """Mean over the two classes of top-1 kind and hit@10 (page sets pooled by their query counts)."""
    by_class: dict[str, list[dict[str, float]]] = {}
    for task, metrics in scores.items():
        by_class.setdefault("visual" if task == "captions" else "document", []).append(metrics)
    values = [np.average([m[key] for m in group], weights=[m["n"] for m in group])
              for group in by_class.values() for key in ("top1_kind", "hit@10")]
    return round(float(np.mean(values)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a universal pool's store (opened read-only)")
    parser.add_argument("--captions", type=Path)
    parser.add_argument("--pages", type=Path, action="append", default=[])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--scope", choices=("universal", "own"), default="universal")
    parser.add_argument("--max-captions", type=int, default=300)
    parser.add_argument("--output", type=Path, required=True, help="the rankings (JSON); re-scored if it exists")
    parser.add_argument("--no-literal", action="store_true", help="score without the literal-match rule")
    parser.add_argument("--document-names", type=float, default=None,
                        help="SearchConfig.document_names for the searches (default: the shipped weight; 0: off)")
    args = parser.parse_args(argv)
    if args.output.exists():
        ranked = json.loads(args.output.read_text(encoding="utf-8"))
    else:
        ranked = rankings(args.store, args.captions, args.pages, args.split, args.scope, args.max_captions, args.document_names)
        args.output.write_text(json.dumps(ranked), encoding="utf-8")
    grid = {w: score(ranked, w, literal_rule=not args.no_literal) for w in (WEIGHTS if args.scope == "universal" else (0.0,))}
    objectives = {w: objective(s) for w, s in grid.items()}
    best = max(objectives.values())
    chosen = min(w for w, v in objectives.items() if v >= best - 0.005)
    print(json.dumps({"grid": {str(w): {"objective": objectives[w], **s} for w, s in grid.items()},
                      "chosen (smallest within 0.005 of the best)": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
