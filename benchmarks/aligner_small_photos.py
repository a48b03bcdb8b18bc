"""Aligner quality on small photos: two model directories on the tuning holdout of the training pairs, at full size
and shrunk to eval-like sizes, in the same run.

The eval photos (`shared/eval/flickr8k`) are ~200 px thumbnails while the training copies are 224x224, so this
measures, without touching the eval set, how much a model loses on small photos. Both models must have been
trained with the same holdout (default `--holdout 1012 --seed 0`), or the holdout photos were seen in training:

    polyseek align --pairs ../shared/train/flickr8k --output /tmp/new                                 # this recipe
    polyseek align --pairs ../shared/train/flickr8k --low-res-augment 0 --epochs 30 --input-dropout 0.2 --output /tmp/old
    .venv/bin/python benchmarks/aligner_small_photos.py --model /tmp/new --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

SIZES = {"full (224x224)": None, "200x150 (eval-like)": (200, 150), "128x128": (128, 128)}


def figures(model_dir: str, pairs, hold_ids: np.ndarray, queries: np.ndarray, docs: np.ndarray, size) -> dict:
    from PIL import Image

    from polyseek.align.metrics import folded_recall
    from polyseek.encoders.aligner import AlignerEncoder
    from polyseek.ingest.images import open_image

    encoder = AlignerEncoder(model_dir)
    vectors = []
    for start in range(0, len(hold_ids), 64):
        images = [open_image(Path(pairs.images[i])) for i in hold_ids[start : start + 64]]
        if size:
            images = [image.convert("RGB").resize(size, Image.Resampling.BICUBIC) for image in images]
        vectors.append(encoder.encode_images(images))
    mask = np.isin(pairs.owner, hold_ids)
    remap = np.full(len(pairs), -1)
    remap[hold_ids] = np.arange(len(hold_ids))
    return folded_recall(np.concatenate(vectors), queries[mask], docs[mask], remap[pairs.owner[mask]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model directory to measure")
    parser.add_argument("--baseline", required=True, help="model directory to compare with")
    parser.add_argument("--pairs", default="../shared/train/flickr8k")
    parser.add_argument("--holdout", type=int, default=1012)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=".cache/align", help="caption embeddings cached by polyseek align")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    from polyseek.align.data import load_pairs, text_embeddings
    from polyseek.align.modeldir import load_model_dir
    from polyseek.align.pipeline import _split
    from polyseek.encoders.base import normalize

    pairs = load_pairs(args.pairs)
    _, hold_ids = _split(len(pairs), args.holdout, args.seed)
    rows = []
    for label, model_dir in (("baseline", args.baseline), ("model", args.model)):
        config = load_model_dir(model_dir)[0]
        data = json.loads((Path(model_dir) / "data.json").read_text())
        if data.get("holdout_images") != args.holdout or data.get("holdout_seed") != args.seed:
            raise SystemExit(f"{model_dir} was not trained with --holdout {args.holdout}: its holdout photos were seen")
        docs = normalize(text_embeddings(pairs.captions, config.text_encoder, "doc", args.cache))
        queries = normalize(text_embeddings(pairs.captions, config.text_encoder, "query", args.cache))
        for size_label, size in SIZES.items():
            result = figures(model_dir, pairs, hold_ids, queries, docs, size)
            rows.append({"model": f"{label}: {model_dir}", "photos": size_label,
                         **{k: round(v, 3) for k, v in result.items()}})
            print(rows[-1], flush=True)
    write("aligner_small_photos", {"pairs": args.pairs, "holdout": args.holdout, "seed": args.seed}, rows,
          ["model", "photos", "t2i_R@1", "t2i_R@5", "t2i_R@10", "i2t_R@1", "i2t_R@5", "i2t_R@10", "rsum"], args.out)


if __name__ == "__main__":
    main()
