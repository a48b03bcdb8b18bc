"""Cold items for ``polyseek eval recommend``: items held out of training entirely, as in the item cold-start field.

Protocol. A seeded random ``share`` of the catalogue's items is held out with *all* their interactions and cut in
two halves: dev-cold and test-cold items. Nothing learnt (the collaborative space, the content → collaborative
maps, popularity) sees any interaction with a held-out item. Per user, the **test target** is the user's last
interaction (by timestamp) with a test-cold item, its history the user's interactions with warm items before it;
the **dev target** is the same with the dev-cold items. Every setting (profile half-life, SVD width, ridge,
image weight) is chosen on the dev targets; the test targets are reported. Two candidate sets, both reported:
``all-unrated`` (every catalogue item the user has not rated before the target: warm and cold items, all scored
by content, so a cold target competes with every film) and ``cold-only`` (the held-out items of that half the user
has not rated before the target: "which new film will this person pick"). Metrics and tests as in the main
protocol: tie-aware HR@10 / NDCG@10, percentile bootstrap intervals, paired sign-flip tests over test users.
Warm items' interactions from after a target's time stay in training (the random-item split of the field).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.recommend.base import SPACES, Pool, Profile, ProfileItem
from polyseek.recommend.content_cf import ContentToCF, collaborative_space, content_features, history_vector
from polyseek.recommend.history import History
from polyseek.recommend.training import Event, sequences_by_user

CANDIDATES = ("all-unrated", "cold-only")
VARIANTS = {"text-only": {"image": 0.0, "text": 1.0}, "poster-only": {"image": 1.0, "text": 0.0},
            "multimodal": {"image": 1.0, "text": 1.0}}
IMAGE_WEIGHTS = (0.25, 0.5, 1.0)  # the multimodal variants' image weight (text 1), chosen on dev
HALF_LIVES = (3.0, 10.0, 1e9)  # the content profile's
CF_HALF_LIVES = (1.0, 3.0, 10.0)  # the history's point in the collaborative space
CF_DIMS = (64, 128, 256)
RIDGES = (0.1, 0.3, 1.0)
Progress = Callable[[str, int, int], None]
Scorer = Callable[["Target"], np.ndarray]


@dataclass(frozen=True)
class Target:
    user: str
    row: int  # the target item's row
    history: tuple[Event, ...]  # interactions with warm items before the target, oldest first
    rated: np.ndarray  # mask: items rated before the target (warm or cold)


def hold_out(n_items: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the dev-cold and test-cold items: a seeded random ``share`` of the items, cut in two halves."""
    order = np.random.default_rng(seed).permutation(n_items)
    half = max(1, int(round(n_items * share / 2)))
    dev, test = np.zeros(n_items, dtype=bool), np.zeros(n_items, dtype=bool)
    dev[order[:half]], test[order[half:2 * half]] = True, True
    return dev, test


def cold_targets(events: Sequence[Event], row: Mapping[str, int], cold: np.ndarray,
                 warm: np.ndarray) -> dict[str, Target]:
    """Per user: the last interaction with a ``cold`` item, with its warm history (users without either skipped)."""
    out = {}
    for user, sequence in sequences_by_user([e for e in events if e.item in row]).items():
        positions = [i for i, e in enumerate(sequence) if cold[row[e.item]]]
        if not positions:
            continue
        last = positions[-1]
        history = tuple(e for e in sequence[:last] if warm[row[e.item]])
        if not history:
            continue
        rated = np.zeros(len(cold), dtype=bool)
        rated[[row[e.item] for e in sequence[:last]]] = True
        out[user] = Target(user, row[sequence[last].item], history, rated)
    return out


RELEASE_FIELDS = ("title", "genres")  # what a catalogue knows of a film on its release day (no user tags)


