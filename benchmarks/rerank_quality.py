"""Page retrieval with the document rerank's depth and window changed, on an index already built (issue 13).

    cp -r /tmp/ev19/mm /tmp/me/mm   # the eval writes nothing, but keep the original read-only
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/rerank_quality.py /work/shared/eval/mmlongbench-doc \\
        /tmp/me/mm/store /tmp/me/base.json --split tune --depth 20 --window 256
    ... --depth 5 --window 128; then: polyseek eval compare /tmp/me/base.json /tmp/me/cheap.json
    ... --skip-gap none (every document query reranked) against the shipped skip rule (the default)

The data folder must be the path the index was built from (within-document search filters on it).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from polyseek.engine import Engine
from polyseek.eval.pages import run_pages_eval, to_markdown
from polyseek.eval.report import write_report
from polyseek.search.config import SearchConfig
from polyseek.types import IndexSummary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("store", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--split", default="tune", choices=("all", "tune", "test"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--depth", type=int, default=20, help="SearchConfig.rerank_depth")
    parser.add_argument("--window", type=int, default=256, help="SearchConfig.rerank_window (word pieces)")
    parser.add_argument("--skip-gap", default="shipped",
                        help="SearchConfig.rerank_skip_gap: a number, 'none' (always rerank) or 'shipped' (the default)")
    parser.add_argument("--image-encoder", default="deterministic", help="the encoder the index was built with")
    args = parser.parse_args()
    if not (args.store / "items.lance").exists():
        parser.error(f"no polyseek store at {args.store}")
    config = replace(SearchConfig(), rerank_depth=args.depth, rerank_window=args.window)
    if args.skip_gap != "shipped":
        try:
            config = replace(config, rerank_skip_gap=None if args.skip_gap == "none" else float(args.skip_gap))
        except ValueError:
            parser.error(f"--skip-gap takes a number in (0, 1], 'none' or 'shipped', got {args.skip_gap!r}")
    engine = Engine(args.store, image_encoder=args.image_encoder, config=config)
    engine.index = lambda *a, **k: IndexSummary()  # type: ignore[method-assign]  # built already: never re-index
    started = time.time()
    report = run_pages_eval(args.data, engine=engine, split=args.split, limit=args.limit)
    report["config"]["rerank"] = {"depth": args.depth, "window": args.window, "skip_gap": config.rerank_skip_gap}
    write_report(report, args.output, render=to_markdown)
    print("seconds", round(time.time() - started))
    for task in ("within_document", "corpus"):
        print(task, {k: round(report[task][k], 3) for k in ("recall@5", "hit@5", "hit@10", "mrr@10")})
    engine.close()


if __name__ == "__main__":
    main()
