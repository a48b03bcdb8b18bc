"""Choose the weight of the dictionary gloss (``polyseek.encoders.gloss``) in the ``multilingual`` query, per language.

    .venv/bin/python scripts/tune_gloss_weights.py ../shared/eval/flickr8k --store W/store [--langs zh,de] \
        [--cache /tmp/me/gloss-cache.npz] [--json out.json]

``W`` is the workdir of a ``polyseek eval captions ../shared/eval/flickr8k --workdir W`` run (its index of the 506 eval
photos is read, nothing is written). For each language, the first caption of every eval photo is encoded as
``multilingual-dense`` answers it (the projected USE ⊕ e5 query) and glossed into English; the query is
``normalize(w * bge(gloss) + (1 - w) * projected)``. Text→photo R@10 and MRR are computed in memory for each ``w`` on the
**dev half** (photos at even positions of ``captions.json``) and the ``w`` of the best dev MRR is printed with its **held-out** figure
(odd positions), which plays no part in the choice. ``--cache`` keeps the encoded queries (minutes on a loaded core).

With ``--word-maps DIR`` (a folder written by ``scripts/train_word_maps.py``), the word map's vector joins the mix:
``normalize(g * bge(gloss) + m * word_map + (1 - g - m) * projected)``, and ``(g, m)`` are chosen together on the dev
half (MRR) over a grid of steps of 0.1 with ``g + m <= 1`` (at 1 the projected query answers only where neither has a word).
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
sys.path.insert(0, str(ROOT / "scripts"))

from measure_language_ceiling import KEYS, photo_vectors  # noqa: E402

from polyseek.encoders.base import load_encoder, normalize  # noqa: E402
from polyseek.encoders.gloss import glosser  # noqa: E402
from polyseek.encoders.wordmap import read_word_map  # noqa: E402

WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def metrics(queries: np.ndarray, gallery: np.ndarray, owner: np.ndarray) -> dict[str, dict[str, float]]:
    """R@10 and MRR of each query's own gallery row, on the dev (even owner) and held-out (odd owner) halves."""
    scores = queries @ gallery.T
    rank = (scores > scores[np.arange(len(owner)), owner][:, None]).sum(1)
    return {half: {"recall@10": round(float((rank[owner % 2 == h] < 10).mean()), 4),
                   "mrr": round(float((1.0 / (rank[owner % 2 == h] + 1)).mean()), 4)} for half, h in (("dev", 0), ("heldout", 1))}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def first_captions(folder: Path, names: list[str], key: str) -> tuple[list[str], np.ndarray]:
    multilingual = json.loads((folder / "captions_multilingual.json").read_text(encoding="utf-8"))
    texts, owner = [], []
    for i, name in enumerate(names):
        captions = (multilingual.get(name) or {}).get(key) or []
        if captions and isinstance(captions[0], str) and captions[0].strip():
            texts.append(captions[0].strip())
            owner.append(i)
    return texts, np.array(owner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the eval folder (captions.json + captions_multilingual.json)")
    parser.add_argument("--store", required=True, help="index of the eval photos (workdir/store of polyseek eval captions)")
    parser.add_argument("--langs", default="zh,de")
    parser.add_argument("--cache", default=None, help="npz keeping the projected queries between runs")
    parser.add_argument("--json", default=None)
    parser.add_argument("--word-maps", default=None, help="folder of word maps (scripts/train_word_maps.py) to mix in too")
    args = parser.parse_args()
    folder = Path(args.folder)
    names = [Path(entry["image"]).name for entry in json.loads((folder / "captions.json").read_text(encoding="utf-8"))]
    photos = photo_vectors(args.store, names)
    cache: dict[str, np.ndarray] = dict(np.load(args.cache)) if args.cache and Path(args.cache).is_file() else {}
    dense = None
    results: dict[str, dict] = {}
    for lang in args.langs.split(","):
        texts, owner = first_captions(folder, names, KEYS.get(lang, lang))
        if f"{lang}_proj" not in cache:
            dense = dense or load_encoder("multilingual-dense")
            log(f"{lang}: encoding {len(texts)} queries")
            cache[f"{lang}_proj"] = dense.projected.encode_queries(texts)
            if args.cache:
                np.savez(args.cache, **cache)
        projected = cache[f"{lang}_proj"]
        found = glosser(lang)
        if found is None:
            raise SystemExit(f"no dictionary ships for {lang!r}")
        glosses = [found.gloss(text) for text in texts]
        bge = load_encoder(str(load_encoder("multilingual-dense").projection.config.target)) if dense is None else dense.base
        glossed = bge.encode_queries([g or " " for g in glosses])
        has = np.array([bool(g) for g in glosses])
        if args.word_maps:
            mapped = read_word_map(args.word_maps, lang).encode(texts)
            known = np.abs(mapped).sum(1) > 0
            grid = {}
            for g in np.round(np.arange(0, 0.95, 0.1), 1):
                for m in np.round(np.arange(0, 1.0001 - g, 0.1), 1):
                    gw, mw = g * has[:, None], m * known[:, None]
                    grid[(float(g), float(m))] = metrics(normalize(gw * glossed + mw * mapped + (1 - gw - mw) * projected), photos, owner)
            best_pair = max(grid, key=lambda k: (grid[k]["dev"]["mrr"], -k[1]))
            results[f"{lang}+map"] = {"queries": len(texts), "without_known_word": int((~known).sum()),
                                      "by_weights": {f"g={g},m={m}": v for (g, m), v in grid.items()},
                                      "chosen_on_dev": {"gloss": best_pair[0], "map": best_pair[1]},
                                      "dev": grid[best_pair]["dev"], "heldout": grid[best_pair]["heldout"],
                                      "map_alone": grid[(0.0, 0.9)]}
            print(f"{lang} with the word map: {int((~known).sum())} queries without a known word")
            for (g, m), v in sorted(grid.items(), key=lambda kv: -kv[1]["dev"]["mrr"])[:8]:
                print(f"  g={g} m={m}: dev R@10 {v['dev']['recall@10']} MRR {v['dev']['mrr']} | held-out R@10 "
                      f"{v['heldout']['recall@10']} MRR {v['heldout']['mrr']}{'  <- chosen on dev (MRR)' if (g, m) == best_pair else ''}")
        rows = {}
        for w in WEIGHTS:
            mixed = np.where(has[:, None], normalize(w * glossed + (1 - w) * projected), projected)
            rows[w] = metrics(mixed, photos, owner)
        # MRR rather than R@10 on the dev half: with ~250 queries a half R@10 moves in steps of 0.004 and its noise
        # (±0.03) hides a real gain; MRR uses every rank
        best = max(WEIGHTS, key=lambda w: (rows[w]["dev"]["mrr"], -abs(w - 0.5)))
        results[lang] = {"queries": len(texts), "without_gloss": int((~has).sum()), "by_weight": {str(w): rows[w] for w in WEIGHTS},
                         "chosen_on_dev": best, "dev": rows[best]["dev"], "heldout": rows[best]["heldout"],
                         "examples": [[t, g] for t, g in list(zip(texts, glosses, strict=True))[:5]]}
        print(f"{lang}: {len(texts)} queries ({int((~has).sum())} without gloss)")
        for w in WEIGHTS:
            d, h = rows[w]["dev"], rows[w]["heldout"]
            print(f"  w={w}: dev R@10 {d['recall@10']} MRR {d['mrr']} | held-out R@10 {h['recall@10']} MRR {h['mrr']}"
                  f"{'  <- chosen on dev (MRR)' if w == best else ''}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
