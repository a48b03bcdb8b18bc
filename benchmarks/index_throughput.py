"""Indexing benchmark: end-to-end photo indexing speed (decode + encode + write) with the default encoders,
against decode-only of the same files in the same run; and an unchanged re-index of 10k files against a bare
walk + stat of the same tree.

    .venv/bin/python benchmarks/index_throughput.py --images ../shared/eval/flickr8k/images --files 10000
    .venv/bin/python benchmarks/index_throughput.py --photos-vs-encoder 128   # end to end vs the aligner's encode
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


def photos_vs_encoder_row(images: Path, limit: int, repeats: int) -> dict:
    """Photos end to end (``Engine.index``: walk, decode, encode, write) against the aligner's own encode throughput
    (decode + ``encode_images`` in batches of 32, nothing else) on the same files, alternating, in the same run.
    CPU seconds of the process (all threads) give the ratio that does not depend on the neighbours' load."""
    import statistics

    files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:limit]
    encoder_runs: list[tuple[float, float]] = []
    index_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        linked = Path(folder) / "photos"
        linked.mkdir()
        for path in files:
            os.symlink(path.resolve(), linked / path.name)
        probe = Engine(Path(folder) / "probe")
        encoder = probe.encoder("image")
        probe.encoder("text")
        encoder.encode_images([open_image(files[0])])  # loading is start-up, not throughput
        for repeat in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            for lo in range(0, len(files), 32):
                encoder.encode_images([open_image(p) for p in files[lo:lo + 32]])
            encoder_runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
            engine = Engine(Path(folder) / f"store{repeat}")
            engine.encoder("image"), engine.encoder("text")
            started, cpu_started = time.perf_counter(), time.process_time()
            summary = engine.index([linked])
            index_runs.append((time.perf_counter() - started, time.process_time() - cpu_started))
            engine.close()
            assert summary.added == len(files), summary.failed[:3]
        probe.close()
    encode_s, encode_cpu = (statistics.median(r[i] for r in encoder_runs) for i in (0, 1))
    index_s, index_cpu = (statistics.median(r[i] for r in index_runs) for i in (0, 1))
    return {"case": f"index {len(files)} photos end to end (default encoders), median of {repeats}", "items": len(files),
            "seconds": index_s, "items_per_s": len(files) / index_s, "cpu_ms_per_item": 1000 * index_cpu / len(files),
            "baseline": "decode + aligner encode_images", "baseline_items_per_s": len(files) / encode_s,
            "baseline_cpu_ms_per_item": 1000 * encode_cpu / len(files),
            "ratio_vs_baseline": encode_s / index_s, "cpu_ratio_vs_baseline": encode_cpu / index_cpu,
            "load_avg_1m": round(os.getloadavg()[0], 2)}


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
    parser.add_argument("--photos-vs-encoder", type=int, default=0, metavar="N",
                        help="only photos end to end against the aligner's own encode throughput, on N photos")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.photos_vs_encoder:
        if not args.images.is_dir():
            raise SystemExit(f"{args.images}: not a folder of photos (expected ../shared/eval/flickr8k/images)")
        row = photos_vs_encoder_row(args.images, args.photos_vs_encoder, args.repeats)
        write("index_photos_vs_encoder", {"goal": "issue 13: photos end to end >= 0.9x the aligner's own encode throughput"},
              [row], ["case", "items", "items_per_s", "cpu_ms_per_item", "baseline", "baseline_items_per_s",
                      "baseline_cpu_ms_per_item", "ratio_vs_baseline", "cpu_ratio_vs_baseline", "load_avg_1m"], args.out)
        return
    rows = []
    if args.images.is_dir():
        rows.append(photos_row(args.images, args.limit, args.image_encoder))
    else:
        print(f"skipping the photo row: {args.images} not found", file=sys.stderr)
    rows.append(unchanged_row(args.files))
    write("index_throughput", {}, rows, ["case", "items", "seconds", "items_per_s", "baseline", "baseline_items_per_s", "ratio_vs_baseline"], args.out)


if __name__ == "__main__":
    main()
