"""Fit the shipped word maps (``polyseek.encoders.wordmap``): native Chinese / German descriptions → bge query space.

    .venv/bin/python scripts/train_word_maps.py --pairs ../shared/train/flickr8k \
        --output src/polyseek/models/word-maps [--langs zh,de] [--ridge zh=3,de=1] [--max-words 5000] [--cache DIR] \
        [--image-share zh=0.5] [--contrastive zh=3] [--images-cache DIR]

Training data: the **training photos only** (``../shared/train/flickr8k``, disjoint from the eval photos). Each native
description of a training photo in ``captions_multilingual.json`` (Chinese ``zh``: 35k, written by native speakers;
German ``de``: 33k independent descriptions) is paired with the normalised mean of the bge query vectors of the
same photo's English captions (``pairs.jsonl``): a bag of its words is fitted by ridge least squares to where English
descriptions of the same scene land. The English vectors are cached under ``--cache`` (minutes to encode).
The ridge and the vocabulary size were chosen on the dev half of the eval photos (``scripts/tune_gloss_weights.py``
reads the map from ``--output``); this script does not look at the eval set.

Since session 9 the Chinese map's target also holds the photo itself (``--image-share zh=0.5``): the normalised
``0.5 * English-caption mean + 0.5 * the photo's vector from the default aligner`` (the space a query finally scores
against; the training photos are encoded once, single-threaded, and cached under ``--images-cache``), and the ridge
map is then refined for ``--contrastive zh=3`` epochs by InfoNCE against every training photo's (joint) target
(temperature 0.05, Adam lr 3e-4, batches of 1,024, seed 0, one thread): a description should score its own photo
above the 7k others, not only lie near its mean. Chosen on the dev half of the eval photos (dev MRR with the gloss:
ridge on the English target 0.31, ridge on the joint target 0.33, refined 0.35).
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
from polyseek.encoders.base import normalize  # noqa: E402
from polyseek.encoders.wordmap import fit_word_map, refine_word_map, save_word_map, tokens  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def image_vectors(images: list[str], cache: Path) -> np.ndarray:
    """The default aligner's unit vectors of the training photos (one thread; cached in chunks of 128)."""
    from polyseek.encoders.aligner import AlignerEncoder
    from polyseek.inputs import load_image

    encoder = AlignerEncoder().with_threads(1)
    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    for start in range(0, len(images), 128):
        path = cache / f"{encoder.revision}-{len(images)}-{start:06d}.npy"
        if not path.is_file():
            np.save(path, encoder.encode_images([load_image(p) for p in images[start : start + 128]]))
            log(f"images: {min(start + 128, len(images))} of {len(images)} encoded")
        parts.append(np.load(path))
    return normalize(np.concatenate(parts).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True, help="training folder: pairs.jsonl + captions_multilingual.json")
    parser.add_argument("--output", required=True, help="folder to write {lang}.json + {lang}.safetensors into")
    parser.add_argument("--langs", default="zh,de")
    parser.add_argument("--ridge", default="zh=3,de=1", help="ridge per language (chosen on the dev half)")
    parser.add_argument("--max-words", type=int, default=5000)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"), help="cache of the English caption vectors")
    parser.add_argument("--image-share", default="zh=0.5", help="share of the photo's aligner vector in the target, per language")
    parser.add_argument("--contrastive", default="zh=3", help="InfoNCE epochs after the ridge fit, per language")
    parser.add_argument("--images-cache", default=str(ROOT / ".cache" / "word-map-images"), help="cache of the training photos' vectors")
    args = parser.parse_args()

    def per_language(text: str) -> dict[str, float]:
        return {k: float(v) for k, v in (item.split("=") for item in text.split(",") if item)}

    ridges, shares, epochs = per_language(args.ridge), per_language(args.image_share), per_language(args.contrastive)

    folder = Path(args.pairs)
    pairs = load_pairs(folder)
    english = text_embeddings(pairs.captions, "bge-small-onnx", "query", args.cache)
    owners = np.asarray(pairs.owner)
    targets = np.zeros((len(pairs.images), english.shape[1]), dtype=np.float32)
    np.add.at(targets, owners, english)
    targets = normalize(targets)
    log(f"{len(pairs.images)} training photos, {len(pairs.captions)} English captions")
    multilingual = json.loads((folder / "captions_multilingual.json").read_text(encoding="utf-8"))
    for language in args.langs.split(","):
        bags, rows = [], []
        for i, image in enumerate(pairs.images):
            for text in (multilingual.get(Path(image).name) or {}).get(language) or []:
                if isinstance(text, str) and text.strip():
                    bags.append(tokens(language, text))
                    rows.append(i)
        ridge, share = ridges.get(language, 1.0), shares.get(language, 0.0)
        goal, target = targets, "normalised mean bge-small-onnx query vector of the photo's English captions"
        if share > 0:
            goal = normalize((1.0 - share) * targets + share * image_vectors(pairs.images, Path(args.images_cache)))
            target = f"normalised {1 - share:g} x the English captions' mean bge query vector + {share:g} x the photo's default-aligner vector"
        fitted = fit_word_map(language, bags, goal[np.array(rows)], ridge=ridge, max_words=args.max_words,
                              min_count=args.min_count,
                              notes={"photos": len(set(rows)), "target": target,
                                     "trained_on": "native descriptions of the training photos (shared/train/flickr8k), never the eval photos"})
        if epochs.get(language, 0) > 0:
            fitted = refine_word_map(fitted, bags, np.array(rows), goal, epochs=int(epochs[language]))
            log(f"{language}: contrastive loss by epoch {fitted.notes['contrastive']['loss_by_epoch']}")
        save_word_map(args.output, fitted)
        log(f"{language}: {len(bags)} descriptions of {len(set(rows))} photos, {len(fitted.vocabulary)} words, ridge {ridge}")


if __name__ == "__main__":
    main()
