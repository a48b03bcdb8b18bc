"""Poster features that carry style and genre, beside the indexed text, for new films: issue 15's goal 2.

    # 1. dev targets only: which poster representation helps the content → collaborative map most
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/recommend_poster_style.py \\
        ../shared/eval/movielens --workdir /tmp/rec-work
    # 2. once, with the representation step 1 chose: the paired test on the test-cold films, three hold-outs
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/recommend_poster_style.py \\
        ../shared/eval/movielens --workdir /tmp/rec-work --test "REPRESENTATION"

The aligner's image vector describes what a photograph shows (it was trained on Flickr8k captions), not a
poster's look. This probe replaces it by representations of the poster's style: colour and texture statistics
(hue/saturation/value histograms, colourfulness, contrast, edge density, a 3 x 3 layout of mean colours), and the
aligner backbone's (EfficientNet-Lite0) pooled features before any projection — mean pool, max pool, a 2 x 2
grid and the ImageNet logits — each PCA-reduced (fitted on the warm films only) to 16, 32 or 64 dimensions.
Step 1 scores the **dev** targets of the cold-item protocol (``polyseek.eval.recommend_cold``: 20 % of the films
held out entirely, each user's last rating of a dev-cold film) on hold-outs 0, 1 and 2: content → cf with the
indexed text alone, and with the indexed text + each poster representation (weight 0.25/0.5/1, ridge 0.1/0.3/1,
128 dimensions, history half-life 3; best weight and ridge per representation and hold-out, chosen on dev). The
representation with the best mean dev gain over text-only on the cold-only candidates is the choice. Step 2 runs
the unchanged cold-item protocol (``run_cold_items``: every setting chosen on dev, test targets reported, paired
sign-flip test multimodal vs text-only) with that representation as the image space, on hold-outs 0, 1, 2.
Features are cached in the workdir (``style-*.npz``). Results: ``benchmarks/results/recommend_poster_style*``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402
from recommend_cold_features import cached, load_pool  # noqa: E402

from polyseek.eval.recommend import tie_aware_metrics  # noqa: E402
from polyseek.eval.recommend_cold import cold_targets, hold_out, run_cold_items  # noqa: E402
from polyseek.recommend.base import Pool  # noqa: E402
from polyseek.recommend.content_cf import ContentToCF, collaborative_space, history_vector  # noqa: E402
from polyseek.recommend.training import read_interactions  # noqa: E402

SEEDS = (0, 1, 2)
PCA_DIMS = (16, 32, 64)
WEIGHTS = (0.25, 0.5, 1.0)
RIDGES = (0.1, 0.3, 1.0)


def colour_texture(image) -> np.ndarray:
    """63 numbers about a poster's look: HSV histograms, colour moments, colourfulness, contrast, edges, layout."""
    from PIL import Image

    small = image.convert("RGB").resize((96, 144), Image.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    hue, sat, val = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    hue_hist = np.histogram(hue, bins=12, range=(0, 1), weights=sat)[0] / max(sat.sum(), 1e-6)
    sat_hist = np.histogram(sat, bins=5, range=(0, 1))[0] / sat.size
    val_hist = np.histogram(val, bins=5, range=(0, 1))[0] / val.size
    moments = np.concatenate([rgb.reshape(-1, 3).mean(0), rgb.reshape(-1, 3).std(0)])
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourful = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())  # Hasler & Süsstrunk
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(grey)
    magnitude = np.hypot(gx, gy)
    texture = [colourful, grey.std(), magnitude.mean(), (magnitude > 0.1).mean(), (grey < 0.15).mean(),
               (grey > 0.85).mean(), np.abs(np.diff(grey, axis=0)).mean(), np.abs(np.diff(grey, axis=1)).mean()]
    layout = np.asarray(small.resize((3, 3), Image.BOX), dtype=np.float32).ravel() / 255.0  # 27 numbers
    return np.concatenate([hue_hist, sat_hist, val_hist, moments, texture, layout]).astype(np.float32)


def standardised(x: np.ndarray, warm: np.ndarray) -> np.ndarray:
    x = (x - x[warm].mean(0)) / (x[warm].std(0) + 1e-6)
    return (x / np.sqrt(x.shape[1])).astype(np.float32)


