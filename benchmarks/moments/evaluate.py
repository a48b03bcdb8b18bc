"""Moment retrieval benchmark: index generated videos with the engine, then search each shot's caption.

Every shot has a *caption query*: a caption of its photo that is never spoken. A narrated shot also has a
*spoken query*: the caption its narrator said (another caption of the same photo), as written. Reports
Recall@1/@5 at temporal IoU ≥ 0.5 and the mean IoU of the top result for:

- visual: caption queries, image-text space only (against keyframes), every shot;
- speech: spoken queries, transcript text space + lexical only (finding where words were said, through ASR);
- speech, paraphrase: caption queries of narrated shots, transcript signals only (the words differ from what
  was said: a harder diagnostic);
- fused: all queries (caption queries of every shot and spoken queries of narrated shots), every signal, as
  shipped; and the same split by kind of query.

A hit is correct when it is in the right file and its span overlaps the shot by IoU ≥ 0.5. Indexing speed is
media seconds per wall second over the whole run (models loaded beforehand), with the CPU seconds it used.

    .venv/bin/python benchmarks/moments/evaluate.py --data ../shared/eval/flickr8k --split test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _report import write  # noqa: E402
from generate import generate  # noqa: E402

from polyseek.engine import Engine  # noqa: E402
from polyseek.eval.moments import first_correct, moment_ious, moment_queries  # noqa: E402
from polyseek.search.config import SearchConfig  # noqa: E402

MODES = {"visual": ("image",), "speech": ("text", "lexical"), "fused": ()}


def score(engine: Engine, items: list[dict], spaces: tuple[str, ...], k: int = 5) -> dict:
    per_query = []
    for query in items:
        hits = engine.search([query["text"]], k=k, spaces=spaces)  # a list: captions are not query syntax
        ious = moment_ious(hits, query["path"], query["span"])
        first = first_correct(ious)
        per_query.append({"id": query["id"], "rank": first, "top_iou": ious[0] if ious else 0.0,
                          "top": hits[0].item.locator.to_dict() if hits else None,
                          "top_path": Path(hits[0].item.path).name if hits else None})
    n = len(per_query) or 1
    return {
        "queries": len(per_query),
        "recall@1": sum(1 for q in per_query if q["rank"] == 1) / n,
        "recall@5": sum(1 for q in per_query if q["rank"] is not None and q["rank"] <= 5) / n,
        "mean_iou": sum(q["top_iou"] for q in per_query) / n,
        "per_query": per_query,
    }


def run(data: Path, workdir: Path, split: str, seed: int, minutes: float, narrated: float, limit: int | None,
        image_encoder: str | None, text_encoder: str | None, out_dir: Path, name: str, fusion: str = "rrf") -> dict:
    media = workdir / f"videos-{split}"
    manifest = generate(data, media, split=split, seed=seed, minutes=minutes, narrated=narrated, limit=limit)
    store = workdir / f"store-{split}-{image_encoder or 'default'}-{text_encoder or 'default'}"
    engine = Engine(store, image_encoder=image_encoder, text_encoder=text_encoder, config=SearchConfig(fusion=fusion))
    files = [str((media / v["file"]).absolute()) for v in manifest["videos"]]
    media_seconds = sum(v["duration"] for v in manifest["videos"])
    indexing = None
    if engine.status()["items"] == 0:
        from polyseek.ingest.speech import load_whisper

        engine.encoder("image"), engine.encoder("text"), load_whisper()  # loading models is start-up, not speed
        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = engine.index(files)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if summary.failed:
            raise SystemExit(f"indexing failed: {summary.failed}")
        indexing = {"media_seconds": media_seconds, "wall_seconds": wall, "cpu_seconds": cpu,
                    "speed_x_realtime": media_seconds / wall, "items": summary.items,
                    "load_average_1m": os.getloadavg()[0], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        (store / "indexing.json").write_text(json.dumps(indexing))
    elif (store / "indexing.json").exists():
        indexing = json.loads((store / "indexing.json").read_text())
    items = moment_queries(manifest, media)
    captions = [q for q in items if q["kind"] == "caption"]
    spoken = [q for q in items if q["kind"] == "spoken"]
    narrated = [q for q in captions if q["narrated"]]
    results = {
        "visual": score(engine, captions, MODES["visual"]),
        "speech": score(engine, spoken, MODES["speech"]),
        "speech, paraphrase": score(engine, narrated, MODES["speech"]),
        "fused": score(engine, items, MODES["fused"]),
        "fused: spoken queries": score(engine, spoken, MODES["fused"]),
        "fused: caption queries, narrated shots": score(engine, narrated, MODES["fused"]),
        "fused: caption queries, silent shots": score(engine, [q for q in captions if not q["narrated"]], MODES["fused"]),
    }
    encoders = engine.encoder_names()
    engine.close()
    rows = [{"mode": mode, "queries": r["queries"], "R@1 (IoU≥0.5)": r["recall@1"], "R@5 (IoU≥0.5)": r["recall@5"],
             "mean IoU@1": r["mean_iou"]} for mode, r in results.items()]
    if indexing:
        rows.append({"mode": "indexing speed", "queries": "",
                     "R@1 (IoU≥0.5)": f"{indexing['speed_x_realtime']:.1f}x real time",
                     "R@5 (IoU≥0.5)": f"{indexing['media_seconds']:.0f} media s in {indexing['wall_seconds']:.0f} wall s",
                     "mean IoU@1": f"{indexing['cpu_seconds']:.0f} CPU s"})
    payload = {"split": split, "seed": seed, "encoders": encoders, "fusion": fusion, "videos": len(files), "media_seconds": media_seconds,
               "shots": len(captions), "narrated_shots": len(spoken), "indexing": indexing,
               "results": {m: {k: v for k, v in r.items() if k != "per_query"} for m, r in results.items()},
               "params": manifest["params"], "per_query_file": str(store / "per_query.json")}
    (store / "per_query.json").write_text(json.dumps({m: r["per_query"] for m, r in results.items()}))
    write(name, payload, rows, ["mode", "queries", "R@1 (IoU≥0.5)", "R@5 (IoU≥0.5)", "mean IoU@1"], out_dir)
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval/flickr8k"))
    parser.add_argument("--workdir", type=Path, default=Path("scratch/moments"), help="videos and stores are kept here")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--narrated", type=float, default=0.5)
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos of the split")
    parser.add_argument("--image-encoder", default=None, help="default: the shipped default")
    parser.add_argument("--text-encoder", default=None, help="default: the shipped default")
    parser.add_argument("--fusion", default="rrf", help="engine fusion: rrf (shipped) or zscore")
    parser.add_argument("--no-moment-order", action="store_true",
                        help="ablation: keep the engine's fusion order for moments (skip order_moments)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default=None, help="result file name (default: moments_<split>)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.no_moment_order:
        import polyseek.search.moments as moments

        moments.order_moments = lambda fused, *_args: list(fused)
    run(args.data, args.workdir, args.split, args.seed, args.minutes, args.narrated, args.limit, args.image_encoder,
        args.text_encoder, args.out, args.name or f"moments_{args.split}", args.fusion)


if __name__ == "__main__":
    main()
