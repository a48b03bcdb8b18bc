"""``polyseek eval recommend``: next-item recommendation on a MovieLens-style folder, leave-last-out.

Protocol. Each user's interactions are ordered by timestamp (ties keep file order); the last one is the target,
the rest is the training history. Every method ranks all catalogue items the user has not rated in training;
HR@10 and NDCG@10 are expectations under random tie-breaking (a method that ties the target with others gets
no credit for the order the items happen to be in). Item popularity, co-occurrence counts and the sequential
model use the training interactions only (the file's ``n_ratings`` counts the targets too and is not used).
Users are split by a seeded hash into a dev part, on which every hyperparameter is chosen, and a test part,
on which everything is reported; cold-start targets are items with fewer than 5 training interactions.
Intervals: percentile bootstrap over test users; paired tests: sign-flip randomisation over test users.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.recommend.base import SPACES, Pool, Profile, ProfileItem
from polyseek.recommend.training import Event, read_interactions, sequences_by_user

K = 10
COLD_START = 5  # a target item with fewer training interactions is a cold-start target
BASELINES = ("popularity", "item-knn", "text-only", "poster-only", "average-vector", "best-score")
Progress = Callable[[str, int, int], None]


# ---- data -------------------------------------------------------------------------------------------------
def write_catalogue(folder: Path, out: Path, *, posters_only: bool = True) -> dict[str, bool]:
    """``items.jsonl`` → a polyseek catalogue (id, image, title, genres, tags, plot); returns ``{id: has poster}``.

    ``posters_only``: only the films with a poster (each item has a picture and text). Rewritten only when its
    content changes, so the index over it stays incremental between runs.
    """
    items = folder / "items.jsonl"
    if not items.is_file():
        raise InvalidInputError(f"{folder} has no items.jsonl", hint="expected a MovieLens folder: items.jsonl, ratings.csv, posters/")
    lines, posters = [], {}
    for raw in items.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        film = json.loads(raw)
        record: dict[str, Any] = {"id": str(film["movieId"]), "title": film.get("title", "")}
        poster = film.get("poster")
        has_poster = bool(poster) and (folder / poster).is_file()
        if posters_only and not has_poster:
            continue
        if has_poster:
            record["image"] = str((folder / poster).absolute())
        record["genres"] = [g for g in film.get("genres", []) if g != "(no genres listed)"]
        if film.get("tags"):
            record["tags"] = film["tags"]
        if film.get("description_imdb"):
            record["plot"] = film["description_imdb"]
        record["metadata"] = {k: film[k] for k in ("imdbId", "tmdbId") if film.get(k)}
        lines.append(json.dumps(record, ensure_ascii=False))
        posters[record["id"]] = has_poster
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return posters


def leave_last_out(events: Sequence[Event], known: set[str]) -> tuple[dict[str, list[Event]], dict[str, Event]]:
    """Training histories and held-out last events by user (events on unknown items dropped)."""
    train, target = {}, {}
    for user, user_events in sequences_by_user([e for e in events if e.item in known]).items():
        if len(user_events) < 2:
            continue
        train[user], target[user] = user_events[:-1], user_events[-1]
    return train, target


def split_users(users: Sequence[str], dev_share: float, seed: int) -> tuple[list[str], list[str]]:
    """Dev and test users by a seeded hash (stable when users are added)."""
    def bucket(user: str) -> float:
        return int(hashlib.blake2b(f"{seed}:{user}".encode(), digest_size=8).hexdigest(), 16) / 2 ** 64

    dev = sorted((u for u in users if bucket(u) < dev_share), key=_natural)
    test = sorted((u for u in users if bucket(u) >= dev_share), key=_natural)
    return dev, test


def _natural(value: str) -> Any:
    return (0, int(value)) if value.isdigit() else (1, value)


# ---- metrics ----------------------------------------------------------------------------------------------
def tie_aware_metrics(scores: np.ndarray, target: int, candidates: np.ndarray, k: int = K) -> tuple[float, float, int]:
    """HR@k and NDCG@k of ``target`` among ``candidates`` (a mask) in expectation over random tie-breaking."""
    value = scores[target]
    others = candidates.copy()
    others[target] = False
    above = int(np.count_nonzero(scores[others] > value)) if np.isfinite(value) else int(others.sum())
    tied = int(np.count_nonzero(scores[others] == value)) if np.isfinite(value) else 0
    ranks = np.arange(above + 1, above + tied + 2)
    hits = ranks[ranks <= k]
    hr = len(hits) / len(ranks)
    ndcg = float(np.sum(1.0 / np.log2(hits + 1))) / len(ranks)
    return hr, ndcg, above + 1


def bootstrap_interval(values: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap interval of the mean."""
    if len(values) == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarise(per_user: Mapping[str, tuple[float, float, int]], cold: set[str], resamples: int) -> dict[str, Any]:
    def block(users: list[str]) -> dict[str, Any]:
        hr = np.array([per_user[u][0] for u in users])
        ndcg = np.array([per_user[u][1] for u in users])
        if not users:
            return {"hr@10": None, "ndcg@10": None, "n_users": 0}
        return {"hr@10": float(hr.mean()), "ndcg@10": float(ndcg.mean()),
                "hr@10_ci": bootstrap_interval(hr, resamples=resamples),
                "ndcg@10_ci": bootstrap_interval(ndcg, resamples=resamples),
                "median_rank": float(np.median([per_user[u][2] for u in users])), "n_users": len(users)}

    users = sorted(per_user, key=_natural)
    return {**block(users), "cold_start": block([u for u in users if u in cold])}


