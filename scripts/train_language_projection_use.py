"""Train the shipped map USE multilingual v3 ⊕ multilingual-e5-small → bge-small (queries) on English captions only.

    .venv/bin/python scripts/train_language_projection_use.py --pairs ../shared/train/flickr8k \
        --eval ../shared/eval/flickr8k --eval-store W/store --output src/polyseek/models/use-e5-to-bge

The map is ridge least squares ``bge_query(c) ≈ [USE(c), centred_e5(c)] @ W + b`` over the first English caption of
each training photo (the ``--holdout`` photos of ``polyseek align``'s split excluded, as for ``e5-to-bge``); e5 is
centred with the language means shipped beside ``e5-to-bge``. Every choice is made on the **dev half** of the eval
photos (even positions of ``captions.json``; ``scripts/language_halves.py`` splits the same way), from the photo
vectors of an index built by ``polyseek eval captions --workdir W`` (``--eval-store W/store``, read only): the input
(USE alone, e5 alone, both concatenated, or the two projected vectors averaged) and the ridge by the mean R@10 of zh
and de; then the gate of the ``multilingual`` encoder (bge's own query where it agrees with the projected one) by the
same mean, among the gates that leave every English dev query's rank as bge's own. Languages USE was not trained on
(of the eval languages: Czech) are routed to the e5-only map. Prints the grid (dev) and the chosen row on both halves.
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
from polyseek.encoders.multilingual import USE_SHIPPED, _projected_e5  # noqa: E402
from polyseek.encoders.projection import fit_linear, save_projection  # noqa: E402

KEYS = {"zh": "zh", "de": "de", "fr": "fr_translation", "cs": "cs_translation", "nl": "nl", "ar": "ar_mt_postedited"}
# the 16 languages of universal-sentence-encoder-multilingual v3 (its model card)
USE_LANGUAGES = {"ar", "zh", "nl", "en", "fr", "de", "it", "ja", "ko", "pl", "pt", "es", "th", "tr", "ru"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def eval_queries(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """The first caption of each eval photo per language, with its photo's position in ``captions.json``."""
    captions = json.loads((folder / "captions.json").read_text(encoding="utf-8"))
    multilingual = json.loads((folder / "captions_multilingual.json").read_text(encoding="utf-8"))
    out = {"en": ([c["captions"][0] for c in captions], np.arange(len(captions)))}
    for lang, key in KEYS.items():
        found = [(i, (multilingual.get(c["image"], {}).get(key) or [None])[0]) for i, c in enumerate(captions)]
        found = [(i, s) for i, s in found if isinstance(s, str) and s.strip()]
        out[lang] = ([s for _, s in found], np.array([i for i, _ in found]))
    return out


def photo_vectors(store: Path, folder: Path) -> np.ndarray:
    """The index's image-space vector of each eval photo, in ``captions.json`` order."""
    import lancedb

    table = lancedb.connect(str(store)).open_table("items").to_pandas()
    row = {Path(p).name: i for i, p in enumerate(table["path"])}
    order = [c["image"] for c in json.loads((folder / "captions.json").read_text(encoding="utf-8"))]
    return np.stack(table["vec_image"].values)[[row[name] for name in order]].astype(np.float32)


