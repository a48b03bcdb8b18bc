"""Encoder throughput on a GPU machine, for the capacity plan (docs/scale.md): photos/s and passages/s per device.

polyseek never needs a GPU; this measures what one buys when a cluster has them. It runs the aligner's frozen
image backbone (EfficientNet-Lite0, the default, and Lite2, the upgrade target) as the indexer does — the pooled
graph of ``polyseek.align.features`` on a squashed 224/260 px batch, twice per photo (``flip_average``) — in eager
PyTorch on the GPU (fp32 and bf16 autocast, channels-last), against ONNX Runtime on all the machine's CPU cores in
the same run. JPEG decoding + squashing (``features.preprocess``) is measured on a process pool of every core, since
with a GPU it becomes the limit. The text side is bge-small's architecture (BERT, 12 layers, 384 wide) with random
weights in fp16: throughput depends on shapes, not on weight values (the shipped bge-small is an int8 ONNX model that
runs on CPU only, so its own numbers are the CPU rows of ``index_throughput``).

    PYTHONPATH=src python benchmarks/gpu_encode.py --out OUTDIR   # needs torch with CUDA; exits 3 without a GPU
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

SAMPLE_PHOTOS = Path(__file__).resolve().parent.parent / "src/polyseek/sample/collection/photos"


def _timed(fn, repeats: int) -> float:
    """Median seconds of ``fn`` (which must synchronise) over ``repeats`` after two warm-ups."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def gpu_backbone(name: str, batch: int, dtype: str, repeats: int) -> dict:
    import torch

    from polyseek.align.features import _Pooled, backbone_spec, load_backbone

    spec = backbone_spec(name)
    # a copy: load_backbone is cached per process and the CPU rows below export the same network
    module = _Pooled.build(copy.deepcopy(load_backbone(name))).cuda().to(memory_format=torch.channels_last)
    pixels = torch.randn(batch, 3, spec.size, spec.size, device="cuda").to(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            module(pixels)
        torch.cuda.synchronize()

    seconds = _timed(run, repeats)
    return {"encoder": f"{spec.model_name} pooled (aligner image side)", "device": "GPU", "precision": dtype,
            "batch": batch, "images_per_s": round(batch / seconds, 1), "photos_per_s": round(batch / seconds / 2, 1)}


def cpu_backbone(name: str, batch: int, repeats: int) -> dict:
    from polyseek.align.features import backbone_spec, onnx_backbone

    spec = backbone_spec(name)
    session = onnx_backbone(name, os.cpu_count())
    pixels = np.random.default_rng(0).standard_normal((batch, 3, spec.size, spec.size), dtype=np.float32)
    seconds = _timed(lambda: session.run(None, {"pixels": pixels}), repeats)
    return {"encoder": f"{spec.model_name} pooled (aligner image side)", "device": f"CPU, ONNX Runtime, {os.cpu_count()} threads",
            "precision": "fp32", "batch": batch, "images_per_s": round(batch / seconds, 1),
            "photos_per_s": round(batch / seconds / 2, 1)}


def _decode(path: str) -> int:
    from PIL import Image

    from polyseek.align.features import preprocess

    with Image.open(path) as image:
        return int(preprocess([image], 224).shape[0])


def decode_pool(copies: int) -> dict:
    paths = [str(p) for p in sorted(SAMPLE_PHOTOS.glob("*.jpg"))] * copies
    workers = os.cpu_count() or 1
    with Pool(workers) as pool:
        pool.map(_decode, paths[:workers * 2])  # warm the workers' imports
        start = time.perf_counter()
        done = sum(pool.map(_decode, paths, chunksize=8))
        seconds = time.perf_counter() - start
    return {"encoder": "JPEG decode + squash to 224 px (features.preprocess)", "device": f"CPU, {workers} processes",
            "precision": "uint8→fp32", "batch": 1, "images_per_s": round(done / seconds, 1),
            "photos_per_s": round(done / seconds, 1), "photos": done}


def gpu_text(batch: int, seq: int, repeats: int) -> dict:
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512)
    model = BertModel(config).cuda().half().eval()
    ids = torch.randint(1000, 30000, (batch, seq), device="cuda")
    mask = torch.ones_like(ids)

    def run() -> None:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)
        torch.cuda.synchronize()

    seconds = _timed(run, repeats)
    return {"encoder": f"bge-small architecture (random weights), {seq} tokens", "device": "GPU", "precision": "fp16",
            "batch": batch, "images_per_s": None, "passages_per_s": round(batch / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_encode: no CUDA device here; this benchmark only runs on a GPU machine", file=sys.stderr)
        return 3
    rows = []
    for name in ("lite0", "lite2"):
        for batch in (64, 256):
            for dtype in ("fp32", "bf16"):
                rows.append(gpu_backbone(name, batch, dtype, args.repeats))
                print(rows[-1], flush=True)
        rows.append(cpu_backbone(name, 32, max(3, args.repeats // 3)))
        print(rows[-1], flush=True)
    rows.append(decode_pool(copies=120))
    print(rows[-1], flush=True)
    for seq in (128, 512):
        rows.append(gpu_text(256, seq, args.repeats))
        print(rows[-1], flush=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import write

    gpu = torch.cuda.get_device_name(0)
    write("gpu_encode", {"gpu": gpu, "torch": torch.__version__, "note": __doc__.split("\n\n")[1].replace("\n", " ")},
          rows, ["encoder", "device", "precision", "batch", "images_per_s", "photos_per_s", "passages_per_s"], args.out)
    print(json.dumps({"gpu": gpu}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
