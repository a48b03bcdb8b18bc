"""Aligner image-encoding throughput per backbone and runtime (decode + preprocess + backbone + projector), against
eager torch Lite0 in the same run; the machine's load average is recorded because the cores are shared.

    .venv/bin/python benchmarks/aligner_encode.py --images ../shared/eval/flickr8k/images --limit 128
    .venv/bin/python benchmarks/aligner_encode.py --only-index 128    # end to end: Engine.index into LanceDB

CPU time per photo is reported beside wall time: on shared cores it is the figure that does not depend on the
neighbours, and 2 / (CPU seconds per photo) is the rate on two free cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402


def measure(files: list[Path], backbone: str, runtime: str, batch: int, flip: bool, repeats: int) -> dict:
    from polyseek.align import features
    from polyseek.ingest.images import open_image

    os.environ["POLYSEEK_ALIGNER_RUNTIME"] = runtime
    features.extract(backbone, [open_image(files[0])] * 2)  # load / export outside the timing
    best = float("inf")
    cpu = 0.0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for lo in range(0, len(files), batch):
            images = [open_image(p) for p in files[lo : lo + batch]]
            features.extract(backbone, images, ("mean", "logits"), batch_size=batch)
            if flip:
                features.extract(backbone, images, ("mean", "logits"), flip=True, batch_size=batch)
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, cpu = elapsed, time.process_time() - cpu_started
    return {"backbone": backbone, "runtime": runtime, "batch": batch, "flip_average": flip, "images": len(files),
            "images_per_s": len(files) / best, "ms_per_image": 1000 * best / len(files),
            "cpu_ms_per_image": 1000 * cpu / len(files), "load_avg_1m": os.getloadavg()[0]}


def index_row(files: list[Path]) -> dict:
    """Decode + encode (default aligner) + LanceDB write of real photos through Engine.index."""
    import tempfile

    from polyseek.engine import Engine

    with tempfile.TemporaryDirectory() as folder:
        linked = Path(folder) / "photos"
        linked.mkdir()
        for path in files:
            os.symlink(path.resolve(), linked / path.name)
        engine = Engine(Path(folder) / "store")
        engine.encoder("image"), engine.encoder("text")  # loading is start-up, not throughput
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = engine.index([linked])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        engine.close()
    assert summary.added == len(files), summary.failed[:3]
    return {"case": f"Engine.index {len(files)} photos (default encoders)", "images": len(files),
            "images_per_s": len(files) / elapsed, "cpu_ms_per_image": 1000 * cpu / len(files),
            "images_per_s_on_2_free_cores": 2 * len(files) / cpu, "load_avg_1m": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/eval/flickr8k/images"))
    parser.add_argument("--limit", type=int, default=128)
    parser.add_argument("--backbones", default="lite0,lite1,lite2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only-index", type=int, default=0, help="only the end-to-end Engine.index row, on N photos")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.only_index:
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[: args.only_index]
        columns = ["case", "images", "images_per_s", "cpu_ms_per_image", "images_per_s_on_2_free_cores", "load_avg_1m"]
        write("aligner_index", {}, [index_row(files)], columns, args.out)
        return
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[: args.limit]
    rows = [measure(files, "lite0", "torch", 16, False, args.repeats)]  # baseline
    for backbone in args.backbones.split(","):
        for batch in (1, 16):
            rows.append(measure(files, backbone, "onnx", batch, False, args.repeats))
        if backbone == "lite0":
            rows.append(measure(files, backbone, "onnx", 16, True, args.repeats))
    base = rows[0]["images_per_s"]
    for row in rows:
        row["ratio_vs_torch_lite0"] = row["images_per_s"] / base
    columns = ["backbone", "runtime", "batch", "flip_average", "images", "images_per_s", "ms_per_image",
               "cpu_ms_per_image", "ratio_vs_torch_lite0", "load_avg_1m"]
    write("aligner_encode", {"threads": os.environ.get("POLYSEEK_THREADS", "default")}, rows, columns, args.out)


if __name__ == "__main__":
    main()