# ---- methods ----------------------------------------------------------------------------------------------
class Context:
    """Everything a method needs: the item pool, training histories and counts."""

    def __init__(self, pool: Pool, record_ids: list[str], posters: np.ndarray, train: dict[str, list[Event]]) -> None:
        self.pool = pool
        self.record_ids = record_ids
        self.row = {rid: i for i, rid in enumerate(record_ids)}
        self.posters = posters
        self.train = train
        users = sorted(train, key=_natural)
        self.user_row = {u: i for i, u in enumerate(users)}
        self.matrix = np.zeros((len(users), len(record_ids)), dtype=np.float32)
        for user, events in train.items():
            self.matrix[self.user_row[user], [self.row[e.item] for e in events]] = 1.0
        self.counts = self.matrix.sum(0)
        self._cache_user: str | None = None
        self._cache: dict = {}
        self.poster_pool = Pool(pool.ids, pool.vectors, {**pool.present, "image": pool.present["image"] & posters})

    def cache_for(self, user: str) -> dict:
        """One user's similarity cache (only the latest user's is kept: evaluations loop users outermost)."""
        if self._cache_user != user:
            self._cache_user, self._cache = user, {}
        return self._cache

    def profile(self, user: str, pool: Pool | None = None) -> Profile:
        pool = pool or self.pool
        items = []
        for event in self.train[user]:
            row = self.row[event.item]
            vectors = {s: pool.vectors[s][row] for s in SPACES if pool.present[s][row]}
            if vectors:
                items.append(ProfileItem(pool.ids[row], 1.0, vectors, event.timestamp, event.rating))
        return Profile(tuple(items), from_history=True)


def popularity(context: Context) -> Callable[[str], np.ndarray]:
    scores = context.counts.astype(np.float64)
    return lambda user: scores


def item_knn(context: Context) -> Callable[[str], np.ndarray]:
    """Co-occurrence item-kNN: sum over the history of cosine(co-occurrence) with each candidate."""
    norms = np.sqrt(np.maximum(context.counts, 1.0))

    def score(user: str) -> np.ndarray:
        history = context.matrix[context.user_row[user]] / norms
        return (context.matrix.T @ (context.matrix @ history)) / norms

    return score


def content(context: Context, recommender: Any, *, posters_only: bool = False) -> Callable[[str], np.ndarray]:
    pool = context.poster_pool if posters_only else context.pool

    def score(user: str) -> np.ndarray:
        profile = context.profile(user, pool)
        if not profile.items:
            return np.zeros(len(pool))
        for part in (recommender, getattr(recommender, "content", None)):
            if part is not None and hasattr(part, "cache"):  # similarities computed once per user for all methods
                part.cache = context.cache_for(user)
        values = np.asarray(recommender.score(profile, pool), dtype=np.float64)
        return np.where(context.posters, values, -np.inf) if posters_only else values

    return score


