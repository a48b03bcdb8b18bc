"""``polyseek align`` end to end: pairs -> cached features and caption embeddings -> projector -> model directory."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.align.bridge import bridge_vectors, imagenet_labels, label_embeddings
from polyseek.align.data import Pairs, image_features, load_pairs, text_embeddings
from polyseek.align.features import POOLS, backbone_spec
from polyseek.align.metrics import folded_recall
from polyseek.align.model import assemble, feature_stats
from polyseek.align.modeldir import AlignerConfig, save_model_dir
from polyseek.align.train import TrainOptions, project, projector_tensors, train_projector
from polyseek.encoders.base import load_encoder, normalize
from polyseek.errors import InvalidInputError

Progress = Callable[[str, int, int, dict], None]
BRIDGE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
BRIDGE_TEMPERATURES = (0.5, 1.0, 2.0)
TEXT_ENCODERS = ("bge-small-onnx", "minilm")


@dataclass
class AlignOptions:
    pairs: str
    output: str | None
    backbone: str = "lite0"
    text_encoder: str = "bge-small-onnx"
    features: list[str] = field(default_factory=lambda: ["mean", "logits"])
    flip_augment: bool = True  # train on mirrored features too (extracting them doubles the feature time, once)
    flip_average: bool = True  # average mirrored features at inference (2 backbone passes per image)
    # also train on the photos shrunk to this side (then scaled back up by the backbone), so that small photos, like
    # the ~200 px eval thumbnails, keep their quality: tuning holdout at 200x150, t->i R@1 0.258 -> 0.287
    # (benchmarks/aligner_small_photos.py)
    low_res_augment: int = 128
    holdout: int = 1012  # images held out (seeded) to tune the bridge weight and report figures; 0 trains on all
    bridge: bool = True
    projector: bool = True
    bridge_weight: float | None = None  # None: tuned on the holdout (0.3 when there is none)
    bridge_temperature: float | None = None
    cache: str | None = None
    train: TrainOptions = field(default_factory=TrainOptions)


def _symmetric(encoder_name: str) -> bool:
    """Whether the text encoder embeds queries and documents identically (then captions are encoded once)."""
    encoder = load_encoder(encoder_name)
    probe = ["a dog runs through the grass"]
    return bool(np.array_equal(encoder.encode_queries(probe), encoder.encode_documents(probe)))


def _split(n: int, holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if holdout < 0 or holdout > n - 2:
        raise InvalidInputError(f"--holdout must be between 0 and {n - 2} for {n} images, got {holdout}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[holdout:]), np.sort(order[:holdout])


def _tune_fusion(projected: np.ndarray | None, logits: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                 docs: np.ndarray, owner: np.ndarray, weights: tuple[float, ...], temperatures: tuple[float, ...]):
    """Pick (bridge weight, temperature) by rsum on the holdout; returns (weight, temperature, figures by weight)."""
    best = (-1.0, 0.0, 1.0)
    table = {}
    for temperature in temperatures:
        bridged = bridge_vectors(logits, labels, temperature)
        for weight in weights:
            if projected is None:
                vectors = bridged
            else:
                vectors = normalize((1 - weight) * projected + weight * bridged)
            figures = folded_recall(vectors, queries, docs, owner)
            table[f"w={weight},t={temperature}"] = figures
            if figures["rsum"] > best[0]:
                best = (figures["rsum"], weight, temperature)
            if projected is None:
                break
    return best[1], best[2], table


def run_align(options: AlignOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Train an aligner and (when ``options.output``) write its model directory; returns the metrics."""
    started = time.time()
    if options.text_encoder not in TEXT_ENCODERS and not options.text_encoder.startswith("sentence-transformers:"):
        raise InvalidInputError(f"unknown text encoder {options.text_encoder!r}",
                                hint="accepted: " + ", ".join(TEXT_ENCODERS) + ", or sentence-transformers:<path>")
    if not options.projector and not options.bridge:
        raise InvalidInputError("nothing to build: both the projector and the bridge are off")
    unknown = [f for f in options.features if f not in POOLS]
    if unknown or not options.features:
        raise InvalidInputError(f"unknown feature(s) {unknown}", hint="accepted: " + ", ".join(POOLS))
    backbone_spec(options.backbone)
    report = (lambda stage, done, total: progress(stage, done, total, {})) if progress else None
    pairs = load_pairs(options.pairs)
    cache = Path(options.cache) if options.cache else None
    features = image_features(pairs.images, options.backbone, False, cache, report)
    need_flips = (options.flip_augment and options.projector) or options.flip_average
    flipped = image_features(pairs.images, options.backbone, True, cache, report) if need_flips else None
    small: list[dict[str, np.ndarray]] = []  # extra training views: the photos shrunk (and mirrored, with flips)
    if options.low_res_augment and options.projector:
        small.append(image_features(pairs.images, options.backbone, False, cache, report, low=options.low_res_augment))
        if options.flip_augment:
            small.append(image_features(pairs.images, options.backbone, True, cache, report, low=options.low_res_augment))
    docs = normalize(text_embeddings(pairs.captions, options.text_encoder, "doc", cache, report))
    if _symmetric(options.text_encoder):  # e.g. MiniLM: no query prompt, so one pass serves both sides
        queries = docs
    else:
        queries = normalize(text_embeddings(pairs.captions, options.text_encoder, "query", cache, report))
    train_ids, hold_ids = _split(len(pairs), options.holdout, options.train.seed)
    caption_train = np.isin(pairs.owner, train_ids)
    caption_hold = np.isin(pairs.owner, hold_ids)
    remap = np.full(len(pairs), -1)
    remap[train_ids] = np.arange(len(train_ids))
    remap[hold_ids] = np.arange(len(hold_ids))

    labels = imagenet_labels()
    config = AlignerConfig(backbone=options.backbone, text_encoder=options.text_encoder, dim=int(queries.shape[1]),
                           features=list(options.features), hidden=options.train.hidden,
                           flip_average=options.flip_average, use_projector=options.projector, use_bridge=options.bridge)
    tensors: dict[str, np.ndarray] = {}
    if options.bridge:
        tensors["bridge.labels"] = label_embeddings(load_encoder(options.text_encoder), labels, config.label_template)

    def pick(block: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[ids] for k, v in block.items()}

    history: list[dict] = []
    if options.projector:
        stats = feature_stats(pick(features, train_ids), config.features)
        tensors.update(stats)
        x_train = assemble(pick(features, train_ids), config.features, stats)
        x_flip = assemble(pick(flipped, train_ids), config.features, stats) if flipped is not None and options.flip_augment else None
        if small:  # every view drawn equally often: original, mirrored, shrunk, shrunk and mirrored
            x_flip = [v for v in [x_flip] if v is not None] + [assemble(pick(view, train_ids), config.features, stats)
                                                              for view in small]
        projector, history = train_projector(x_train, x_flip, queries[caption_train], docs[caption_train],
                                             remap[pairs.owner[caption_train]], options.train, progress)
        tensors.update(projector_tensors(projector))

    metrics: dict[str, Any] = {"holdout_images": int(len(hold_ids)), "train_images": int(len(train_ids))}
    weight = options.bridge_weight if options.bridge_weight is not None else config.bridge_weight
    temperature = options.bridge_temperature if options.bridge_temperature is not None else config.bridge_temperature
    if len(hold_ids) >= 2:
        hq, hd, ho = queries[caption_hold], docs[caption_hold], remap[pairs.owner[caption_hold]]
        hold = pick(features, hold_ids)
        if flipped is not None and options.flip_average:
            hold = {k: (v + flipped[k][hold_ids]) / 2 for k, v in hold.items()}
        projected = project(projector, assemble(hold, config.features, stats)) if options.projector else None
        if projected is not None:
            metrics["holdout_projector"] = folded_recall(projected, hq, hd, ho)
        if options.bridge:
            weights = (weight,) if options.bridge_weight is not None else BRIDGE_WEIGHTS
            temps = (temperature,) if options.bridge_temperature is not None else BRIDGE_TEMPERATURES
            weight, temperature, table = _tune_fusion(projected, hold["logits"], tensors["bridge.labels"], hq, hd, ho,
                                                      weights, temps)
            _, _, bridge_only = _tune_fusion(None, hold["logits"], tensors["bridge.labels"], hq, hd, ho, (1.0,), (temperature,))
            metrics["holdout_bridge"] = next(iter(bridge_only.values()))
            metrics["holdout_fusion_grid"] = table
            if projected is not None:
                metrics["holdout_fused"] = table[f"w={weight},t={temperature}"]
    config.bridge_weight = float(weight) if options.projector and options.bridge else (1.0 if options.bridge else 0.0)
    config.bridge_temperature = float(temperature)
    metrics["holdout"] = metrics.get("holdout_fused") or metrics.get("holdout_projector") or metrics.get("holdout_bridge")
    metrics["history"] = history
    metrics["options"] = {k: v for k, v in asdict(options).items() if k not in ("output", "cache")}
    metrics["seconds"] = round(time.time() - started, 1)
    if options.output:
        save_model_dir(options.output, config, tensors, labels, _data_summary(pairs, options, train_ids, hold_ids), metrics)
    return metrics


def _data_summary(pairs: Pairs, options: AlignOptions, train_ids: np.ndarray, hold_ids: np.ndarray) -> dict[str, Any]:
    pairs_file = pairs.root / "pairs.jsonl"
    digest = hashlib.sha256(pairs_file.read_bytes()).hexdigest() if pairs_file.exists() else None
    splits: dict[str, int] = {}
    for i in train_ids:
        splits[pairs.splits[i]] = splits.get(pairs.splits[i], 0) + 1
    return {
        "pairs": str(options.pairs),
        "pairs_sha256": digest,
        "images": len(pairs),
        "captions": len(pairs.captions),
        "train_images": int(len(train_ids)),
        "holdout_images": int(len(hold_ids)),
        "train_images_by_source_split": splits,
        "holdout_seed": options.train.seed,
    }