def release_day_pool(catalogue: Path, record_ids: Sequence[str], pool: Pool, *, text_encoder: str,
                     poster_logits: bool, cache: Path) -> Pool:
    """``pool``'s items with release-day content: the text of the title and genres only (user tags are other
    people's reactions, which a film nobody has seen does not have yet) and, with ``poster_logits``, the poster as
    the aligner backbone's 1,000 ImageNet logits standardised over the items instead of the aligner's vector (the
    representation chosen on dev targets by ``benchmarks/recommend_cold_features.py``). Cached in ``cache``."""
    import hashlib

    from polyseek.encoders.base import load_encoder
    from polyseek.ingest.catalogue import record_text

    records = {}
    for line in Path(catalogue).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[str(record["id"])] = record
    texts = [record_text({k: records[r][k] for k in RELEASE_FIELDS if k in records[r]}) for r in record_ids]
    images = [str(records[r].get("image", "")) for r in record_ids]
    digest = hashlib.blake2b(json.dumps([text_encoder, poster_logits, texts, images]).encode(), digest_size=10)
    path = Path(cache) / f"release-day-{digest.hexdigest()}.npz"
    if path.is_file():
        stored = np.load(path)
        text, image = stored["text"], stored["image"]
    else:
        encoder = load_encoder(text_encoder)
        text = np.concatenate([encoder.encode_documents(texts[i:i + 64]) for i in range(0, len(texts), 64)])
        image = pool.vectors["image"]
        if poster_logits:
            from PIL import Image

            from polyseek.align.features import extract

            rows = [i for i, name in enumerate(images) if name and pool.present["image"][i]]
            logits = extract("lite0", [Image.open(images[i]).convert("RGB") for i in rows], ("logits",))["logits"]
            logits = (logits - logits.mean(0)) / (logits.std(0) + 1e-6)
            image = np.zeros((len(record_ids), logits.shape[1]), dtype=np.float32)
            image[rows] = logits
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, text=text, image=image)
    ids = list(pool.ids)
    vectors = {"text": dict(zip(ids, text)),
               "image": {item: image[i] for i, item in enumerate(ids) if pool.present["image"][i]}}
    return Pool.from_vectors(ids, vectors, {"text": int(text.shape[1]), "image": int(image.shape[1])})


def _profile(pool: Pool, row: Mapping[str, int], history: Sequence[Event]) -> Profile:
    items = []
    for event in history:
        r = row[event.item]
        vectors = {s: pool.vectors[s][r] for s in SPACES if pool.present[s][r]}
        if vectors:
            items.append(ProfileItem(pool.ids[r], 1.0, vectors, event.timestamp, event.rating))
    return Profile(tuple(items), from_history=True)


def _metrics(scores: np.ndarray, target: int, candidates: np.ndarray) -> tuple[float, float, int]:
    from polyseek.eval.recommend import tie_aware_metrics

    return tie_aware_metrics(scores, target, candidates)


def _evaluate(methods: Mapping[str, Scorer], targets: Mapping[str, Target], cold: np.ndarray,
              progress: Progress | None, stage: str) -> dict[str, dict[str, dict[str, tuple[float, float, int]]]]:
    """Per candidate set, per method, per user: (HR@10, NDCG@10, rank)."""
    out: dict[str, dict[str, dict[str, tuple[float, float, int]]]] = {c: {m: {} for m in methods} for c in CANDIDATES}
    users = sorted(targets, key=lambda u: (0, int(u)) if u.isdigit() else (1, u))
    for n, user in enumerate(users):
        target = targets[user]
        sets = {"all-unrated": ~target.rated, "cold-only": cold & ~target.rated}
        for name, method in methods.items():
            scores = method(target)
            for candidates, mask in sets.items():
                out[candidates][name][user] = _metrics(scores, target.row, mask)
        if progress:
            progress(stage, n + 1, len(users))
    return out


