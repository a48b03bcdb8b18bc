"""Why Chinese and German queries stay below English: e5's own cross-lingual match, the map, and the variants tried.

    .venv/bin/python scripts/measure_language_ceiling.py ../shared/eval/flickr8k --store W/store \
        --pairs ../shared/train/flickr8k --json ceiling.json

``W`` is the workdir of a ``polyseek eval captions ../shared/eval/flickr8k --workdir W`` run (the index of the 506 eval
photos: their vectors are read, nothing is written). Every figure is text→photo (or text→text) R@10 over one gallery of
the 506 eval photos, computed in memory from the index's photo vectors, split into the **dev half** (photos at even
positions of ``captions.json``: every choice was made there) and the **held-out half** (odd positions). It reproduces the
product path for photos (``polyseek eval captions --query-encoder multilingual``: English 0.723 / 0.747 there, 0.719 /
0.751 here; zh 0.435 / 0.431 both).

Rows:

* ``e5 text``: e5's own cross-lingual match: the first caption in a language against the first **English** caption of
  every eval photo (a gallery of 506 English captions, e5 space, language centring on and off); the English reference
  is the photo's *second* English caption. This is what e5 knows about the query before any map.
* ``photo``: text→photo through the shipped map (the product path for non-English queries), and bge's own English.
* variants of the non-English path, each against the shipped one: a nearest-neighbour pivot through English training
  captions (their bge vectors, softmax-weighted, mixed with the map), the language subspace removed before the map
  (LSAR), an orthogonal (Procrustes) map, the map refitted with more English captions per photo
  (``--captions-per-photo``), and an **oracle** that is *not* allowed by the issue: the map refitted with
  ``--oracle-pairs`` Chinese captions of training photos paired with their photo's English bge vector (what
  in-language supervision would buy with this encoder).
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
from polyseek.encoders.multilingual import LanguageCentered, load_language_means  # noqa: E402
from polyseek.encoders.projection import Projection, fit_linear, load_projection, shipped_projection_dir  # noqa: E402

KEYS = {"zh": "zh", "de": "de", "fr": "fr_translation", "cs": "cs_translation", "ar": "ar_mt_postedited",
        "zh_translation": "zh_human_translation", "de_translation": "de_translation"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def recall10(queries: np.ndarray, gallery: np.ndarray, owner: np.ndarray) -> dict[str, float]:
    """R@10 of each query's own gallery row, on the dev (even owner) and held-out (odd owner) halves."""
    scores = queries @ gallery.T
    own = scores[np.arange(len(owner)), owner]
    rank = (scores > own[:, None]).sum(1)
    return {half: round(float((rank[owner % 2 == h] < 10).mean()), 4) for half, h in (("dev", 0), ("heldout", 1))}


def photo_vectors(store: str, names: list[str]) -> np.ndarray:
    """The index's image vectors of the eval photos, in ``captions.json`` order."""
    from polyseek.engine import Engine
    from polyseek.types import item_id

    if not (Path(store) / "catalog.sqlite").is_file():  # never open (and so create) an index where there is none
        raise SystemExit(f"no polyseek index at {store}: give the workdir/store of a polyseek eval captions run")
    engine = Engine(store)
    try:
        keys = {Path(key).name: key for key in engine.catalog.files()}
        missing = [n for n in names if n not in keys]
        if missing:
            raise SystemExit(f"{store} lacks {len(missing)} eval photo(s), e.g. {missing[0]}: index the eval folder first")
        ids = [item_id(keys[n], 0) for n in names]
        found = engine.store.get_vectors("image", ids)
        return np.stack([np.asarray(found[i], dtype=np.float32) for i in ids])
    finally:
        engine.close()


