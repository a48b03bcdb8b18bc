"""Fit the query-side kind prior (polyseek/search/kind_prior.py) on the DEV half of the eval sets; never on test.

Classes: caption queries of a Flickr8k-layout folder are ``visual`` (photos and video moments), questions of
MMLongBench-Doc/FinanceBench-layout folders are ``document``. Splits are the universal eval's
(``polyseek eval universal --split``): photos by sha1 of the file name, questions by document. The held-out
test half is only classified, to report accuracy. The weight of the prior (``--weight``, z units of fused
evidence) is chosen on the dev half of the universal pool (``--choose-weight WORKDIR`` runs the dev queries on
that pool for each candidate weight; docs/evaluation.md).

    python scripts/fit_kind_prior.py --captions ../shared/eval/flickr8k --pages ../shared/eval/mmlongbench-doc \
        --pages ../shared/eval/financebench --weight 1.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from polyseek.eval.datasets import load_captions
from polyseek.eval.pages import load_questions
from polyseek.eval.pages import split_of as page_split
from polyseek.eval.universal import split_of_photo
from polyseek.search.kind_prior import DEFAULT_PATH, KindPrior, fit

KINDS = {"visual": ["image", "video"], "document": ["document"]}
SHIPPED = Path(__file__).resolve().parents[1] / "src" / "polyseek" / DEFAULT_PATH


def labelled(captions: Path | None, pages: list[Path]) -> dict[str, list[tuple[str, str]]]:
    """``{"dev"|"test": [(query text, class)]}`` from the eval folders, split as the universal eval splits them."""
    out: dict[str, list[tuple[str, str]]] = {"dev": [], "test": []}
    if captions is not None:
        dataset = load_captions(captions)
        t2i = next(t for t in dataset.tasks if t.name == "text_to_image")
        for query in t2i.queries:
            photo = next(iter(t2i.qrels[query.id]))
            out[split_of_photo(photo)].append((query.text, "visual"))
    for folder in pages:
        _, questions = load_questions(folder, split="all")
        for q in questions:
            out["dev" if page_split(q.doc_id) == "tune" else "test"].append((q.question, "document"))
    return out


def accuracy(prior: KindPrior, rows: list[tuple[str, str]]) -> dict[str, float]:
    per_class: dict[str, list[float]] = {}
    for text, label in rows:
        p = prior.probabilities(text)
        per_class.setdefault(label, []).append(float(max(p, key=lambda c: p[c]) == label))
    return {c: round(float(np.mean(v)), 4) for c, v in sorted(per_class.items())} | {"n": len(rows)}


def dev_rankings(store: str, captions: Path | None, pages: list[Path], max_captions: int) -> list[dict]:
    """Each dev query of the pool in ``store``, searched once with the prior off: its fused candidates with kinds.

    The prior only adds a constant per kind to fused evidence, so every weight can be scored from one search:
    the candidates re-sorted, pages keyed by (file, page), the first hit's kind and the target's rank read off.
    (Rerank and moment merging run after this point in a real search; docs/evaluation.md reports real runs.)
    """
    from polyseek.engine import Engine
    from polyseek.search.calibration import kind_of
    from polyseek.search.config import SearchConfig
    from polyseek.types import QueryPart

    engine = Engine(store, read_only=True)  # the pool is only read
    indexed = {str(path) for path, record in engine.catalog.files().items() if record.status == "ok"}
    queries: list[tuple[str, str, set]] = []
    if captions is not None:
        dataset = load_captions(captions)
        images = {c.id: str(c.image.expanduser().absolute()) for c in dataset.candidates if c.image is not None}
        t2i = next(t for t in dataset.tasks if t.name == "text_to_image")
        for query in t2i.queries:
            photo = next(iter(t2i.qrels[query.id]))
            if split_of_photo(photo) == "dev" and images[photo] in indexed and len(queries) < max_captions:
                queries.append((query.text, "visual", {images[photo]}))
    for folder in pages:
        documents, questions = load_questions(folder, split="all")
        for q in questions:
            path = str((documents / q.doc_id).absolute())
            if page_split(q.doc_id) == "tune" and path in indexed:
                queries.append((q.question, "document", {(path, int(p)) for p in q.evidence_pages}))
    off = SearchConfig(kind_prior=0.0)
    out = []
    for number, (text, label, targets) in enumerate(queries, 1):
        trace = engine.trace([QueryPart(text=text)], k=10, config=off)
        fused = trace.fused[:300]
        rows = trace.rows.by_id([i for i, _ in fused])
        candidates = []
        for item_id, score in fused:
            row = rows.get(item_id)
            kind = kind_of(row) if row is not None else "other"  # a photo's tiles compete as the photo
            page = (row.locator or {}).get("page") if row is not None else None
            key = (row.path, int(page)) if kind == "document" and page is not None else (row.path if row else item_id)
            candidates.append((kind, key, float(score)))
        out.append({"text": text, "label": label, "targets": targets, "evidence": trace.fusion == "evidence",
                    "candidates": candidates})
        print(f"\r{number}/{len(queries)}", end="", file=sys.stderr, flush=True)
    engine.close()
    print(file=sys.stderr)
    return out


def score_weight(prior: KindPrior, rankings: list[dict], weight: float) -> dict[str, float]:
    """Per class: share of dev queries whose first hit is of the asked-for kind, and hit@1 / hit@10 of the target."""
    wanted = {"visual": {"image"}, "document": {"document"}}
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for ranking in rankings:
        biases = prior.biases(ranking["text"], weight=weight) if ranking["evidence"] and weight else {}
        ordered = sorted(ranking["candidates"], key=lambda c: -(c[2] + biases.get(c[0], 0.0)))
        keys: list = []
        kinds: list[str] = []
        for kind, key, _ in ordered:
            if key not in keys:
                keys.append(key)
                kinds.append(kind)
        top = keys[:10]
        hit1 = float(bool(top) and top[0] in ranking["targets"])
        hit10 = float(any(k in ranking["targets"] for k in top))
        rows.setdefault(ranking["label"], []).append((float(bool(kinds) and kinds[0] in wanted[ranking["label"]]), hit1, hit10))
    out: dict[str, float] = {}
    for label, values in sorted(rows.items()):
        array = np.array(values)
        out.update({f"{label}_top1_kind": round(float(array[:, 0].mean()), 4), f"{label}_hit@1": round(float(array[:, 1].mean()), 4),
                    f"{label}_hit@10": round(float(array[:, 2].mean()), 4), f"{label}_n": len(values)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=Path)
    parser.add_argument("--pages", type=Path, action="append", default=[])
    parser.add_argument("--weight", type=float, default=1.0, help="prior weight (z units), chosen on dev")
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--output", type=Path, default=SHIPPED)
    parser.add_argument("--choose-weight", metavar="STORE",
                        help="choose --weight on this universal pool's dev queries (the smallest weight within "
                             "0.005 of the best mean of top-1 kind and hit@10 over classes)")
    parser.add_argument("--weights", default="0,0.25,0.5,1,1.5,2,3,4,6", help="candidate weights for --choose-weight")
    parser.add_argument("--max-captions", type=int, default=300, help="dev caption queries used by --choose-weight")
    parser.add_argument("--keep-fit", action="store_true",
                        help="keep the shipped classifier (--output's coefficients); only choose the weight again")
    args = parser.parse_args(argv)
    data = labelled(args.captions, args.pages)
    dev = data["dev"]
    if not dev:
        print("no dev queries: give --captions and/or --pages", file=sys.stderr)
        return 2
    sources = [str(p.name) for p in ([args.captions] if args.captions else []) + args.pages]
    if args.keep_fit:
        prior = KindPrior.from_dict(json.loads(args.output.read_text(encoding="utf-8")))
        report: dict = {key: prior.meta[key] for key in ("dev_accuracy", "test_accuracy") if key in prior.meta}
        if "weight_choice" in prior.meta:  # the earlier choice stays on record beside the new one
            report["weight_choice_before"] = prior.meta["weight_choice"]
    else:
        prior = fit([t for t, _ in dev], [c for _, c in dev], KINDS, l2=args.l2, weight=args.weight,
                    meta={"fitted_on": "dev half only", "sets": sources, "l2": args.l2,
                          "dev_queries": {c: sum(1 for _, x in dev if x == c) for c in sorted({x for _, x in dev})}})
        report = {"dev_accuracy": accuracy(prior, dev), "test_accuracy": accuracy(prior, data["test"])}
    if args.choose_weight:
        rankings = dev_rankings(args.choose_weight, args.captions, args.pages, args.max_captions)
        grid = {w: score_weight(prior, rankings, w) for w in (float(x) for x in args.weights.split(","))}
        objective = {w: float(np.mean([v for k, v in g.items() if k.endswith(("top1_kind", "hit@10"))])) for w, g in grid.items()}
        best = max(objective.values())
        chosen = min(w for w, v in objective.items() if v >= best - 0.005)
        prior = KindPrior(**{**prior.__dict__, "weight": chosen})
        report["weight_choice"] = {"rule": "smallest weight within 0.005 of the best dev objective "
                                           "(mean of top-1 kind and hit@10 over classes; one search per query, fused "
                                           "candidates re-sorted)", "store": str(args.choose_weight),
                                   "grid": {str(w): {**g, "objective": round(objective[w], 4)} for w, g in grid.items()},
                                   "chosen": chosen}
    prior = KindPrior(**{**prior.__dict__, "meta": {**prior.meta, **report}})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    prior.save(args.output)
    print(json.dumps({"output": str(args.output), "weight": prior.weight, **report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
