"""Quick A/B of modality-aware negatives (reduced: 2,000 training photos, 1,012 holdout, as-is view only, with/without 1,000 renders).

Run from the repository root (features and caption embeddings are cached in /tmp/align-cache, computed if missing):
    .venv/bin/python benchmarks/aligner_negatives_quick.py   # writes /tmp/align/quick_ab.json
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from polyseek.align.data import image_features, load_pairs, text_embeddings
from polyseek.align.metrics import folded_recall
from polyseek.align.model import assemble, feature_stats
from polyseek.align.negatives import KINDS, modality_separation, render_negatives
from polyseek.align.pipeline import _split
from polyseek.align.train import TrainOptions, project, train_projector
from polyseek.encoders.base import normalize

cache = "/tmp/align-cache"
pairs = load_pairs("/work/shared/train/flickr8k")
feats = image_features(pairs.images, "lite0", False, cache)
train_all, hold = _split(len(pairs), 1012, 0)
train = train_all[:2000]
def caps(ids):
    sel = np.isin(pairs.owner, ids)
    idx = np.nonzero(sel)[0]
    return idx
ti, hi = caps(train), caps(hold)
texts = [pairs.captions[i] for i in np.concatenate([ti, hi])]
docs = normalize(text_embeddings(texts, "bge-small-onnx", "doc", cache))
qs = normalize(text_embeddings(texts, "bge-small-onnx", "query", cache))
print("text done", flush=True)
remap = np.full(len(pairs), -1)
remap[train] = np.arange(len(train))
remap[hold] = np.arange(len(hold))
t_owner = remap[pairs.owner[ti]]
h_owner = remap[pairs.owner[hi]]
tq, td, hq, hd = qs[:len(ti)], docs[:len(ti)], qs[len(ti):], docs[len(ti):]
paths, rcaps = render_negatives(1000, cache, pairs.captions, seed=0)
rf = image_features(paths, "lite0", False, cache)
flat = [c for t in rcaps for c in t]
rd = normalize(text_embeddings(flat, "bge-small-onnx", "doc", cache))
rq = normalize(text_embeddings(flat, "bge-small-onnx", "query", cache))
rown = np.repeat(np.arange(len(paths)), 5)
rkind = np.array([KINDS.index(Path(p).stem.split("-", 1)[1]) for p in paths])
cpaths, _ = render_negatives(500, cache, pairs.captions, seed=7919)
cf = image_features(cpaths, "lite0", False, cache)
names = ["mean", "logits"]
opts = TrainOptions(seed=0)
out = {}
for arm in ("photos only", "with 1000 renders"):
    block = {k: v[train] for k, v in feats.items()}
    q, d, o, groups = tq, td, t_owner, None
    if arm != "photos only":
        block = {k: np.concatenate([v, rf[k]]) for k, v in block.items()}
        q, d = np.concatenate([tq, rq]), np.concatenate([td, rd])
        o = np.concatenate([t_owner, len(train) + rown])
        groups = np.concatenate([np.arange(len(train)), len(train) + rkind])
    stats = feature_stats(block, names)
    proj, _ = train_projector(assemble(block, names, stats), None, q, d, o, opts, groups=groups)
    hv = project(proj, assemble({k: v[hold] for k, v in feats.items()}, names, stats))
    cv = project(proj, assemble(cf, names, stats))
    out[arm] = {**folded_recall(hv, hq, hd, h_owner), **modality_separation(hv, cv, hq, h_owner)}
    print(arm, json.dumps({k: round(v, 4) for k, v in out[arm].items()}), flush=True)
Path("/tmp/align").mkdir(parents=True, exist_ok=True)
json.dump(out, open("/tmp/align/quick_ab.json", "w"), indent=1)