def knn_pivot(queries: np.ndarray, pool: np.ndarray, targets: np.ndarray, k: int = 10, temperature: float = 0.01) -> np.ndarray:
    """Softmax-weighted mean of the target vectors of each query's k nearest pool vectors."""
    scores = queries @ pool.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    near = np.take_along_axis(scores, top, 1)
    weights = np.exp((near - near.max(1, keepdims=True)) / temperature)
    weights /= weights.sum(1, keepdims=True)
    return normalize(np.einsum("qk,qkd->qd", weights, targets[top]).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="eval captions folder (captions.json, captions_multilingual.json)")
    parser.add_argument("--store", required=True, help="index of the eval photos (workdir/store of polyseek eval captions)")
    parser.add_argument("--pairs", required=True, help="training folder (pairs.jsonl, captions_multilingual.json)")
    parser.add_argument("--captions-per-photo", type=int, default=2, help="English captions per training photo for the refit row")
    parser.add_argument("--oracle-pairs", type=int, default=800, help="Chinese training captions for the oracle row (0: skip)")
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "align-text"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    root = Path(args.folder)
    english = json.loads((root / "captions.json").read_text(encoding="utf-8"))
    multilingual = json.loads((root / "captions_multilingual.json").read_text(encoding="utf-8"))
    names = [entry["image"] for entry in english]
    photos = photo_vectors(args.store, names)
    log(f"{len(names)} eval photos")

    def embed(texts: list[str], encoder: str = "e5-multilingual") -> np.ndarray:
        return text_embeddings(texts, encoder, "query", args.cache)

    en0 = [entry["captions"][0] for entry in english]
    en1 = [entry["captions"][1] for entry in english]
    e5_en0, e5_en1, bge_en0 = embed(en0), embed(en1), embed(en0, "bge-small-onnx")
    everyone = np.arange(len(names))
    langs: dict[str, tuple[np.ndarray, np.ndarray]] = {"en": (e5_en0, everyone)}
    for lang, key in KEYS.items():
        pairs = [(i, (multilingual.get(n, {}).get(key) or [None])[0]) for i, n in enumerate(names)]
        pairs = [(i, text) for i, text in pairs if isinstance(text, str) and text.strip()]
        langs[lang] = (embed([t for _, t in pairs]), np.array([i for i, _ in pairs]))
        log(f"{lang}: {len(pairs)} captions")

    folder = shipped_projection_dir()
    projection = load_projection(folder)
    means = load_language_means(folder)
    alpha = float((projection.config.notes.get("centering") or {}).get("alpha", 0.5))

    class _Same:
        name, dim = "e5-multilingual", projection.config.dim_in

    centred = LanguageCentered(_Same(), means or {"en": np.zeros(384, np.float32)}, alpha=alpha)
    report: dict = {"photos": len(names), "halves": "dev = even positions of captions.json, heldout = odd",
                    "bge_en_photo": recall10(bge_en0, photos, everyone),
                    "e5_text_en_reference": recall10(e5_en1, e5_en0, everyone)}
    text_rows, photo_rows = {}, {}
    for lang, (vectors, owner) in langs.items():
        if lang != "en":
            text_rows[lang] = {"raw": recall10(vectors, e5_en0, owner), "centred": recall10(centred.center(vectors), e5_en0, owner)}
        photo_rows[lang] = recall10(projection(centred.center(vectors)), photos, owner)
    report["e5_text"] = text_rows
    report["photo_shipped_map"] = photo_rows
    log("ceiling rows done")

    # training side: English captions of the training photos (first caption: the shipped map's data)
    train = load_pairs(args.pairs)
    first = [int(np.flatnonzero(train.owner == i)[0]) for i in range(len(train.images))]
    tr_e5 = embed([train.captions[c] for c in first])
    tr_bge = embed([train.captions[c] for c in first], "bge-small-onnx")
    variants: dict[str, dict] = {}

    def row(name: str, fn) -> None:
        variants[name] = {lang: recall10(fn(v), photos, o) for lang, (v, o) in langs.items() if lang != "en"}
        log(f"{name}: " + ", ".join(f"{k} {v['dev']}" for k, v in variants[name].items()))

    def shipped(v: np.ndarray) -> np.ndarray:
        return projection(centred.center(v))

    row("shipped", shipped)
    row("knn_pivot_mix_0.5", lambda v: normalize(0.5 * knn_pivot(centred.center(v), tr_e5, tr_bge) + 0.5 * shipped(v)))
    if means:
        offsets = np.stack([means[k] - means["en"] for k in sorted(means) if k != "en"]).astype(np.float64)
        basis = np.linalg.svd(offsets, full_matrices=False)[2][:2]
        remove = np.eye(offsets.shape[1]) - basis.T @ basis
        lsar = fit_linear(tr_e5 @ remove, tr_bge, ridge=projection.config.ridge)
        row("lsar_2_directions", lambda v: lsar(v @ remove.astype(np.float32)))
    x, y = tr_e5.astype(np.float64), tr_bge.astype(np.float64)
    u, _, vt = np.linalg.svd((x - x.mean(0)).T @ (y - y.mean(0)))
    procrustes = Projection(projection.config, (u @ vt).astype(np.float32), (-(x.mean(0) @ (u @ vt))).astype(np.float32))
    row("procrustes", lambda v: procrustes(centred.center(v)))
    if args.captions_per_photo > 1:
        keep = np.concatenate([np.flatnonzero(train.owner == i)[: args.captions_per_photo] for i in range(len(train.images))])
        texts = [train.captions[c] for c in keep]
        more = fit_linear(embed(texts), embed(texts, "bge-small-onnx"), ridge=projection.config.ridge)
        row(f"refit_{args.captions_per_photo}_captions_per_photo", lambda v: more(centred.center(v)))
    if args.oracle_pairs:
        train_ml = json.loads((Path(args.pairs) / "captions_multilingual.json").read_text(encoding="utf-8"))
        rng = np.random.default_rng(0)
        texts, owner = [], []
        for photo in rng.permutation(len(train.images)):
            found = [c for c in train_ml.get(Path(train.images[photo]).name, {}).get("zh") or [] if isinstance(c, str) and c.strip()]
            if found:
                texts.append(found[int(rng.integers(len(found)))])
                owner.append(int(photo))
            if len(texts) >= args.oracle_pairs:
                break
        oracle = fit_linear(np.concatenate([tr_e5, embed(texts)]), np.concatenate([tr_bge, tr_bge[np.array(owner)]]),
                            ridge=projection.config.ridge)
        row(f"ORACLE_plus_{len(texts)}_chinese_pairs", lambda v: oracle(centred.center(v)))
    report["variants"] = variants
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