def recall10(photos: np.ndarray, queries: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    scores = queries @ photos.T
    ranks = (scores > scores[np.arange(len(owner)), owner][:, None]).sum(1)
    return ranks, tuple(round(float((ranks[owner % 2 == half] < 10).mean()), 3) for half in (0, 1))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--eval", required=True, help="eval captions folder (captions.json, captions_multilingual.json)")
    parser.add_argument("--eval-store", required=True, help="store of a `polyseek eval captions --workdir W` run (W/store)")
    parser.add_argument("--output", default=None, help="model folder to write (leave out to only measure)")
    parser.add_argument("--ridge", default="1e-5,1e-4,1e-3")
    parser.add_argument("--gates", default="0.6,0.7,0.75,0.8")
    parser.add_argument("--holdout", type=int, default=1012)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    pairs = load_pairs(args.pairs)
    n = len(pairs)
    hold = np.random.default_rng(args.seed).permutation(n)[: args.holdout]
    first = np.array([np.flatnonzero(pairs.owner == i)[0] for i in range(n)])
    texts = [pairs.captions[c] for c in first]  # all photos' (the cache key), the held-out ones dropped below
    keep = ~np.isin(np.arange(n), hold)
    e5_map = _projected_e5()
    centred = e5_map.new_encoder  # LanguageCentered over e5, the means shipped beside e5-to-bge
    train = {"use": text_embeddings(texts, "use-multilingual", "query", args.cache)[keep],
             "e5": centred.center(text_embeddings(texts, "e5-multilingual", "query", args.cache))[keep],
             "bge": text_embeddings(texts, "bge-small-onnx", "query", args.cache)[keep]}
    texts = [t for t, k in zip(texts, keep) if k]
    log(f"{len(texts)} English training captions")

    from polyseek.encoders.base import load_encoder

    folder = Path(args.eval)
    photos = photo_vectors(Path(args.eval_store), folder)
    models = {name: load_encoder(name) for name in ("use-multilingual", "e5-multilingual", "bge-small-onnx")}
    dev = {}
    for lang, (queries, owner) in eval_queries(folder).items():
        raw = models["e5-multilingual"].encode_queries(queries)
        dev[lang] = {"use": models["use-multilingual"].encode_queries(queries), "e5": centred.center(raw),
                     "lang": np.array(centred.language(raw)), "bge": models["bge-small-onnx"].encode_queries(queries), "owner": owner}
        log(f"eval {lang}: {len(queries)} captions")

    def inputs(kind: str, part: dict) -> np.ndarray:
        return np.hstack([part["use"], part["e5"]]) if kind == "concat" else part[kind]

    grid, fitted = {}, {}
    for kind in ("use", "e5", "concat", "average"):
        for ridge in [float(r) for r in args.ridge.split(",")]:
            if kind == "average":
                pu, pe = fitted.get(("use", ridge)), fitted.get(("e5", ridge))
                if pu is None or pe is None:
                    continue
                project = lambda part, pu=pu, pe=pe: normalize(0.5 * pu(part["use"]) + 0.5 * pe(part["e5"]))  # noqa: E731
            else:
                fitted[(kind, ridge)] = fit_linear(inputs(kind, train), train["bge"], ridge=ridge)
                project = lambda part, p=fitted[(kind, ridge)], kind=kind: p(inputs(kind, part))  # noqa: E731
            grid[f"{kind},ridge={ridge}"] = {lang: recall10(photos, project(part), part["owner"])[1][0] for lang, part in dev.items()}
            log(f"{kind} ridge {ridge}: " + " ".join(f"{k} {v:.3f}" for k, v in grid[f'{kind},ridge={ridge}'].items()))
    best = max((k for k in grid if not k.startswith("average")), key=lambda k: grid[k]["zh"] + grid[k]["de"])
    kind, ridge = best.split(",")[0], float(best.split("=")[1])
    projection = fitted[(kind, ridge)]
    log(f"chosen input {best}")
    e5_only = sorted(lang for lang in dev if lang not in USE_LANGUAGES) if kind != "e5" else []

    def routed(part: dict) -> np.ndarray:
        out = projection(inputs(kind, part))
        alone = np.isin(part["lang"], e5_only)
        out[alone] = e5_map.projection(part["e5"][alone])
        return out

    english_ranks = recall10(photos, dev["en"]["bge"], dev["en"]["owner"])[0]
    gates = {}
    for agree in [float(g) for g in args.gates.split(",")]:
        row = {}
        for lang, part in dev.items():
            mine = routed(part)
            keep = (np.sum(mine * part["bge"], axis=1, keepdims=True) >= agree).astype(np.float32)
            ranks, halves = recall10(photos, normalize(keep * part["bge"] + (1 - keep) * mine), part["owner"])
            row[lang] = {"dev": halves[0], "heldout": halves[1]}
            if lang == "en":
                row["en_dev_same_as_bge"] = float((ranks == english_ranks)[part["owner"] % 2 == 0].mean())
        gates[agree] = row
        log(f"gate {agree}: " + " ".join(f"{k} {v['dev']:.3f}" for k, v in row.items() if isinstance(v, dict))
            + f" (English dev ranks as bge's: {row['en_dev_same_as_bge']:.3f})")
    safe = [g for g in gates if gates[g]["en_dev_same_as_bge"] == 1.0] or list(gates)
    agree = max(safe, key=lambda g: gates[g]["zh"]["dev"] + gates[g]["de"]["dev"])
    chosen = gates[agree]
    log("chosen gate " + str(agree) + ": held-out " + " ".join(f"{k} {v['heldout']:.3f}" for k, v in chosen.items() if isinstance(v, dict)))
    report = {"train_captions": len(texts), "dev_grid": grid, "chosen_input": best, "e5_only_languages": e5_only,
              "gates": {str(k): v for k, v in gates.items()}, "chosen_gate": agree}
    if args.output:
        from dataclasses import replace

        notes = {"trained_on": "first English caption of each photo of shared/train/flickr8k (align held-out photos excluded)",
                 "captions": len(texts), "input": "use-multilingual (512) + e5-multilingual centred as in e5-to-bge (384)",
                 "ridge": ridge, "gate": {"agree": agree, "weight": 1.0}, "e5_only_languages": e5_only,
                 "chosen_on": "dev half of the eval photos (even positions of captions.json)", "command": " ".join(sys.argv)}
        config = replace(projection.config, source="use-multilingual+e5-multilingual", target="bge-small-onnx", side="query", notes=notes)
        save_projection(type(projection)(config, projection.weight, projection.bias), args.output, metrics=report)
        log(f"wrote {args.output} (default: src/polyseek/models/{USE_SHIPPED})")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
