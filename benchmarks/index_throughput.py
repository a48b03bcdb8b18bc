"""Indexing benchmark: end-to-end photo indexing speed (decode + encode + write) with the default encoders,
against decode-only of the same files in the same run; and an unchanged re-index of 10k files against a bare
walk + stat of the same tree.

    .venv/bin/python benchmarks/index_throughput.py --images ../shared/eval/flickr8k/images --files 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

from polyseek.engine import Engine  # noqa: E402
from polyseek.ingest.images import open_image  # noqa: E402


def photos_row(images: Path, limit: int, image_encoder: str | None) -> dict:
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:limit]
    started = time.perf_counter()
    for path in files:
        open_image(path)
    decode_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        linked = Path(folder) / "photos"
        linked.mkdir()
        for path in files:
            os.symlink(path.resolve(), linked / path.name)  # a relative --images would dangle
        engine = Engine(Path(folder) / "store", image_encoder=image_encoder)
        engine.encoder("image"), engine.encoder("text")  # model loading is start-up, not throughput
        started = time.perf_counter()
        summary = engine.index([linked])
        index_s = time.perf_counter() - started
        names = engine.encoder_names()
        engine.close()
    assert summary.added == len(files), summary.failed[:3]
    return {"case": f"index {len(files)} real JPEGs ({names['image']})", "items": len(files),
            "seconds": index_s, "items_per_s": len(files) / index_s,
            "baseline": "decode only", "baseline_items_per_s": len(files) / decode_s,
            "ratio_vs_baseline": decode_s / index_s}


def unchanged_row(count: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "notes"
        for i in range(count):
            sub = root / f"d{i // 500:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"n{i:05d}.txt").write_text(f"note number {i}\n")
        # the first fill uses the plumbing encoder: this row measures the unchanged check, not embedding
        engine = Engine(Path(folder) / "store", image_encoder="deterministic", text_encoder="deterministic")
        engine.index([root])
        started = time.perf_counter()
        summary = engine.index([root])
        rerun_s = time.perf_counter() - started
        engine.close()
        started = time.perf_counter()
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                os.stat(os.path.join(dirpath, name))
        walk_s = time.perf_counter() - started
    assert summary.unchanged == count and summary.added == 0
    return {"case": f"unchanged re-index of {count} files", "items": count, "seconds": rerun_s,
            "items_per_s": count / rerun_s, "baseline": "os.walk + stat", "baseline_items_per_s": count / walk_s,
            "ratio_vs_baseline": walk_s / rerun_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/eval/flickr8k/images"))
    parser.add_argument("--limit", type=int, default=506)
    parser.add_argument("--image-encoder", default=None, help="default: the shipped aligner")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows = []
    if args.images.is_dir():
        rows.append(photos_row(args.images, args.limit, args.image_encoder))
    else:
        print(f"skipping the photo row: {args.images} not found", file=sys.stderr)
    rows.append(unchanged_row(args.files))
    write("index_throughput", {}, rows, ["case", "items", "seconds", "items_per_s", "baseline", "baseline_items_per_s", "ratio_vs_baseline"], args.out)


if __name__ == "__main__":
    main()
