"""A poster → collaborative branch learnt on warm films, fused with text → cf, for new films: issue 15's goal 2.

    # 1. dev targets only: which poster branch adds most to text → cf (three hold-outs); writes the choices
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/recommend_poster_cf.py \\
        ../shared/eval/movielens --workdir /tmp/rec-work --cache /tmp/h15b
    # 2. once: the dev choices of step 1 on the test-cold targets, paired tests multimodal vs text-only
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/recommend_poster_cf.py \\
        ../shared/eval/movielens --workdir /tmp/rec-work --cache /tmp/h15b --test

The cold-item protocol of ``polyseek.eval.recommend_cold`` (20 % of the films held out with all their ratings, cut
into dev-cold and test-cold halves; per user the last rating of a cold film, its history the user's earlier
warm ratings; hold-outs 0, 1, 2), with every method in the collaborative space of the warm films' ratings (the
truncated SVD ``E`` of ``content_cf.collaborative_space``; a history is the recency-weighted sum of its films'
rows of ``E``). A cold film is placed in ``E`` from its content:

- **text-only** (the baseline): a ridge map text → ``E`` fitted on the warm films (``ContentToCF``); SVD width
  128/256, ridge 0.1/0.3/1, history half-life 1/3, plus optionally (weight 0/0.1/0.25) the standardised cosine
  of each film's text vector with the history's recency-weighted mean text vector (the raw content similarity);
  all chosen on dev per hold-out. On the all-unrated candidates the text-only grid also scales every cold film's
  placement by 1/1.5/2/3: every dev and test target is a cold film, so anything that lifts cold films as a group
  above the warm ones scores there, and a poster branch that lengthens the cold placements would otherwise win
  for that reason alone (the control keeps the comparison about what the poster says).
- **multimodal** = the chosen text-only setting + a **poster branch** trained on warm films only, added to the
  text placement with weight ``alpha`` (0.1/0.25/0.5/1/2), scaled by ``1 + gamma * thin`` where ``thin`` marks a
  film whose text has neither user tags nor a plot line (47 % of the films; gamma 0/1/3: does the poster matter
  more where the text says little?), plus optionally the standardised raw poster similarity to the history
  (weight 0/0.1/0.25). Two branches:
  - ``residual ridge``: a ridge map poster → (``E`` − the text map's *out-of-fold* placement of the warm films,
    5 folds), i.e. the poster learns only what the text map misses (ridge 0.3/3/30);
  - ``dropout MLP``: one hidden layer (256, GELU) from [text, poster] to ``E``, trained on the warm films with
    modality dropout (each film's text block or poster block zeroed with probability 0.3, never both), so the
    poster half must carry what it can on its own; the branch is ``f(text, poster) − f(text, 0)``: what the poster
    adds to the same network's text-only placement.
  Poster features (standardised on the warm films, rows of about unit length): the aligner's image vector (what
  the index holds), the aligner backbone's (EfficientNet-Lite0) 1,280-d mean-pooled features, the 63 colour/
  texture statistics of ``recommend_poster_style.py``, and all three side by side.

Step 1 picks the (poster features, branch) family with the best mean dev gain over text-only on the cold-only
candidates over the three hold-outs, and per hold-out and candidate set the best setting in it (dev again); it
saves those choices. Step 2 applies exactly them to the test targets: per hold-out paired sign-flip tests, one
test over the three hold-outs (each user's mean difference), and the same split by whether the target film's
text is thin. Features come from ``recommend_poster_style.py``'s cache (``style-*.npz`` in the workdir) and the
index that ``polyseek eval recommend --workdir`` built; ``--cache`` keeps this script's pool dump and choices.
``--probe`` (target-free, warm films only) measures how close each content's out-of-fold placement of a warm
film comes to its learned vector, for thin and rich text. Results: ``benchmarks/results/recommend_poster_cf*``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

from polyseek.eval.compare import randomization_test  # noqa: E402
from polyseek.eval.recommend_cold import cold_targets, hold_out  # noqa: E402
from polyseek.recommend.content_cf import ContentToCF, collaborative_space, history_vector  # noqa: E402
from polyseek.recommend.training import read_interactions  # noqa: E402

SEEDS = (0, 1, 2)
DIMS = (128, 256)
TEXT_RIDGES = (0.1, 0.3, 1.0)
HALF_LIVES = (1.0, 3.0)
RAW = (0.0, 0.1, 0.25)  # weight of the standardised raw content similarity
ALPHAS = (0.1, 0.25, 0.5, 1.0, 2.0)
GAMMAS = (0.0, 1.0, 3.0)
POSTER_RIDGES = (0.3, 3.0, 30.0)
COLD_SCALES = (1.0, 1.5, 2.0, 3.0)  # all-unrated only: the text placement of cold films x this (see the docstring)
K = 10
DISCOUNT = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, K + 2)))])  # DISCOUNT[r] = sum_{j<=r}


def load(folder: Path, workdir: Path, cache: Path) -> dict[str, Any]:
    path = cache / "pool.npz"
    if not path.is_file():  # one read of the eval's index: text and image vectors in catalogue order
        from recommend_cold_features import load_pool

        pool, record_ids, _ = load_pool(folder, workdir)
        records = {json.loads(x)["id"]: json.loads(x) for x in (workdir / "catalogue-posters.jsonl").read_text().splitlines() if x.strip()}
        thin = np.array([not records[r].get("tags") and not records[r].get("plot") for r in record_ids])
        np.savez(path, rids=np.array(record_ids), text=pool.vectors["text"], image=pool.vectors["image"], thin=thin)
    data = dict(np.load(path))
    data["rids"] = [str(r) for r in data["rids"]]
    backbone = np.load(workdir / "style-backbone.npz")
    data["lite0"] = backbone["mean"]
    data["stats"] = np.load(workdir / "style-stats.npz")["stats"]
    return data


def standardised(x: np.ndarray, warm: np.ndarray) -> np.ndarray:
    x = (x - x[warm].mean(0)) / (x[warm].std(0) + 1e-6)
    return (x / np.sqrt(x.shape[1])).astype(np.float32)


def posters(data: dict[str, Any], warm: np.ndarray) -> dict[str, np.ndarray]:
    aligner = data["image"].astype(np.float32)
    lite0, stats = standardised(data["lite0"], warm), standardised(data["stats"], warm)
    return {"aligner image vector": aligner, "lite0 mean pool": lite0, "colour/texture stats": stats,
            "all three": (np.hstack([aligner, lite0, stats]) / np.sqrt(3)).astype(np.float32)}


def out_of_fold(features: np.ndarray, targets: np.ndarray, warm: np.ndarray, ridge: float, folds: int = 5) -> np.ndarray:
    """The ridge map's placement of each warm film by a map fitted without it (5 folds)."""
    rows = np.flatnonzero(warm)
    fold = np.random.default_rng(0).permutation(len(rows)) % folds
    out = np.zeros_like(targets)
    for f in range(folds):
        train = np.zeros(len(warm), bool)
        train[rows[fold != f]] = True
        out[rows[fold == f]] = ContentToCF.fit(features, targets, train, ridge).predict(features[rows[fold == f]])
    return out


