"""Fit the shipped word maps (``polyseek.encoders.wordmap``): native Chinese / German descriptions → bge query space.

    .venv/bin/python scripts/train_word_maps.py --pairs ../shared/train/flickr8k \
        --output src/polyseek/models/word-maps [--langs zh,de] [--ridge zh=3,de=1] [--max-words 5000] [--cache DIR]

Training data: the **training photos only** (``../shared/train/flickr8k``, disjoint from the eval photos). Each native
description of a training photo in ``captions_multilingual.json`` (Chinese ``zh``: 35k, written by native speakers;
German ``de``: 33k independent descriptions) is paired with the normalised mean of the bge query vectors of the
same photo's English captions (``pairs.jsonl``): a bag of its words is fitted by ridge least squares to where English
descriptions of the same scene land. The English vectors are cached under ``--cache`` (minutes to encode).
The ridge and the vocabulary size were chosen on the dev half of the eval photos (``scripts/tune_gloss_weights.py``
reads the map from ``--output``); this script does not look at the eval set.
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
from polyseek.encoders.wordmap import fit_word_map, save_word_map, tokens  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True, help="training folder: pairs.jsonl + captions_multilingual.json")
    parser.add_argument("--output", required=True, help="folder to write {lang}.json + {lang}.safetensors into")
    parser.add_argument("--langs", default="zh,de")
    parser.add_argument("--ridge", default="zh=3,de=1", help="ridge per language (chosen on the dev half)")
    parser.add_argument("--max-words", type=int, default=5000)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"), help="cache of the English caption vectors")
    args = parser.parse_args()
    ridges = {k: float(v) for k, v in (item.split("=") for item in args.ridge.split(",") if item)}

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
        ridge = ridges.get(language, 1.0)
        fitted = fit_word_map(language, bags, targets[np.array(rows)], ridge=ridge, max_words=args.max_words,
                              min_count=args.min_count,
                              notes={"photos": len(set(rows)), "target": "normalised mean bge-small-onnx query vector of the photo's English captions",
                                     "trained_on": "native descriptions of the training photos (shared/train/flickr8k), never the eval photos"})
        save_word_map(args.output, fitted)
        log(f"{language}: {len(bags)} descriptions of {len(set(rows))} photos, {len(fitted.vocabulary)} words, ridge {ridge}")


if __name__ == "__main__":
    main()
