"""Quick A/B of the Matryoshka loss (reduced: 2,000 training photos, the 1,012-photo tuning holdout, as-is view only,
projector only), recall at the leading 64/128/256 dimensions and at all 384, with and without ``matryoshka``.

Run from the repository root (features and caption embeddings are cached, computed if missing; the split, training
function and metric are the pipeline's, as in benchmarks/aligner_negatives_quick.py):
    .venv/bin/python benchmarks/aligner_matryoshka_quick.py --features-cache /tmp/perf/align-cache \\
        --text-cache /tmp/align-cache --output benchmarks/results/aligner_matryoshka_quick.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from polyseek.align.data import image_features, load_pairs, text_embeddings
from polyseek.align.metrics import folded_recall
from polyseek.align.model import assemble, feature_stats
from polyseek.align.pipeline import _split
from polyseek.align.train import TrainOptions, project, train_projector
from polyseek.encoders.base import normalize

DIMS = (64, 128, 256, 384)
SHOWN = ("t2i_R@1", "t2i_R@10", "i2t_R@1", "i2t_R@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="../shared/train/flickr8k")
    parser.add_argument("--features-cache", default=".cache/align")
    parser.add_argument("--text-cache", default=".cache/align")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/aligner_matryoshka_quick.json"))
    args = parser.parse_args()
    pairs = load_pairs(args.pairs)
    feats = image_features(pairs.images, "lite0", False, args.features_cache)
    train_all, hold = _split(len(pairs), 1012, 0)
    train = train_all[:2000]
    ti, hi = np.nonzero(np.isin(pairs.owner, train))[0], np.nonzero(np.isin(pairs.owner, hold))[0]
    texts = [pairs.captions[i] for i in np.concatenate([ti, hi])]
    docs = normalize(text_embeddings(texts, "bge-small-onnx", "doc", args.text_cache))
    queries = normalize(text_embeddings(texts, "bge-small-onnx", "query", args.text_cache))
    remap = np.full(len(pairs), -1)
    remap[train], remap[hold] = np.arange(len(train)), np.arange(len(hold))
    t_owner, h_owner = remap[pairs.owner[ti]], remap[pairs.owner[hi]]
    tq, td, hq, hd = queries[: len(ti)], docs[: len(ti)], queries[len(ti) :], docs[len(ti) :]
    names = ["mean", "logits"]
    block = {k: v[train] for k, v in feats.items()}
    stats = feature_stats(block, names)
    x, x_hold = assemble(block, names, stats), assemble({k: v[hold] for k, v in feats.items()}, names, stats)
    out: dict[str, dict] = {}
    for arm, dims in (("full dimension only", ()), ("matryoshka 64,128,256", (64, 128, 256))):
        projector, _ = train_projector(x, None, tq, td, t_owner, TrainOptions(seed=0, matryoshka=dims))
        vectors = project(projector, x_hold)
        out[arm] = {str(d): folded_recall(normalize(vectors[:, :d]), normalize(hq[:, :d]), normalize(hd[:, :d]), h_owner)
                    for d in DIMS}
        print(arm, json.dumps({d: {k: round(f, 3) for k, f in m.items() if k in SHOWN} for d, m in out[arm].items()}), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