def dropout_mlp(text: np.ndarray, poster: np.ndarray, targets: np.ndarray, warm: np.ndarray, seed: int) -> np.ndarray:
    """f(text, poster) − f(text, 0) of a one-hidden-layer net trained on the warm films with modality dropout."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    x_t, x_p = torch.tensor(text), torch.tensor(poster)
    y = torch.tensor(targets)
    scale = float(y[torch.tensor(warm)].std())
    net = torch.nn.Sequential(torch.nn.Linear(text.shape[1] + poster.shape[1], 256), torch.nn.GELU(),
                              torch.nn.Dropout(0.1), torch.nn.Linear(256, targets.shape[1]))
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    rows = torch.tensor(np.flatnonzero(warm))
    generator = torch.Generator().manual_seed(seed)
    for _epoch in range(60):
        for batch in rows[torch.randperm(len(rows), generator=generator)].split(128):
            draw = torch.rand(len(batch), generator=generator)
            keep_t = (draw >= 0.3).float()[:, None]  # < 0.3: text dropped
            keep_p = ((draw < 0.3) | (draw >= 0.6)).float()[:, None]  # 0.3–0.6: poster dropped
            out = net(torch.cat([x_t[batch] * keep_t, x_p[batch] * keep_p], 1))
            loss = ((out - y[batch] / scale) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    net.eval()
    with torch.no_grad():
        both = net(torch.cat([x_t, x_p], 1))
        alone = net(torch.cat([x_t, torch.zeros_like(x_p)], 1))
    return ((both - alone) * scale).numpy().astype(np.float32)


class Split:
    """One hold-out: the warm films' collaborative space and the dev / test targets as matrices."""

    def __init__(self, data: dict[str, Any], events: list, seed: int) -> None:
        rids = data["rids"]
        self.row = {rid: i for i, rid in enumerate(rids)}
        n = len(rids)
        self.dev_cold, self.test_cold = hold_out(n, 0.2, seed)
        self.warm = ~(self.dev_cold | self.test_cold)
        users = sorted({e.user for e in events})
        user_row = {u: i for i, u in enumerate(users)}
        matrix = np.zeros((len(users), n), dtype=np.float32)
        for e in events:
            if self.warm[self.row[e.item]]:
                matrix[user_row[e.user], self.row[e.item]] = 1.0
        self.space = {d: collaborative_space(matrix, d) for d in DIMS}
        self.targets = {"dev": cold_targets(events, self.row, self.dev_cold, self.warm),
                        "test": cold_targets(events, self.row, self.test_cold, self.warm)}

    def users(self, stage: str) -> list[str]:
        return sorted(self.targets[stage], key=int)

    def histories(self, stage: str, matrix: np.ndarray, half_life: float, mean: bool = False) -> np.ndarray:
        """users x features: each target's history point in ``matrix``'s rows (a unit-length mean with ``mean``)."""
        out = np.stack([history_vector(matrix, [self.row[e.item] for e in self.targets[stage][u].history], half_life)
                        for u in self.users(stage)])
        if mean:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out

    def candidates(self, stage: str) -> dict[str, np.ndarray]:
        rated = np.stack([self.targets[stage][u].rated for u in self.users(stage)], 1)  # items x users
        cold = self.dev_cold if stage == "dev" else self.test_cold
        return {"all-unrated": ~rated, "cold-only": cold[:, None] & ~rated}