def pca(x: np.ndarray, warm: np.ndarray, dims: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Projections on the top principal components of the warm rows (standardised first), whitened, one per
    width in ``dims`` (a seeded randomised SVD with two power iterations: exact enough for the top 64)."""
    z = ((x - x[warm].mean(0)) / (x[warm].std(0) + 1e-6)).astype(np.float32)
    top = min(max(dims), *z.shape)
    sketch = z[warm].T @ (z[warm] @ np.random.default_rng(0).normal(size=(z.shape[1], top + 16)).astype(np.float32))
    for _ in range(2):
        sketch = z[warm].T @ (z[warm] @ np.linalg.qr(sketch)[0])
    basis = np.linalg.qr(sketch)[0]  # features x (top + 16), spans the top right singular vectors
    _, values, axes = np.linalg.svd(z[warm] @ basis, full_matrices=False)
    axes = (basis @ axes.T).T  # top right singular vectors in feature space
    out = {}
    for dim in dims:
        d = min(dim, top)
        projected = z @ axes[:d].T / (values[:d] / np.sqrt(warm.sum()))
        out[dim] = (projected / np.sqrt(d)).astype(np.float32)
    return out


def representations(raw: dict[str, np.ndarray], warm: np.ndarray) -> dict[str, np.ndarray]:
    out = {"colour/texture statistics": standardised(raw["stats"], warm)}
    reduced = {name: pca(raw[name], warm, PCA_DIMS) for name in ("stats", "mean", "max", "grid2", "logits")}
    for dim in PCA_DIMS:
        out[f"colour/texture PCA-{dim}"] = reduced["stats"][dim]
        for name in ("mean", "max", "grid2", "logits"):
            out[f"backbone {name} PCA-{dim}"] = reduced[name][dim]
    out["colour/texture + backbone mean PCA-32"] = np.hstack([standardised(raw["stats"], warm),
                                                              reduced["mean"][32]]) / np.sqrt(2)
    return out


def rows_normalised(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 1e-12, norms, 1.0)).astype(np.float32)  # as Pool.from_vectors stores them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workdir", type=Path, required=True, help="the --workdir of a polyseek eval recommend run")
    parser.add_argument("--test", default=None, help="run the test stage with this representation (step 2)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    started = time.time()
    pool, record_ids, _text_encoder = load_pool(args.folder, args.workdir)
    row = {rid: i for i, rid in enumerate(record_ids)}

    def posters():
        from PIL import Image

        return [Image.open(args.folder / "posters" / f"{rid}.jpg") for rid in record_ids]

    def backbone() -> dict[str, np.ndarray]:
        from polyseek.align.features import extract

        return extract("lite0", [p.convert("RGB") for p in posters()], ("mean", "max", "grid2", "logits"))

    raw = dict(cached(args.workdir / "style-backbone.npz", backbone))
    raw["stats"] = cached(args.workdir / "style-stats.npz", lambda: {"stats": np.stack([colour_texture(p) for p in posters()])})["stats"]
    events, _problems = read_interactions(args.folder / "ratings.csv", user="userId", item="movieId", rating="rating")
    events = [e for e in events if e.item in row]
    text = pool.vectors["text"]
    has_poster = pool.present["image"]

    if args.test:
        return test_stage(args, pool, record_ids, events, raw, started)

    rows: list[dict] = []
    for seed in SEEDS:
        dev_cold, test_cold = hold_out(len(record_ids), 0.2, seed)
        warm = ~(dev_cold | test_cold)
        users = sorted({e.user for e in events})
        user_row = {u: i for i, u in enumerate(users)}
        matrix = np.zeros((len(users), len(record_ids)), dtype=np.float32)
        for e in events:
            if warm[row[e.item]]:
                matrix[user_row[e.user], row[e.item]] = 1.0
        targets = cold_targets(events, row, dev_cold, warm)
        space = collaborative_space(matrix, 128)
        histories = {u: history_vector(space, [row[e.item] for e in t.history], 3.0) for u, t in targets.items()}

        def dev_ndcg(features: np.ndarray) -> tuple[float, float, float]:
            best = (-1.0, -1.0, 0.0)
            for ridge in RIDGES:
                predicted = ContentToCF.fit(features, space, warm, ridge).predict(features)
                every, cold = [], []
                for user, target in targets.items():
                    scores = predicted @ histories[user]
                    every.append(tie_aware_metrics(scores, target.row, ~target.rated)[1])
                    cold.append(tie_aware_metrics(scores, target.row, dev_cold & ~target.rated)[1])
                best = max(best, (float(np.mean(every)), float(np.mean(cold)), ridge), key=lambda r: r[1])
            return best

        every, cold, ridge = dev_ndcg(text)
        base = {"seed": seed, "poster": "none (text only)", "poster_weight": 0.0, "ridge": ridge,
                "dev_ndcg@10_all_unrated": every, "dev_ndcg@10_cold_only": cold, "gain_cold_only": 0.0}
        rows.append(base)
        print(base, flush=True)
        candidates = {"aligner image vector (shipped)": pool.vectors["image"],
                      **{k: rows_normalised(v) * has_poster[:, None] for k, v in representations(raw, warm).items()}}
        for name, poster in candidates.items():
            best_row = None
            for weight in WEIGHTS:
                every, cold, ridge = dev_ndcg(np.hstack([text, weight * poster]).astype(np.float32))
                if best_row is None or cold > best_row["dev_ndcg@10_cold_only"]:
                    best_row = {"seed": seed, "poster": name, "poster_weight": weight, "ridge": ridge,
                                "dev_ndcg@10_all_unrated": every, "dev_ndcg@10_cold_only": cold,
                                "gain_cold_only": cold - base["dev_ndcg@10_cold_only"]}
            rows.append(best_row)
            print(best_row, flush=True)
    names = list(dict.fromkeys(r["poster"] for r in rows))
    summary = [{"poster": n, "mean_dev_gain_cold_only": float(np.mean([r["gain_cold_only"] for r in rows if r["poster"] == n])),
                "mean_dev_ndcg@10_cold_only": float(np.mean([r["dev_ndcg@10_cold_only"] for r in rows if r["poster"] == n])),
                "mean_dev_ndcg@10_all_unrated": float(np.mean([r["dev_ndcg@10_all_unrated"] for r in rows if r["poster"] == n]))}
               for n in names]
    summary.sort(key=lambda r: -r["mean_dev_gain_cold_only"])
    chosen = next(r["poster"] for r in summary if r["poster"] != "none (text only)")
    print("chosen on dev:", chosen, flush=True)
    write("recommend_poster_style", {"stage": "dev", "seeds": list(SEEDS), "chosen": chosen, "per_seed": rows,
                                     "dim": 128, "half_life": 3.0, "elapsed_s": round(time.time() - started, 1),
                                     "chosen_by": "mean over hold-outs 0-2 of the dev cold-only NDCG@10 gain over text only"},
          summary, ["poster", "mean_dev_gain_cold_only", "mean_dev_ndcg@10_cold_only", "mean_dev_ndcg@10_all_unrated"],
          args.out)


def test_stage(args, pool: Pool, record_ids, events, raw, started: float) -> None:
    """Step 2: the cold-item protocol with the chosen poster representation as the image space, three hold-outs."""
    rows, blocks = [], {}
    for seed in SEEDS:
        dev_cold, test_cold = hold_out(len(record_ids), 0.2, seed)
        warm = ~(dev_cold | test_cold)
        table = representations(raw, warm)
        if args.test not in table:
            raise SystemExit(f"unknown representation {args.test!r}; accepted: {', '.join(table)}")
        poster = table[args.test]
        ids = list(pool.ids)
        vectors = {"text": dict(zip(ids, pool.vectors["text"])),
                   "image": {item: poster[i] for i, item in enumerate(ids) if pool.present["image"][i]}}
        styled = Pool.from_vectors(ids, vectors, {"text": int(pool.vectors["text"].shape[1]), "image": int(poster.shape[1])})
        block = run_cold_items(styled, record_ids, events, seed=seed)
        blocks[seed] = block
        for candidates, result in block["candidates"].items():
            for name, test in result["tests"].items():
                rows.append({"seed": seed, "n_users": test["n_users"], "candidates": candidates, "comparison": name,
                             "ndcg_diff": test["mean_diff"], "hr_diff": test["hr_diff"], "p": test["p_randomization"],
                             "multimodal_setting": json.dumps(result["methods"].get(name.split(" vs ")[0], {}).get("setting"))})
                print(rows[-1], flush=True)
    # one paired test over the three hold-outs: each user's mean (over the hold-outs where it has a test target) of
    # multimodal − text-only NDCG@10; users, not user-seed pairs, are the unit (a user appears in up to three)
    from polyseek.eval.compare import randomization_test

    combined = {}
    for candidates in ("all-unrated", "cold-only"):
        for kind in ("content", "content→cf"):
            text_name, both = f"{kind} text-only", f"{kind} multimodal"
            differences: dict[str, list[float]] = {}
            for block in blocks.values():
                per = block["candidates"][candidates]["per_user_ndcg@10"]
                for user in per.get(both, {}):
                    differences.setdefault(user, []).append(per[both][user] - per[text_name][user])
            mean = np.array([np.mean(v) for v in differences.values()])
            if not len(mean):
                continue
            combined[f"{candidates}: {both} vs {text_name}"] = {
                "n_users": len(mean), "mean_diff": float(mean.mean()),
                "p_randomization": randomization_test(np.zeros_like(mean), mean, permutations=10_000, seed=0)}
            rows.append({"seed": "0-2 (per-user mean)", "n_users": len(mean), "candidates": candidates,
                         "comparison": f"{both} vs {text_name}", "ndcg_diff": float(mean.mean()), "hr_diff": None,
                         "p": combined[f"{candidates}: {both} vs {text_name}"]["p_randomization"]})
            print(rows[-1], flush=True)
    write("recommend_poster_style_test", {"stage": "test", "representation": args.test, "seeds": list(SEEDS),
                                          "combined": combined,
                                          "elapsed_s": round(time.time() - started, 1),
                                          "methods": {s: {c: {m: {k: v for k, v in x.items() if k in ("hr@10", "ndcg@10", "ndcg@10_ci", "setting")}
                                                              for m, x in b["candidates"][c]["methods"].items()}
                                                          for c in b["candidates"]} for s, b in blocks.items()}},
          rows, ["seed", "candidates", "comparison", "n_users", "ndcg_diff", "hr_diff", "p"], args.out)


if __name__ == "__main__":
    main()