def qdrant_profile(profile: Profile) -> Profile:
    """Qdrant's API takes positives and negatives: items rated at least the user's mean vs below it."""
    ratings = [p.rating for p in profile.items if p.rating is not None]
    mean = float(np.mean(ratings)) if ratings else None
    return Profile(tuple(replace(p, weight=-1.0 if mean is not None and p.rating is not None and p.rating < mean else 1.0)
                         for p in profile.items))


def evaluate(method: Callable[[str], np.ndarray], context: Context, users: Sequence[str],
             target: Mapping[str, Event]) -> dict[str, tuple[float, float, int]]:
    return evaluate_many({"one": method}, context, users, target)["one"]


def evaluate_many(methods: Mapping[str, Callable[[str], np.ndarray]], context: Context, users: Sequence[str],
                  target: Mapping[str, Event], progress: Progress | None = None,
                  stage: str = "evaluate") -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per method, per user: (HR@10, NDCG@10, rank). Users outermost, so a user's similarities are shared."""
    out: dict[str, dict[str, tuple[float, float, int]]] = {name: {} for name in methods}
    for n, user in enumerate(users):
        candidates = context.matrix[context.user_row[user]] == 0
        for name, method in methods.items():
            out[name][user] = tie_aware_metrics(method(user), context.row[target[user].item], candidates)
        if progress:
            progress(stage, n + 1, len(users))
    return out


def mean_ndcg(per_user: Mapping[str, tuple[float, float, int]]) -> float:
    return float(np.mean([v[1] for v in per_user.values()])) if per_user else 0.0


# ---- the run ----------------------------------------------------------------------------------------------
HISTORY_GRID: list[dict[str, Any]] = [
    {"half_life": h, "best_share": b, "image_weight": w, "negative_weight": n}
    for h in (3.0, 10.0, 30.0, 1e9) for b in (0.0, 0.3) for w in (0.5, 1.0) for n in (0.0, 0.3)
]