def run_cold_items(pool: Pool, record_ids: Sequence[str], events: Sequence[Event], *, share: float = 0.2,
                   seed: int = 0, resamples: int = 1000, permutations: int = 10_000, release: Pool | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """The cold-item protocol (module docstring) over ``pool`` (rows in ``record_ids`` order); a report block.

    ``release``: the same items with release-day content (:func:`release_day_pool`); adds the content → cf
    variants over it, named ``… (release-day)``.
    """
    from polyseek.eval.compare import randomization_test
    from polyseek.eval.recommend import mean_ndcg, summarise

    row = {rid: i for i, rid in enumerate(record_ids)}
    dev_cold, test_cold = hold_out(len(record_ids), share, seed)
    warm = ~(dev_cold | test_cold)
    users = sorted({e.user for e in events if e.item in row})
    user_row = {u: i for i, u in enumerate(users)}
    matrix = np.zeros((len(users), len(record_ids)), dtype=np.float32)
    for e in events:
        if e.item in row and warm[row[e.item]]:
            matrix[user_row[e.user], row[e.item]] = 1.0
    dev_targets = cold_targets(events, row, dev_cold, warm)
    test_targets = cold_targets(events, row, test_cold, warm)
    spaces = {s: (pool.present[s] & warm).any() for s in SPACES}
    embeddings = {d: collaborative_space(matrix, d) for d in CF_DIMS}

    shared: dict[str, Any] = {"target": None, "cache": {}}

    def content_method(weights: Mapping[str, float], half_life: float, best_share: float) -> Scorer:
        history = History(half_life=half_life, best_share=best_share, negative_weight=0.0,
                          image_weight=weights["image"], text_weight=weights["text"])
        only_image = not weights["text"]

        def score(target: Target) -> np.ndarray:
            if shared["target"] is not target:  # similarities computed once per target for every setting
                shared["target"], shared["cache"] = target, {}
            history.cache = shared["cache"]
            values = np.asarray(history.score(_profile(pool, row, target.history), pool), dtype=np.float64)
            return np.where(pool.present["image"], values, -np.inf) if only_image else values

        return score

    fitted: dict[tuple, np.ndarray] = {}

    pools = {"indexed": pool, "release-day": release or pool}

    def cf_method(weights: Mapping[str, float], dim: int, ridge: float, half_life: float,
                  content: str = "indexed") -> Scorer:
        key = (tuple(sorted(weights.items())), dim, ridge, content)
        if key not in fitted:
            features = content_features(pools[content], weights)
            fitted[key] = ContentToCF.fit(features, embeddings[dim], warm, ridge).predict(features)
        predicted, real = fitted[key], embeddings[dim]
        only_image = not weights["text"]

        def score(target: Target) -> np.ndarray:
            user = history_vector(real, [row[e.item] for e in target.history], half_life)
            values = (predicted @ user).astype(np.float64)
            return np.where(pool.present["image"], values, -np.inf) if only_image else values

        return score

    def variants(name: str) -> list[dict[str, float]]:
        if name != "multimodal":
            return [VARIANTS[name]]
        return [{"image": w, "text": 1.0} for w in IMAGE_WEIGHTS]

    grids: dict[str, list[dict[str, Any]]] = {}
    for variant in VARIANTS:
        if (variant != "text-only" and not spaces["image"]) or (variant != "poster-only" and not spaces["text"]):
            continue
        grids[f"content {variant}"] = [{"kind": "content", "weights": w, "half_life": h, "best_share": b}
                                       for w in variants(variant) for h in HALF_LIVES for b in (0.0, 0.3)]
        for content, suffix in (("indexed", ""), ("release-day", " (release-day)")):
            if content == "release-day" and release is None:
                continue
            grids[f"content→cf {variant}{suffix}"] = [
                {"kind": "cf", "content": content, "weights": w, "dim": d, "ridge": r, "half_life": h}
                for w in variants(variant) for d in CF_DIMS for r in RIDGES for h in CF_HALF_LIVES]

    def build(params: Mapping[str, Any]) -> Scorer:
        if params["kind"] == "content":
            return content_method(params["weights"], params["half_life"], params["best_share"])
        return cf_method(params["weights"], params["dim"], params["ridge"], params["half_life"], params["content"])

    flat = {f"{name}#{n}": build(p) for name, grid in grids.items() for n, p in enumerate(grid)}
    tuned = _evaluate(flat, dev_targets, dev_cold, progress, "tune cold items")
    chosen: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in CANDIDATES}
    for candidates in CANDIDATES:
        for name, grid in grids.items():
            values = [mean_ndcg(tuned[candidates][f"{name}#{n}"]) for n in range(len(grid))]
            best = int(np.argmax(values))
            chosen[candidates][name] = {**grid[best], "dev_ndcg@10": values[best]}
    del flat, tuned

    blocks: dict[str, Any] = {}
    for candidates in CANDIDATES:
        methods = {name: build(params) for name, params in chosen[candidates].items()}
        per = _evaluate(methods, test_targets, test_cold, progress, f"evaluate cold items ({candidates})")[candidates]
        summary = {name: {k: v for k, v in summarise(values, set(), resamples).items() if k != "cold_start"}
                   for name, values in per.items()}
        for name in summary:
            summary[name]["setting"] = {k: v for k, v in chosen[candidates][name].items() if k != "kind"}
        users = sorted(test_targets)
        tests = {}
        for kind in ("content", "content→cf", "release-day"):
            for variant in ("multimodal", "poster-only"):
                name, other = f"{kind} {variant}", f"{kind} text-only"
                if kind == "release-day":
                    name, other = f"content→cf {variant} (release-day)", "content→cf text-only (release-day)"
                if name not in per or other not in per or not users:  # no test target: nothing to pair
                    continue
                a = np.array([per[other][u][1] for u in users])
                b = np.array([per[name][u][1] for u in users])
                tests[f"{name} vs {other}"] = {
                    "metric": "ndcg@10", "n_users": len(users), "mean_diff": float((b - a).mean()),
                    "hr_diff": float(np.mean([per[name][u][0] - per[other][u][0] for u in users])),
                    "p_randomization": randomization_test(a, b, permutations=permutations, seed=seed)}
        sizes = [int(((~t.rated) if candidates == "all-unrated" else (test_cold & ~t.rated)).sum())
                 for t in test_targets.values()]
        blocks[candidates] = {"methods": summary, "tests": tests,
                              "per_user_ndcg@10": {name: {u: values[u][1] for u in users} for name, values in per.items()},
                              "median_candidates": float(np.median(sizes)) if sizes else None,
                              "random_hr@10": float(np.mean([min(1.0, 10 / max(s, 1)) for s in sizes])) if sizes else None}
    return {
        "protocol": "items held out entirely (seeded); target: each user's last rating of a held-out item; "
                    "history: the user's warm ratings before it; dev-cold and test-cold items are disjoint halves",
        "share_held_out": share, "seed": seed,
        "n_items_dev_cold": int(dev_cold.sum()), "n_items_test_cold": int(test_cold.sum()),
        "n_dev_users": len(dev_targets), "n_users": len(test_targets),
        "candidates": blocks,
    }


