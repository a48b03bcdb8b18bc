"""Train the shipped projection multilingual-e5-small → bge-small (queries) on English captions only, and measure it.

    .venv/bin/python scripts/train_multilingual_projection.py --pairs ../shared/train/flickr8k --max-photos 2560 \
        --ridge 3e-4,1e-4,3e-5 --output src/polyseek/models/e5-to-bge

Fits ridge least squares ``bge_query(caption) ≈ e5_query(caption) @ W + b`` on English captions (``--captions-per-photo``
of each of the first ``--max-photos`` photos) of the training photos; ``--holdout`` photos (seed ``--seed``, the split
``polyseek align`` uses) are never trained on. With ``--image-weight λ`` the target also pulls towards the aligner's
vector of the caption's photo (XBT-style): target = (bge + λ·image) / (1 + λ). On ``--dev-photos`` held-out photos (one
gallery of 506) it measures text→image recall against the shipped aligner's photo vectors, for English (bge itself and
projected e5) and ``--dev-langs`` of ``captions_multilingual.json`` (projected e5), over the ridge × image-weight grid;
it picks the best mean R@10 of zh and de (English may not drop more than half a point under bge's, else every row is
penalised alike), then the gate of the ``multilingual`` encoder the same way, and writes the model folder (the chosen
map fitted on the training photos, config with the gate, metrics.json). Caption embeddings are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyseek.align.data import load_pairs, text_embeddings  # noqa: E402
from polyseek.align.metrics import folded_recall  # noqa: E402
from polyseek.encoders.projection import fit_linear, save_projection  # noqa: E402

DEV_LANGS = {"zh": "zh", "de": "de", "fr": "fr_translation", "cs": "cs_translation"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def image_vectors(paths: list[str], cache: Path) -> np.ndarray:
    """The shipped aligner's vectors of the photos (what the index holds), cached."""
    from polyseek.align.data import _key
    from polyseek.encoders.base import load_encoder
    from polyseek.inputs import load_image

    path = cache / f"aligner-images-{_key(paths)}.npy"
    if path.exists():
        return np.load(path)
    encoder = load_encoder("aligner")
    out = []
    for start in range(0, len(paths), 32):
        out.append(encoder.encode_images([load_image(p) for p in paths[start : start + 32]]))
        log(f"aligner images {min(start + 32, len(paths))}/{len(paths)}")
    vectors = np.concatenate(out)
    np.save(path, vectors)
    return vectors