def run_recommend_eval(folder: Path, workdir: Path, *, dev_share: float = 0.3, seed: int = 0, resamples: int = 1000,
                       permutations: int = 10_000, epochs: int = 30, limit_users: int | None = None,
                       posters_only: bool = True, time_budget_s: float | None = None, negatives: int = 256,
                       image_encoder: str | None = None, text_encoder: str | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """The whole evaluation; returns the report (see :func:`to_markdown` for its table)."""
    from polyseek.engine import Engine
    from polyseek.eval.compare import randomization_test
    from polyseek.ingest.catalogue import record_item_id
    from polyseek.recommend import sasrec
    from polyseek.recommend.examples import AverageVector, BestScore
    from polyseek.recommend.history import History
    from polyseek.recommend.sequential import Sequential, features_of

    folder, workdir = Path(folder), Path(workdir)
    timing: dict[str, float] = {}
    started = time.perf_counter()
    catalogue = workdir / ("catalogue-posters.jsonl" if posters_only else "catalogue-all.jsonl")
    posters = write_catalogue(folder, catalogue, posters_only=posters_only)
    record_ids = list(posters)
    engine = Engine(str(workdir / "store"), image_encoder=image_encoder, text_encoder=text_encoder)
    try:
        for _run in range(100):  # a long catalogue is indexed in time-budgeted runs, each going on from the last
            summary = engine.index([catalogue], on_progress=(lambda p: progress("index", max(p.files_done, 0), 1)) if progress else None)
            if not any("index it again" in failure.get("reason", "") for failure in summary.failed):
                break
        timing["index_s"] = round(time.perf_counter() - started, 1)
        key = str(catalogue.absolute())
        ids = [record_item_id(key, rid) for rid in record_ids]
        meta = engine.catalog.get_meta("index")
        dims = {s: int(v["dim"]) for s, v in meta["spaces"].items() if s in SPACES}
        pool = Pool.from_vectors(ids, {s: engine.store.get_vectors(s, ids) for s in SPACES}, dims)
        encoders = engine.encoder_names()
    finally:
        engine.close()
    missing = [rid for rid, i in zip(record_ids, range(len(ids))) if not any(pool.present[s][i] for s in SPACES)]
    events, problems = read_interactions(folder / "ratings.csv", user="userId", item="movieId", rating="rating")
    train, target = leave_last_out(events, set(record_ids) - set(missing))
    users = sorted(train, key=_natural)
    dev, test = split_users(users, dev_share, seed)
    if limit_users:
        dev, test = dev[: max(1, int(limit_users * dev_share))], test[:limit_users]
    context = Context(pool, record_ids, np.array([posters[r] for r in record_ids]), train)
    cold = {u for u in users if context.counts[context.row[target[u].item]] < COLD_START}

    # tuning on dev users: the content profile (shared by polyseek's history and the text/poster baselines)
    tuning: dict[str, Any] = {"history": []}
    grid = {str(n): content(context, History(**params)) for n, params in enumerate(HISTORY_GRID)}
    tuned = evaluate_many(grid, context, dev, target, progress, "tune content")
    best_history, best_value = HISTORY_GRID[0], -1.0
    for n, params in enumerate(HISTORY_GRID):
        value = mean_ndcg(tuned[str(n)])
        tuning["history"].append({**params, "dev_ndcg@10": value})
        if value > best_value:
            best_history, best_value = params, value
    timing["tune_content_s"] = round(time.perf_counter() - started - sum(timing.values()), 1)

    # the sequential model: trained on every user's training history; epochs chosen on the dev users' targets
    number = {rid: i + 1 for i, rid in enumerate(record_ids)}
    sequences = [[number[e.item] for e in train[u]] for u in users]
    features = features_of(pool, dims)
    # small enough to train in minutes on a busy 2-core machine (see docs/recommend.md)
    config = sasrec.TrainConfig(dim=48, layers=1, heads=2, max_len=50, negatives=negatives, epochs=epochs,
                                seed=seed)

    def sequential_method(model: Any, content_weight: float = 0.0) -> Callable[[str], np.ndarray]:
        recommender = Sequential(model=model, config=config, item_ids=list(pool.ids), dims=dims,
                                 content_weight=content_weight, content=best_history)
        return content(context, recommender)

    def on_epoch(epoch: int, model: Any) -> float | None:
        if epoch % 2 and epoch != epochs:
            return None
        return mean_ndcg(evaluate(sequential_method(model), context, dev, target))

    model, train_log = sasrec.train(features, sequences, config, on_epoch=on_epoch, progress=progress,
                                    time_budget_s=time_budget_s)
    tuning["sequential"] = train_log
    timing["train_sequential_s"] = round(time.perf_counter() - started - sum(timing.values()), 1)
    tuning["hybrid"] = []
    best_blend, best_value = 0.25, -1.0
    blends = (0.1, 0.25, 0.5, 1.0)  # the sequential model blended with the content profile, on dev users
    tuned = evaluate_many({str(w): sequential_method(model, w) for w in blends}, context, dev, target, progress, "tune hybrid")
    for weight in blends:
        value = mean_ndcg(tuned[str(weight)])
        tuning["hybrid"].append({"content_weight": weight, "dev_ndcg@10": value})
        if value > best_value:
            best_blend, best_value = weight, value

    history_text = {**best_history, "image_weight": 0.0, "text_weight": 1.0}
    history_image = {**best_history, "image_weight": 1.0, "text_weight": 0.0}
    average, best = AverageVector(), BestScore()
    methods: dict[str, Callable[[str], np.ndarray]] = {
        "popularity": popularity(context),
        "item-knn": item_knn(context),
        "text-only": content(context, History(**history_text)),
        "poster-only": content(context, History(**history_image), posters_only=True),
        "average-vector": lambda u: np.asarray(average.score(qdrant_profile(context.profile(u)), pool), np.float64),
        "best-score": lambda u: np.asarray(best.score(qdrant_profile(context.profile(u)), pool), np.float64),
        "polyseek-history": content(context, History(**best_history)),
        "polyseek-sequential": sequential_method(model),
        "polyseek-hybrid": sequential_method(model, best_blend),
    }
    per_method = evaluate_many(methods, context, test, target, progress, "evaluate test users")
    ours = [m for m in methods if m.startswith("polyseek-")]
    on_dev = evaluate_many({m: methods[m] for m in ours}, context, dev, target, progress, "evaluate dev users")
    report_methods: dict[str, Any] = {}
    for name in methods:
        report_methods[name] = summarise(per_method[name], cold, resamples)
        if name in on_dev:  # what chooses polyseek's best (baselines are not chosen, so not run on dev)
            report_methods[name]["dev_ndcg@10"] = mean_ndcg(on_dev[name])
    timing["evaluate_s"] = round(time.perf_counter() - started - sum(timing.values()), 1)

    best_name = max(ours, key=lambda m: report_methods[m]["dev_ndcg@10"])  # chosen on dev, not on test
    tests = {}
    for baseline in BASELINES:
        a = np.array([per_method[baseline][u][1] for u in test])
        b = np.array([per_method[best_name][u][1] for u in test])
        tests[baseline] = {"metric": "ndcg@10", "mean_diff": float((b - a).mean()),
                           "p_randomization": randomization_test(a, b, permutations=permutations, seed=seed)}
    cold_users = [u for u in test if u in cold]
    cold_tests = {}
    for name in ("polyseek-history", "polyseek-sequential", "polyseek-hybrid", "poster-only"):
        a = np.array([per_method["text-only"][u][1] for u in cold_users])
        b = np.array([per_method[name][u][1] for u in cold_users])
        cold_tests[f"{name} vs text-only"] = {
            "metric": "ndcg@10", "n_users": len(cold_users), "mean_diff": float((b - a).mean()) if len(a) else None,
            "p_randomization": randomization_test(a, b, permutations=permutations, seed=seed) if len(a) else None}
    timing["total_s"] = round(time.perf_counter() - started, 1)
    return {
        "dataset": {"name": folder.name, "path": str(folder), "kind": "recommend"},
        "methods": report_methods,
        "n_users": len(test),
        "n_dev_users": len(dev),
        "n_cold_start_users": len(cold_users),
        "n_items": len(record_ids),
        "n_items_with_poster": int(context.posters.sum()),
        "best": best_name,
        "paired_tests": tests,
        "cold_start_tests": cold_tests,
        "config": {"k": K, "cold_start_below": COLD_START, "items": "films with a poster" if posters_only else "all films", "dev_share": dev_share, "seed": seed, "resamples": resamples,
                   "permutations": permutations, "encoders": encoders, "history": best_history,
                   "sequential": {**config.__dict__, "best_epoch": train_log["best_epoch"]},
                   "hybrid_content_weight": best_blend},
        "tuning": tuning,
        "index": summary.to_dict(),
        "bad_rating_rows": len(problems),
        "timing": timing,
        "per_user": {name: {u: list(v) for u, v in values.items()} for name, values in per_method.items()},
    }


def to_markdown(report: Mapping[str, Any]) -> str:
    """The headline table: HR@10 and NDCG@10 (95% CI) overall and on cold-start targets, test users only."""
    def cell(block: Mapping[str, Any], metric: str) -> str:
        if block.get(metric) is None:
            return "–"
        low, high = block[f"{metric}_ci"]
        return f"{block[metric]:.3f} [{low:.3f}, {high:.3f}]"

    lines = [f"Test users: {report['n_users']} (dev users for tuning: {report['n_dev_users']}); items ranked: "
             f"{report['n_items']} ({report['n_items_with_poster']} with a poster); cold-start targets "
             f"(< {report['config']['cold_start_below']} training interactions): {report['n_cold_start_users']} users.", "",
             "| method | HR@10 | NDCG@10 | cold-start HR@10 | cold-start NDCG@10 | p vs best (NDCG@10) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, block in report["methods"].items():
        test = report["paired_tests"].get(name)
        p = f"{test['p_randomization']:.4f}" if test else ("best (chosen on dev)" if name == report["best"] else "")
        lines.append(f"| {name} | {cell(block, 'hr@10')} | {cell(block, 'ndcg@10')} | {cell(block['cold_start'], 'hr@10')} | "
                     f"{cell(block['cold_start'], 'ndcg@10')} | {p} |")
    lines += ["", "Cold-start, paired over cold-start test users (NDCG@10, B − text-only):", ""]
    for name, test in report["cold_start_tests"].items():
        if test["mean_diff"] is not None:
            lines.append(f"- {name}: {test['mean_diff']:+.3f} (p = {test['p_randomization']:.4f}, n = {test['n_users']})")
    lines += ["", "95% percentile-bootstrap intervals over test users; p: two-sided sign-flip randomisation test, "
              "paired over test users, no multiple-comparison correction. Ties broken at random in expectation."]
    return "\n".join(lines) + "\n"