def ci_cell(values: Mapping[str, Any], metric: str) -> str:
    """A table cell: the metric with its 95 % interval, or a dash when it was not measured."""
    if values.get(metric) is None:
        return "–"
    low, high = values[f"{metric}_ci"]
    return f"{values[metric]:.3f} [{low:.3f}, {high:.3f}]"


def to_markdown(block: Mapping[str, Any]) -> str:
    """The cold-item tables: one per candidate set, test targets, settings chosen on dev."""
    cell = ci_cell
    lines = [f"Cold items: {block['share_held_out']:.0%} of the items held out of training entirely (seed "
             f"{block['seed']}; {block['n_items_dev_cold']} dev-cold, {block['n_items_test_cold']} test-cold items). "
             f"Target: each user's last rating of a held-out item, history: the user's earlier ratings of warm items; "
             f"{block['n_users']} test users ({block['n_dev_users']} dev users choose every setting)."]
    for candidates, result in block["candidates"].items():
        if not result["median_candidates"]:
            lines += ["", f"Candidates: {candidates}: no test target (too few held-out items or ratings)"]
            continue
        lines += ["", f"Candidates: {candidates} (median {result['median_candidates']:.0f} items per user; random "
                      f"HR@10 {result['random_hr@10']:.3f})", "",
                  "| method | HR@10 | NDCG@10 | dev NDCG@10 |", "|---|---:|---:|---:|"]
        for name, values in result["methods"].items():
            lines.append(f"| {name} | {cell(values, 'hr@10')} | {cell(values, 'ndcg@10')} | "
                         f"{values['setting']['dev_ndcg@10']:.3f} |")
        lines.append("")
        for name, test in result["tests"].items():
            lines.append(f"- {name}: NDCG@10 {test['mean_diff']:+.3f}, HR@10 {test['hr_diff']:+.3f} "
                         f"(p = {test['p_randomization']:.4f}, n = {test['n_users']})")
    return "\n".join(lines) + "\n"
