"""bf16 against fp32 for the aligner's image side on a GPU (the capacity plan's GPU rows use bf16): cosine of every
pooled view of the same photos, and how often a photo's five nearest photos keep their order. Needs torch with CUDA.

    PYTHONPATH=src python benchmarks/gpu_bf16_check.py > benchmarks/results/gpu_bf16_check.json
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from polyseek.align.features import POOLS, _Pooled, load_backbone, preprocess

PHOTOS = Path(__file__).resolve().parent.parent / "src/polyseek/sample/collection/photos"


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_bf16_check: no CUDA device here", file=sys.stderr)
        return 3
    images = [Image.open(p) for p in sorted(PHOTOS.glob("*.jpg"))]
    out: dict[str, object] = {"images": len(images) * 2, "note": "the sample photos and their mirror images"}
    for name, size in (("lite0", 224), ("lite2", 260)):
        module = _Pooled.build(copy.deepcopy(load_backbone(name))).cuda().eval()
        pixels = torch.from_numpy(np.concatenate([preprocess(images, size), preprocess(images, size, flip=True)])).cuda()
        with torch.inference_mode():
            full = module(pixels)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                half = module(pixels)
        result: dict[str, object] = {}
        for pool, a, b in zip(POOLS, full, half):
            cos = torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1)
            result[pool] = {"cos_min": round(cos.min().item(), 5), "cos_mean": round(cos.mean().item(), 5)}
        a, b = (torch.nn.functional.normalize(v[0].float(), dim=1) for v in (full, half))
        order_a, order_b = ((v @ v.T).argsort(dim=1, descending=True)[:, :5] for v in (a, b))
        result["top5_neighbour_order_agreement_mean_pool"] = round(float((order_a == order_b).float().mean()), 4)
        out[name] = result
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