def ndcg(scores: np.ndarray, targets: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per user (columns of ``scores``, items x users): tie-aware NDCG@10 of its target among its candidates."""
    cols = np.arange(scores.shape[1])
    value = scores[targets, cols]
    others = candidates.copy()
    others[targets, cols] = False
    above = np.count_nonzero(others & (scores > value), axis=0)
    tied = np.count_nonzero(others & (scores == value), axis=0)
    return (DISCOUNT[np.minimum(above + tied + 1, K)] - DISCOUNT[np.minimum(above, K)]) / (tied + 1)


def zscore(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(0)) / (scores.std(0) + 1e-9)


class Scorer:
    """Scores of one split and stage for any setting, with the expensive parts cached."""

    def __init__(self, split: Split, data: dict[str, Any], stage: str) -> None:
        self.split, self.data, self.stage = split, data, stage
        self.users = split.users(stage)
        self.target_rows = np.array([split.targets[stage][u].row for u in self.users])
        self.sets = split.candidates(stage)
        self.thin = data["thin"].astype(np.float32)
        self.features = posters(data, split.warm)
        self._cache: dict[tuple, Any] = {}

    def cached(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def text_placement(self, dim: int, ridge: float) -> np.ndarray:
        space, warm = self.split.space[dim], self.split.warm
        text = self.data["text"]
        return self.cached(("text", dim, ridge), lambda: np.where(
            warm[:, None], space, ContentToCF.fit(text, space, warm, ridge).predict(text)))

    def branch(self, family: tuple[str, str], dim: int, text_ridge: float, poster_ridge: float) -> np.ndarray:
        """The poster branch's vector per film (zero for warm films: they keep their learned point)."""
        features, kind = family
        poster, space, warm = self.features[features], self.split.space[dim], self.split.warm
        text = self.data["text"]
        if kind == "residual ridge":
            def make() -> np.ndarray:
                residual = space - out_of_fold(text, space, warm, text_ridge)
                return ContentToCF.fit(poster, residual, warm, poster_ridge).predict(poster)
            vectors = self.cached(("residual", features, dim, text_ridge, poster_ridge), make)
        else:
            vectors = self.cached(("mlp", features, dim), lambda: dropout_mlp(text, poster, space, warm, 0))
        return np.where(warm[:, None], 0.0, vectors).astype(np.float32)

    def raw(self, space_name: str, half_life: float) -> np.ndarray:
        def make() -> np.ndarray:
            matrix = self.data["text"] if space_name == "text" else self.features["aligner image vector"]
            return zscore(matrix @ self.split.histories(self.stage, matrix, half_life, mean=True).T)
        return self.cached(("raw", space_name, half_life), make)

    def scores(self, setting: dict[str, Any]) -> np.ndarray:
        dim, half_life = setting["dim"], setting["half_life"]
        placed = self.text_placement(dim, setting["text_ridge"])
        if setting.get("cold_scale", 1.0) != 1.0:  # every cold film's placement lengthened: scores further from 0
            placed = np.where(self.split.warm[:, None], placed, setting["cold_scale"] * placed)
        if setting.get("family"):
            gain = setting["alpha"] * (1.0 + setting["gamma"] * self.thin)[:, None]
            placed = placed + gain * self.branch(tuple(setting["family"]), dim, setting["text_ridge"],
                                                 setting.get("poster_ridge", 0.0))
        history = self.cached(("hist", dim, half_life), lambda: self.split.histories(self.stage, self.split.space[dim], half_life))
        scores = placed @ history.T
        if setting.get("raw_text") or setting.get("raw_poster"):
            scores = zscore(scores)
            if setting.get("raw_text"):
                scores = scores + setting["raw_text"] * self.raw("text", half_life)
            if setting.get("raw_poster"):
                scores = scores + setting["raw_poster"] * self.raw("poster", half_life)
        return scores

    def evaluate(self, setting: dict[str, Any]) -> dict[str, np.ndarray]:
        def make() -> dict[str, np.ndarray]:
            scores = self.scores(setting)
            return {name: ndcg(scores, self.target_rows, mask) for name, mask in self.sets.items()}
        return self.cached(("evaluate", json.dumps(setting, sort_keys=True)), make)


def text_grid(candidates: str) -> list[dict[str, Any]]:
    scales = COLD_SCALES if candidates == "all-unrated" else (1.0,)
    return [{"dim": d, "text_ridge": r, "half_life": h, "raw_text": w, "cold_scale": c}
            for d, r, h, w, c in itertools.product(DIMS, TEXT_RIDGES, HALF_LIVES, RAW, scales)]


def poster_grid(base: dict[str, Any], family: tuple[str, str]) -> list[dict[str, Any]]:
    ridges = POSTER_RIDGES if family[1] == "residual ridge" else (0.0,)
    return [{**base, "family": list(family), "alpha": a, "gamma": g, "poster_ridge": r, "raw_poster": w}
            for a, g, r, w in itertools.product(ALPHAS, GAMMAS, ridges, RAW)]


FAMILIES = [(f, k) for f in ("aligner image vector", "lite0 mean pool", "colour/texture stats", "all three")
            for k in ("residual ridge", "dropout MLP")]


def best(scorer: Scorer, grid: list[dict[str, Any]], candidates: str) -> tuple[dict[str, Any], float]:
    values = [float(scorer.evaluate(s)[candidates].mean()) for s in grid]
    n = int(np.argmax(values))
    return grid[n], values[n]


def dev_stage(data: dict[str, Any], splits: dict[int, Split], cache: Path, out: str, started: float) -> None:
    rows, choices = [], {}
    for seed, split in splits.items():
        scorer = Scorer(split, data, "dev")
        choices[seed] = {}
        for candidates in ("cold-only", "all-unrated"):
            base, base_value = best(scorer, text_grid(candidates), candidates)
            choices[seed][candidates] = {"text-only": base}
            rows.append({"seed": seed, "candidates": candidates, "family": "text-only", "dev_ndcg@10": base_value,
                         "gain": 0.0, "setting": json.dumps(base)})
            print(rows[-1], flush=True)
            base_text = {k: base[k] for k in ("dim", "text_ridge", "half_life", "raw_text", "cold_scale")}
            for family in FAMILIES:
                setting, value = best(scorer, poster_grid(base_text, family), candidates)
                choices[seed][candidates][" / ".join(family)] = setting
                rows.append({"seed": seed, "candidates": candidates, "family": " / ".join(family),
                             "dev_ndcg@10": value, "gain": value - base_value, "setting": json.dumps(setting)})
                print(rows[-1], f"{time.time() - started:.0f}s", flush=True)
    summary = []
    for candidates in ("cold-only", "all-unrated"):
        for family in ["text-only"] + [" / ".join(f) for f in FAMILIES]:
            picked = [r for r in rows if r["candidates"] == candidates and r["family"] == family]
            summary.append({"candidates": candidates, "family": family,
                            "mean_dev_gain": float(np.mean([r["gain"] for r in picked])),
                            "per_hold_out": " / ".join(f"{r['gain']:+.3f}" for r in picked),
                            "mean_dev_ndcg@10": float(np.mean([r["dev_ndcg@10"] for r in picked]))})
    chosen = max((s for s in summary if s["candidates"] == "cold-only" and s["family"] != "text-only"),
                 key=lambda s: s["mean_dev_gain"])["family"]
    print("chosen on dev:", chosen, flush=True)
    (cache / "poster_cf_choices.json").write_text(json.dumps({"chosen": chosen, "choices": choices}, indent=1))
    write("recommend_poster_cf", {"stage": "dev", "seeds": list(SEEDS), "chosen": chosen,
                                  "chosen_by": "mean over hold-outs 0-2 of the dev cold-only NDCG@10 gain over text-only",
                                  "per_seed": rows, "elapsed_s": round(time.time() - started, 1)},
          summary, ["candidates", "family", "mean_dev_gain", "per_hold_out", "mean_dev_ndcg@10"], out)


def test_stage(data: dict[str, Any], splits: dict[int, Split], cache: Path, out: str, started: float) -> None:
    saved = json.loads((cache / "poster_cf_choices.json").read_text())
    chosen, rows = saved["chosen"], []
    per_user: dict[str, dict[str, list[float]]] = {}  # candidates -> user -> differences over hold-outs
    thin_user: dict[str, dict[str, list[float]]] = {}
    means: dict[str, dict[str, list[float]]] = {}
    for seed, split in splits.items():
        scorer = Scorer(split, data, "test")
        thin_target = data["thin"][scorer.target_rows]
        for candidates in ("cold-only", "all-unrated"):
            setting = saved["choices"][str(seed)][candidates]
            a = scorer.evaluate(setting["text-only"])[candidates]
            b = scorer.evaluate(setting[chosen])[candidates]
            p = randomization_test(a, b, permutations=10_000, seed=seed)
            means.setdefault(candidates, {}).setdefault("text-only", []).append(float(a.mean()))
            means[candidates].setdefault("multimodal", []).append(float(b.mean()))
            row = {"hold-out": seed, "candidates": candidates, "n_users": len(a), "text-only": float(a.mean()),
                   "multimodal": float(b.mean()), "diff": float((b - a).mean()), "p": p,
                   "thin targets (n)": int(thin_target.sum()),
                   "diff on thin": float((b - a)[thin_target].mean()) if thin_target.any() else None,
                   "diff on rich": float((b - a)[~thin_target].mean()) if (~thin_target).any() else None,
                   "text-only on thin": float(a[thin_target].mean()) if thin_target.any() else None,
                   "text-only on rich": float(a[~thin_target].mean()) if (~thin_target).any() else None}
            rows.append(row)
            print(row, flush=True)
            for user, d, t in zip(scorer.users, b - a, thin_target):
                per_user.setdefault(candidates, {}).setdefault(user, []).append(float(d))
                if t:
                    thin_user.setdefault(candidates, {}).setdefault(user, []).append(float(d))
    combined = {}
    for candidates in ("cold-only", "all-unrated"):
        for name, table in (("all targets", per_user), ("thin-text targets", thin_user)):
            mean = np.array([np.mean(v) for v in table.get(candidates, {}).values()])
            if not len(mean):
                continue
            p = randomization_test(np.zeros_like(mean), mean, permutations=10_000, seed=0)
            combined[f"{candidates}, {name}"] = {"n_users": len(mean), "mean_diff": float(mean.mean()), "p": p}
            rows.append({"hold-out": "0-2 (per-user mean)", "candidates": f"{candidates}, {name}",
                         "n_users": len(mean),
                         "text-only": float(np.mean(means[candidates]["text-only"])) if name == "all targets" else None,
                         "multimodal": float(np.mean(means[candidates]["multimodal"])) if name == "all targets" else None,
                         "diff": float(mean.mean()), "p": p})
            print(rows[-1], flush=True)
    thin = data["thin"].astype(bool)
    write("recommend_poster_cf_test", {"stage": "test", "chosen": chosen, "seeds": list(SEEDS), "combined": combined,
                                       "thin_share_of_films": float(thin.mean()),
                                       "choices": saved["choices"], "elapsed_s": round(time.time() - started, 1)},
          rows, ["hold-out", "candidates", "n_users", "text-only", "multimodal", "diff", "p", "thin targets (n)",
                 "diff on thin", "diff on rich", "text-only on thin", "text-only on rich"], out)


def probe_stage(data: dict[str, Any], splits: dict[int, Split], out: str, started: float) -> None:
    """Target-free: how close each content's out-of-fold placement of the *warm* films comes to their learned
    vectors (mean cosine after centring on the warm mean; SVD width 128, text ridge 0.3, poster ridge 30), for
    films with thin text (no tags, no plot) and the others. No dev or test target is read."""
    thin = data["thin"].astype(bool)
    rows = []
    for seed, split in splits.items():
        warm, space = split.warm, split.space[128]
        centre = space[warm].mean(0)

        def cosine(placed: np.ndarray, mask: np.ndarray) -> float:
            a, b = placed[mask] - centre, space[mask] - centre
            return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)))

        text = out_of_fold(data["text"], space, warm, 0.3)
        rows.append({"hold-out": seed, "placement": "text map", "all warm films": cosine(text, warm),
                     "thin text": cosine(text, warm & thin), "rich text": cosine(text, warm & ~thin)})
        for name, poster in posters(data, warm).items():
            alone = out_of_fold(poster, space, warm, 30.0)
            branch = out_of_fold(poster, space - text, warm, 30.0)  # nested: the residual is out-of-fold already
            rows.append({"hold-out": seed, "placement": f"{name} map alone", "all warm films": cosine(alone, warm),
                         "thin text": cosine(alone, warm & thin), "rich text": cosine(alone, warm & ~thin)})
            alpha = max((0.5, 1.0, 2.0), key=lambda a: cosine(text + a * branch, warm))
            rows.append({"hold-out": seed, "placement": f"text map + {alpha} x {name} residual branch",
                         "all warm films": cosine(text + alpha * branch, warm),
                         "thin text": cosine(text + alpha * branch, warm & thin),
                         "rich text": cosine(text + alpha * branch, warm & ~thin)})
        for r in rows[-9:]:
            print(r, flush=True)
    write("recommend_poster_cf_probe", {"stage": "probe (warm films only, out-of-fold)",
                                        "thin_share_of_films": float(thin.mean()),
                                        "elapsed_s": round(time.time() - started, 1)},
          rows, ["hold-out", "placement", "all warm films", "thin text", "rich text"], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workdir", type=Path, required=True, help="the --workdir of a polyseek eval recommend run")
    parser.add_argument("--cache", type=Path, required=True, help="a writable folder for the pool dump and the dev choices")
    parser.add_argument("--test", action="store_true", help="step 2: the saved dev choices on the test targets, once")
    parser.add_argument("--probe", action="store_true", help="target-free: placement quality of the warm films")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    started = time.time()
    args.cache.mkdir(parents=True, exist_ok=True)
    data = load(args.folder, args.workdir, args.cache)
    row = {rid: i for i, rid in enumerate(data["rids"])}
    events, _ = read_interactions(args.folder / "ratings.csv", user="userId", item="movieId", rating="rating")
    events = [e for e in events if e.item in row]
    splits = {seed: Split(data, events, seed) for seed in SEEDS}
    if args.probe:
        return probe_stage(data, splits, args.out, started)
    (test_stage if args.test else dev_stage)(data, splits, args.cache, args.out, started)


if __name__ == "__main__":
    main()