def t2i(images: np.ndarray, queries: np.ndarray, owner: np.ndarray) -> dict[str, float]:
    figures = folded_recall(images, queries, queries, owner)
    return {k: round(v, 4) for k, v in figures.items() if k.startswith("t2i")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--output", default=None, help="model folder to write (leave out to only measure)")
    parser.add_argument("--holdout", type=int, default=1012)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge", default="0.001,0.01,0.1", help="ridge values to try (one value: no choice)")
    parser.add_argument("--image-weight", default="0", help="image weights λ to try, e.g. 0,0.5,1")
    parser.add_argument("--captions-per-photo", type=int, default=1, help="English captions per photo to train on")
    parser.add_argument("--max-photos", type=int, default=0, help="train on the first N photos of pairs.jsonl only (0: all)")
    parser.add_argument("--dev-photos", type=int, default=506, help="held-out photos measured (one gallery of 506)")
    parser.add_argument("--dev-captions", type=int, default=1, help="captions per held-out photo and language")
    parser.add_argument("--dev-langs", default="zh,de", help="languages measured on the holdout: " + ",".join(DEV_LANGS))
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"))
    parser.add_argument("--json", default=None, help="also write the measurements here")
    args = parser.parse_args()

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pairs = load_pairs(args.pairs)
    n = len(pairs)
    order = np.random.default_rng(args.seed).permutation(n)
    hold = np.sort(order[: args.holdout])
    train = np.sort(order[args.holdout :])
    log(f"{n} photos, {len(pairs.captions)} captions; training on {len(train)} photos, holding out {len(hold)}")

    # the first --captions-per-photo captions of each photo (Flickr8k's five are near-paraphrases; two halve the cost)
    used = min(n, args.max_photos or n)  # the first --max-photos photos of pairs.jsonl give training captions
    keep = np.concatenate([np.flatnonzero(pairs.owner == i)[: args.captions_per_photo] for i in range(used)])
    pairs = type(pairs)(pairs.root, pairs.images, [pairs.captions[c] for c in keep], pairs.owner[keep], pairs.splits)
    e5 = text_embeddings(pairs.captions, "e5-multilingual", "query", cache)
    log(f"e5: {len(pairs.captions)} captions")
    bge = text_embeddings(pairs.captions, "bge-small-onnx", "query", cache)
    log("bge done")
    ridges = [float(v) for v in args.ridge.split(",")]
    weights = [float(v) for v in args.image_weight.split(",")]
    in_train = np.isin(pairs.owner, train)
    log(f"{int(in_train.sum())} training captions (photos {used} of {n}, {args.captions_per_photo} per photo)")
    # the aligner's photo vectors: every photo for an image-weighted target, else the held-out ones only
    photos = None
    if any(w > 0 for w in weights):
        photos = image_vectors(pairs.images, cache)
    elif len(hold):
        photos = np.zeros((n, bge.shape[1]), dtype=np.float32)
        photos[hold] = image_vectors([pairs.images[i] for i in hold], cache)

    def target(weight: float, mask: np.ndarray) -> np.ndarray:
        y = bge[mask]
        if weight > 0:
            y = (y + weight * photos[pairs.owner[mask]]) / (1 + weight)
        return y

    report: dict = {"photos": n, "train_photos": int(len(train)), "holdout_photos": int(len(hold)), "seed": args.seed}
    choice = (ridges[0], weights[0])
    gate = {"agree": 0.6, "weight": 1.0}
    dev_texts: dict[str, list[str]] = {}
    if len(hold):
        hold = hold[: args.dev_photos]  # measured photos (the projection never trains on any held-out photo)
        hold_images = photos[hold]
        local = {int(p): i for i, p in enumerate(hold)}
        held_caps = np.isin(pairs.owner, hold)  # English dev captions: those of measured photos among the first --max-photos
        en_owner = np.array([local[int(o)] for o in pairs.owner[held_caps]])
        multilingual = json.loads((Path(args.pairs) / "captions_multilingual.json").read_text(encoding="utf-8"))
        names = [Path(p).name for p in pairs.images]
        dev: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for lang, key in ((lang, DEV_LANGS[lang]) for lang in args.dev_langs.split(",")):
            texts, owner = [], []
            for p in hold:
                for caption in (multilingual.get(names[p], {}).get(key) or [])[: args.dev_captions]:
                    texts.append(caption)
                    owner.append(local[int(p)])
            # the holdout in gallery order: folded_recall needs captions grouped by photo, which they are
            dev[lang] = (text_embeddings(texts, "e5-multilingual", "query", cache), np.array(owner))
            dev_texts[lang] = texts
            log(f"dev {lang}: {len(texts)} captions")
        report["dev_bge_en"] = t2i(hold_images, bge[held_caps], en_owner)
        grid = {}
        for ridge in ridges:
            for weight in weights:
                projection = fit_linear(e5[in_train], target(weight, in_train), ridge=ridge)
                row = {"en": t2i(hold_images, projection(e5[held_caps]), en_owner)}
                for lang, (vectors, owner) in dev.items():
                    row[lang] = t2i(hold_images, projection(vectors), owner)
                row["target_cosine_en"] = round(float(np.sum(projection(e5[held_caps]) * bge[held_caps], axis=1).mean()), 4)
                grid[f"ridge={ridge},image_weight={weight}"] = row
                log(f"ridge {ridge} λ {weight}: " + ", ".join(f"{k} {v['t2i_R@10']:.3f}" for k, v in row.items() if isinstance(v, dict)))
        report["dev_grid"] = grid
        floor = report["dev_bge_en"]["t2i_R@10"] - 0.005

        def score(key: str) -> float:
            row = grid[key]
            penalty = 0.0 if row["en"]["t2i_R@10"] >= floor else 1.0
            return (row["zh"]["t2i_R@10"] + row["de"]["t2i_R@10"]) / 2 - penalty

        best = max(grid, key=score)
        choice = tuple(float(part.split("=")[1]) for part in best.split(","))
        report["chosen"] = best
        log(f"chosen {best}")
        # the gate: bge's own query where bge and the projection agree (English), the projection elsewhere
        from polyseek.encoders.base import load_encoder, normalize

        projection = fit_linear(e5[in_train], target(choice[1], in_train), ridge=choice[0])
        bge_model = load_encoder("bge-small-onnx")
        own = {"en": bge[held_caps]}
        mine = {"en": projection(e5[held_caps])}
        owners = {"en": en_owner}
        for lang, (vectors, owner) in dev.items():
            own[lang] = bge_model.encode_queries(dev_texts[lang])
            mine[lang] = projection(vectors)
            owners[lang] = owner
        gates = {}
        for agree in (0.5, 0.6, 0.7):
            for weight in (0.5, 1.0):
                row = {}
                for lang in own:
                    c = np.sum(own[lang] * mine[lang], axis=1, keepdims=True)
                    g = np.where(c >= agree, weight, 0.0)
                    row[lang] = {**t2i(hold_images, normalize(g * own[lang] + (1 - g) * mine[lang]), owners[lang]),
                                 "gated_share": round(float((c >= agree).mean()), 4)}
                gates[f"agree={agree},weight={weight}"] = row
                log(f"gate {agree} {weight}: " + ", ".join(f"{k} {v['t2i_R@10']:.3f} ({v['gated_share']:.2f})" for k, v in row.items()))
        report["dev_gates"] = gates

        def gate_score(key: str) -> float:
            row = gates[key]
            penalty = 0.0 if row["en"]["t2i_R@10"] >= floor else 1.0
            return (row["zh"]["t2i_R@10"] + row["de"]["t2i_R@10"]) / 2 - penalty

        best_gate = max(gates, key=gate_score)
        report["chosen_gate"] = best_gate
        gate = {part.split("=")[0]: float(part.split("=")[1]) for part in best_gate.split(",")}
        log(f"chosen gate {best_gate}")
    if args.output:
        ridge, weight = choice
        projection = fit_linear(e5[in_train], target(weight, in_train), ridge=ridge, source_name="e5-multilingual",
                                target_name="bge-small-onnx", side="query")
        notes = {"trained_on": "English captions of shared/train/flickr8k (held-out photos excluded)", "captions": int(in_train.sum()),
                 "ridge": ridge, "image_weight": weight, "gate": gate, "command": " ".join(sys.argv)}
        from dataclasses import replace

        projection = type(projection)(replace(projection.config, notes=notes), projection.weight, projection.bias)
        save_projection(projection, args.output, metrics=report)
        log(f"wrote {args.output}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
