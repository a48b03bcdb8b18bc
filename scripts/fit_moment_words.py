"""Fit the cross-kind words rule of the moments policy (search/moments.py ``WordsRule``) on DEV queries of both tasks.

On a universal pool holding a Flickr8k-layout captions set and a moments benchmark whose shots show its photos
(`polyseek eval universal --captions ... --moments ...`), each dev query of both tasks is searched once with the
rule off; the moments policy's inputs are recorded (``CrossKindCase``: fused list, signal lists, rows, the right
ids and the twins) and every rule of the grid is scored on them (``fit_words_rule``: the rule closest to both goals).
Writes the frontier as JSON; the shipped rule is chosen from it (docs/universal.md, session 9).

    python scripts/fit_moment_words.py --store /tmp/uni9/bmd/store --moments /tmp/uni12/mom-dev \
        --captions /work/shared/eval/flickr8k --moment-goal 0.563 --max-captions 600 --output fit-dev.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from polyseek.engine import Engine
from polyseek.eval.universal import UniversalOptions, _caption_task, _moment_task, _twins
from polyseek.search.moments import MOMENT_MODALITIES, CrossKindCase, WordsRule, fit_words_rule


def _inside(row: Any, path: str, span: tuple[float, float]) -> bool:
    """A moment row that lies mostly (half or more of it) inside ``span`` of ``path``: a piece of that shot."""
    if row.path != path or row.modality not in MOMENT_MODALITIES or row.locator.get("start") is None:
        return False
    start = float(row.locator["start"])
    end = float(row.locator.get("end") if row.locator.get("end") is not None else start)
    return max(0.0, min(end, span[1]) - max(start, span[0])) >= 0.5 * max(1e-9, end - start)


def record(store: str, moments: Path, captions: Path, split: str, max_captions: int | None,
           max_moments: int | None = None) -> list[CrossKindCase]:
    caption_task, _ = _caption_task(captions, UniversalOptions(captions=captions))
    moment_task = _moment_task(moments)
    twins = _twins([caption_task, moment_task])
    if twins is None:
        raise SystemExit("the moments benchmark does not show the captions set's photos: no twins to take out")
    engine = Engine(store)
    policy = next(p for p in engine.pipeline.policies if p.name == "moments")
    seen: dict[str, Any] = {}

    class Recorder(WordsRule):
        def apply(self, fused, lists, rows, weights):  # type: ignore[no-untyped-def]
            seen["x"] = (tuple(fused), {s: list(v) for s, v in lists.items()}, dict(rows), dict(weights))
            return list(fused)

    policy.rule = Recorder(None)  # type: ignore[attr-defined]
    queries = [("moments", q) for q in moment_task.queries if q["split"] == split][:max_moments]
    queries += [("captions", q) for q in caption_task.queries if q["split"] == split][:max_captions]
    cases = []
    for task, query in queries:
        seen.clear()
        engine.search(query["text"], k=10)
        if "x" not in seen:
            continue
        fused, lists, rows, weights = seen["x"]
        if task == "moments":
            right = {i for i, r in rows.items() if _inside(r, query["path"], tuple(query["span"]))}
            twin = {i for i, r in rows.items() if r.modality == "image" and Path(r.path).name == query.get("image")
                    and r.path.startswith(twins.photos_folder)}
        else:
            right = {i for i, r in rows.items() if r.path == query["path"]}
            twin = {i for i, r in rows.items()
                    if any(_inside(r, v, (s, e)) for v, s, e in twins.shots.get(query.get("photo", ""), []))}
        cases.append(CrossKindCase(task, fused, lists, rows, weights, frozenset(right), frozenset(twin)))
    return cases


def grid() -> list[WordsRule]:
    rules = [WordsRule(None), WordsRule(3.0)]
    for offset in (0.0, 0.1, 0.25, 0.5):
        for tau in (2.0, 3.0, 4.0, 4.5, 5.0, 6.0):
            for best in (None, 0.0):
                for demote in (False, True):
                    rules.append(WordsRule(tau, best_words=best, demote=demote, offset=offset))
        if offset:
            rules.append(WordsRule(None, offset=offset))
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--moments", type=Path, required=True)
    parser.add_argument("--captions", type=Path, required=True)
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--max-captions", type=int, default=None)
    parser.add_argument("--max-moments", type=int, default=None)
    parser.add_argument("--min-top1-photo", type=float, default=0.95)
    parser.add_argument("--moment-goal", type=float, default=0.0, help="moment R@1 to reach (own − 0.03)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    cases = record(args.store, args.moments, args.captions, args.split, args.max_captions, args.max_moments)
    chosen, table = fit_words_rule(cases, grid(), args.min_top1_photo, args.moment_goal)
    rows = [{"rule": {k: getattr(r, k) for k in ("words_alone", "best_words", "agree", "demote", "offset")},
             **{k: round(v, 4) for k, v in m.items()}} for r, m in table]
    args.output.write_text(json.dumps({"chosen": str(chosen), "table": rows}, indent=1))
    print("chosen", chosen)


if __name__ == "__main__":
    main()
