"""Fit the per-language mean e5 query vectors shipped beside the e5 → bge projection, and choose how far to centre.

    .venv/bin/python scripts/fit_language_means.py --pairs ../shared/train/flickr8k --alphas 0,0.5,1,1.5 \
        --model src/polyseek/models/e5-to-bge

The projection is fitted on English captions only; multilingual-e5 keeps a per-language offset (the mean query vector
of Chinese captions lies 0.35 away from the English one), which the English-only map carries into bge space.
``LanguageCentered`` (``polyseek.encoders.multilingual``) moves a query from its language's mean to English's before
the map. This script estimates those means from ``--per-language`` captions per language of the *training* photos
(the ``--holdout`` photos of ``polyseek align``'s split are never read; one caption per photo, the photo's last one;
the captions are used without their photos: only their mean is kept), measures text→image R@10 of held-out Chinese and
German captions (one gallery of 506 held-out photos, the shipped aligner's vectors) for each ``--alphas`` value, and
writes ``language_means.safetensors`` plus the chosen alpha (best mean of zh and de) into the model's ``config.json``.
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
from polyseek.encoders.base import normalize  # noqa: E402
from polyseek.encoders.multilingual import LANGUAGE_MEANS, LanguageCentered  # noqa: E402
from polyseek.encoders.projection import load_projection  # noqa: E402

# language -> key of captions_multilingual.json ("en": the English captions of pairs.jsonl)
LANGUAGES = {"en": "", "zh": "zh", "de": "de", "fr": "fr_translation", "cs": "cs_translation", "nl": "nl", "ar": "ar_mt_postedited"}
DEV = ("zh", "de")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--model", default=str(ROOT / "src" / "polyseek" / "models" / "e5-to-bge"), help="projection folder")
    parser.add_argument("--per-language", type=int, default=200)
    parser.add_argument("--holdout", type=int, default=1012)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default="0,0.5,1,1.5", help="centring strengths measured (one value: no choice)")
    parser.add_argument("--dev-photos", type=int, default=506)
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"))
    parser.add_argument("--dry-run", action="store_true", help="measure only, write nothing")
    args = parser.parse_args()

    cache = Path(args.cache)
    pairs = load_pairs(args.pairs)
    n = len(pairs)
    order = np.random.default_rng(args.seed).permutation(n)
    hold, train = np.sort(order[: args.holdout]), np.sort(order[args.holdout :])
    names = [Path(p).name for p in pairs.images]
    multilingual = json.loads((Path(args.pairs) / "captions_multilingual.json").read_text(encoding="utf-8"))
    by_photo: dict[int, list[str]] = {}
    for caption, photo in zip(pairs.captions, pairs.owner):
        by_photo.setdefault(int(photo), []).append(caption)

    def captions(photo: int, lang: str) -> list[str]:
        if lang == "en":
            return by_photo.get(photo, [])
        return [c for c in (multilingual.get(names[photo], {}).get(LANGUAGES[lang]) or []) if isinstance(c, str) and c.strip()]

    means: dict[str, np.ndarray] = {}
    for number, lang in enumerate(LANGUAGES):
        texts = []
        for photo in np.random.default_rng([args.seed, number]).permutation(train):
            found = captions(int(photo), lang)
            if found:
                texts.append(found[-1])
            if len(texts) >= args.per_language:
                break
        vectors = text_embeddings(texts, "e5-multilingual", "query", cache)
        means[lang] = vectors.mean(0).astype(np.float32)
        log(f"{lang}: {len(texts)} captions")
    english = means["en"]
    report = {"per_language": args.per_language, "distance_to_en": {k: round(float(np.linalg.norm(v - english)), 4) for k, v in means.items()}}

    # dev: held-out photos (never read above), the first zh / de caption of each, the shipped aligner's photo vectors
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_multilingual_projection import image_vectors

    dev = hold[: args.dev_photos]
    photos = image_vectors([pairs.images[i] for i in hold], cache)[: len(dev)]
    projection = load_projection(args.model)

    class _Same:  # LanguageCentered needs an encoder only for its name and size
        name, dim = "e5-multilingual", projection.config.dim_in

    grid: dict[str, dict[str, float]] = {}
    dev_sets = {}
    for lang in DEV:
        texts, owner = [], []
        for local, photo in enumerate(dev):
            found = captions(int(photo), lang)
            if found:
                texts.append(found[0])
                owner.append(local)
        dev_sets[lang] = (text_embeddings(texts, "e5-multilingual", "query", cache), np.array(owner))
    for alpha in (float(a) for a in args.alphas.split(",")):
        centred = LanguageCentered(_Same(), means, alpha=alpha)
        row = {}
        for lang, (vectors, owner) in dev_sets.items():
            queries = projection(centred.center(normalize(vectors)))
            row[lang] = round(folded_recall(photos, queries, queries, owner)["t2i_R@10"], 4)
            row[f"{lang}_assigned_own_language"] = round(float(np.mean([x == lang for x in centred.language(vectors)])), 4)
        grid[str(alpha)] = row
        log(f"alpha {alpha}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    best = max(grid, key=lambda a: sum(grid[a][lang] for lang in DEV))
    report.update(dev_grid=grid, chosen_alpha=float(best), dev_photos=int(len(dev)))
    log(f"chosen alpha {best}")
    if not args.dry_run:
        from safetensors.numpy import save_file

        folder = Path(args.model)
        save_file({k: np.ascontiguousarray(v) for k, v in means.items()}, str(folder / LANGUAGE_MEANS), metadata={"format": "polyseek-language-means"})
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config.setdefault("notes", {})["centering"] = {
            "alpha": float(best), "reference": "en", "languages": sorted(means), "per_language": args.per_language,
            "from": "captions of training photos of shared/train/flickr8k (held-out photos excluded), their mean only",
            "command": " ".join(sys.argv)}
        (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        metrics_path = folder / "metrics.json"
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        metrics["centering"] = report
        metrics_path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        log(f"wrote {folder / LANGUAGE_MEANS}")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
