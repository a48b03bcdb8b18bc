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
PREFIX_DIMS = (64, 128, 256)  # leading dimensions always measured on the holdout (metrics.json: holdout_prefixes)


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
    # modality-aware negatives (MM-Embed): this many synthetic renders of pages, tables, charts, slides... trained
    # beside the photos with generic captions of their kind (polyseek.align.negatives); 0: photos only
    negatives: int = 0
    # renders (another seed) measured against the holdout photos: how far photos stand from non-photo images
    modality_check: int = 0
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
    if any(d <= 0 for d in options.train.matryoshka):
        raise InvalidInputError(f"--matryoshka dimensions must be positive, got {list(options.train.matryoshka)}",
                                hint="e.g. --matryoshka 64,128,256")
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
    too_long = [d for d in options.train.matryoshka if d >= queries.shape[1]]
    if too_long:
        raise InvalidInputError(f"--matryoshka dimensions {too_long} are not below the text encoder's {queries.shape[1]}",
                                hint="e.g. --matryoshka 64,128,256")
    train_ids, hold_ids = _split(len(pairs), options.holdout, options.train.seed)
    caption_train = np.isin(pairs.owner, train_ids)
    caption_hold = np.isin(pairs.owner, hold_ids)
    remap = np.full(len(pairs), -1)
    remap[train_ids] = np.arange(len(train_ids))
    remap[hold_ids] = np.arange(len(hold_ids))

    renders = _renders(options, pairs, cache, report, options.negatives, options.train.seed) if options.negatives else None

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
        def training_view(block: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
            view = pick(block, train_ids)
            return view if extra is None else {k: np.concatenate([v, extra[k]]) for k, v in view.items()}

        stats = feature_stats(training_view(features, renders and renders["views"]["orig"]), config.features)
        tensors.update(stats)
        x_train = assemble(training_view(features, renders and renders["views"]["orig"]), config.features, stats)
        mirrored = (assemble(training_view(flipped, renders and renders["views"]["flip"]), config.features, stats)
                    if flipped is not None and options.flip_augment else None)
        x_flip: np.ndarray | list[np.ndarray] | None = mirrored
        if small:  # every view drawn equally often: original, mirrored, shrunk, shrunk and mirrored
            x_flip = [v for v in [mirrored] if v is not None] + [
                assemble(training_view(view, renders and renders["views"]["small"][i]), config.features, stats)
                for i, view in enumerate(small)]
        train_queries, train_docs = queries[caption_train], docs[caption_train]
        train_owner = remap[pairs.owner[caption_train]]
        groups = None
        if renders is not None:  # renders follow the photos; a render shares its kind's captions (one group per kind)
            train_queries = np.concatenate([train_queries, renders["queries"]])
            train_docs = np.concatenate([train_docs, renders["docs"]])
            train_owner = np.concatenate([train_owner, len(train_ids) + renders["owner"]])
            groups = np.concatenate([np.arange(len(train_ids)), len(train_ids) + renders["kind"]])
        projector, history = train_projector(x_train, x_flip, train_queries, train_docs, train_owner, options.train,
                                             progress, groups=groups)
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
        if projected is not None:  # leading dimensions alone, as a Matryoshka shortlist would use them
            fused = (normalize((1 - weight) * projected + weight * bridge_vectors(hold["logits"], tensors["bridge.labels"], temperature))
                     if options.bridge else projected)
            metrics["holdout_prefixes"] = {
                str(d): folded_recall(normalize(fused[:, :d]), normalize(hq[:, :d]), normalize(hd[:, :d]), ho)
                for d in sorted(set(PREFIX_DIMS) | set(options.train.matryoshka)) if d < fused.shape[1]}
    if options.modality_check and len(hold_ids) >= 2 and options.projector:
        metrics["holdout_modality"] = _modality_check(options, pairs, cache, report, projector, config, stats,
                                                      tensors, hold, flipped, hold_ids, weight, temperature,
                                                      queries[caption_hold], remap[pairs.owner[caption_hold]])
    config.bridge_weight = float(weight) if options.projector and options.bridge else (1.0 if options.bridge else 0.0)
    config.bridge_temperature = float(temperature)
    metrics["holdout"] = metrics.get("holdout_fused") or metrics.get("holdout_projector") or metrics.get("holdout_bridge")
    metrics["history"] = history
    metrics["options"] = {k: v for k, v in asdict(options).items() if k not in ("output", "cache")}
    metrics["seconds"] = round(time.time() - started, 1)
    if options.output:
        save_model_dir(options.output, config, tensors, labels, _data_summary(pairs, options, train_ids, hold_ids), metrics)
    return metrics


def _renders(options: AlignOptions, pairs: Pairs, cache: Path | None, report, count: int, seed: int) -> dict[str, Any]:
    """Synthetic non-photo renders: their features in the photos' views, caption embeddings, owner and kind per render."""
    import tempfile

    from polyseek.align.negatives import KINDS, render_negatives

    folder = cache if cache is not None else Path(tempfile.mkdtemp(prefix="polyseek-renders-"))
    paths, captions = render_negatives(count, folder, pairs.captions, seed=seed)
    # the same views the photos are trained on: as is, mirrored, and the shrunk ones (in the order of ``small``)
    views: dict[str, Any] = {"orig": image_features(paths, options.backbone, False, cache, report), "small": []}
    if options.flip_augment:
        views["flip"] = image_features(paths, options.backbone, True, cache, report)
    if options.low_res_augment:
        views["small"].append(image_features(paths, options.backbone, False, cache, report, low=options.low_res_augment))
        if options.flip_augment:
            views["small"].append(image_features(paths, options.backbone, True, cache, report, low=options.low_res_augment))
    flat = [c for texts in captions for c in texts]
    owner = np.concatenate([[i] * len(texts) for i, texts in enumerate(captions)]).astype(np.int64)
    docs = normalize(text_embeddings(flat, options.text_encoder, "doc", cache, report))
    queries = docs if _symmetric(options.text_encoder) else normalize(text_embeddings(flat, options.text_encoder, "query", cache, report))
    kinds = np.array([KINDS.index(Path(p).stem.split("-", 1)[1]) for p in paths], dtype=np.int64)
    return {"paths": paths, "views": views, "queries": queries, "docs": docs, "owner": owner, "kind": kinds}


def _modality_check(options: AlignOptions, pairs: Pairs, cache: Path | None, report, projector, config: AlignerConfig,
                    stats: dict[str, np.ndarray], tensors: dict[str, np.ndarray], hold: dict[str, np.ndarray],
                    flipped, hold_ids: np.ndarray, weight: float, temperature: float, hold_queries: np.ndarray,
                    hold_owner: np.ndarray) -> dict[str, float]:
    """Holdout photos against renders of another seed, as the engine would embed both (flip average, bridge fusion)."""
    from polyseek.align.negatives import modality_separation, render_negatives

    folder = cache if cache is not None else Path(__import__("tempfile").mkdtemp(prefix="polyseek-renders-"))
    paths, _ = render_negatives(options.modality_check, folder, pairs.captions, seed=options.train.seed + 7919)
    rendered = image_features(paths, options.backbone, False, cache, report)
    if options.flip_average:
        mirrored = image_features(paths, options.backbone, True, cache, report)
        rendered = {k: (v + mirrored[k]) / 2 for k, v in rendered.items()}

    def embed(block: dict[str, np.ndarray]) -> np.ndarray:
        vectors = project(projector, assemble(block, config.features, stats))
        if options.bridge:
            vectors = normalize((1 - weight) * vectors + weight * bridge_vectors(block["logits"], tensors["bridge.labels"], temperature))
        return vectors

    return {**modality_separation(embed(hold), embed(rendered), hold_queries, hold_owner), "renders": len(paths)}


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
