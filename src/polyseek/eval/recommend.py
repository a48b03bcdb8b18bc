"""``polyseek eval recommend``: next-item recommendation on a MovieLens-style folder, leave-last-out.

Protocol. Each user's interactions are ordered by timestamp (ties keep file order). The last one is the test
target (history: everything before it); the second-to-last is the dev target (history: everything before *it*),
on which every hyperparameter, blend weight, training epoch and the choice of polyseek's best method are made.
Every user with two or more interactions is a test user, so n is as large as the data allows; no test target is
ever seen while tuning or training. Every method ranks all catalogue items the user has not rated before the
target; HR@10 and NDCG@10 are expectations under random tie-breaking. Item popularity, co-occurrence counts and
the sequential model use only interactions before the targets (the file's ``n_ratings`` is not used).
Cold-start targets: items with fewer than 5 interactions before the targets. Intervals: percentile bootstrap
over test users; paired tests: two-sided sign-flip randomisation over test users.
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

from polyseek.catalog import file_key
from polyseek.errors import InvalidInputError
from polyseek.recommend.base import SPACES, Pool, Profile, ProfileItem, zscore
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
            record["image"] = file_key(folder / poster)
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


def leave_last_out(events: Sequence[Event], known: set[str], back: int = 1) -> tuple[dict[str, list[Event]], dict[str, Event]]:
    """Histories and held-out events by user (events on unknown items dropped).

    ``back=1``: the last event is the target (test); ``back=2``: the second-to-last is, and the last is dropped
    (dev). A user needs ``back`` + 1 events.
    """
    train, target = {}, {}
    for user, user_events in sequences_by_user([e for e in events if e.item in known]).items():
        if len(user_events) < back + 1:
            continue
        train[user], target[user] = user_events[:-back], user_events[-back]
    return train, target


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


def recency_knn(context: Context, half_life: float) -> Callable[[str], np.ndarray]:
    """Item-kNN with the history's items weighted by recency (halving every ``half_life`` events back)."""
    norms = np.sqrt(np.maximum(context.counts, 1.0))

    def score(user: str) -> np.ndarray:
        weights = np.zeros(len(context.record_ids), dtype=np.float32)
        for back, event in enumerate(reversed(context.train[user])):
            weights[context.row[event.item]] += 0.5 ** (back / half_life)
        return (context.matrix.T @ (context.matrix @ (weights / norms))) / norms

    return score


def memo(context: Context, name: str, method: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
    """A component's standardised scores, computed once per user however many blends use it."""
    def score(user: str) -> np.ndarray:
        cache = context.cache_for(user)
        key = ("component", name)
        if key not in cache:
            cache[key] = zscore(np.asarray(method(user), dtype=np.float32)).astype(np.float64)
        return cache[key]

    return score


def blend(parts: Mapping[str, Callable[[str], np.ndarray]], weights: Mapping[str, float]) -> Callable[[str], np.ndarray]:
    """Weighted sum of memoised, standardised components (weight 0 components are not computed)."""
    used = {name: float(w) for name, w in weights.items() if w and name in parts}

    def score(user: str) -> np.ndarray:
        return sum(w * parts[name](user) for name, w in used.items())  # type: ignore[return-value]

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


def content_cf_part(context: Context) -> Callable[[str], np.ndarray]:
    """The shipped content → cf model (``recommend/content_cf.py``, its tuned setting) fitted on ``context``'s log."""
    from polyseek.recommend.content_cf import TUNED_CF, CollaborativeModel

    pool = replace(context.pool, picture=context.posters)  # with --all-items a film without a poster is text only
    model = CollaborativeModel.fit(pool, context.matrix, **TUNED_CF)
    table = model.item_vectors(pool)

    def score(user: str) -> np.ndarray:
        return np.asarray(model.score(context.profile(user), pool, table), dtype=np.float64)

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
    {"half_life": h, "best_share": b, "image_weight": w, "negative_weight": 0.0}
    for h in (3.0, 10.0, 1e9) for b in (0.0, 0.3) for w in (0.0, 0.25, 0.5, 1.0)
]
# cold-start content: the history profile minus a popularity prior (rare items up), image weight learned on dev
COLD_GRID: list[dict[str, Any]] = [
    {"half_life": h, "best_share": b, "image_weight": w, "popularity": p}
    for h in (1.0, 3.0) for b in (0.3, 0.6) for w in (0.0, 0.25, 0.5, 1.0) for p in (0.5, 1.0, 2.0)
]
HYBRID_GRID: list[dict[str, float]] = [
    {"sequential": 1.0, "item-knn": k, "content": c, "popularity": p, "content-cf": f}
    for f in (0.0, 0.25, 0.5) for k in (0.0, 0.25, 0.5, 1.0) for c in (0.0, 0.1, 0.2, 0.4) for p in (0.0, 0.1, 0.25)
]
KNN_HALF_LIVES = (3.0, 10.0, 30.0)


def _choose(tuned: Mapping[str, Mapping[str, tuple[float, float, int]]], grid: Sequence[Mapping[str, Any]],
            users: Sequence[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Index of the grid setting with the best mean dev NDCG@10 (first on ties), and the tuning record."""
    record, best, best_value = [], 0, -1.0
    for n, params in enumerate(grid):
        values = tuned[str(n)] if users is None else {u: tuned[str(n)][u] for u in users}
        value = mean_ndcg(values)
        record.append({**params, "dev_ndcg@10": value})
        if value > best_value:
            best, best_value = n, value
    return best, record


def _model_key(workdir: Path, config: Any, features: np.ndarray, sequences: Sequence[Sequence[int]],
               dev: Sequence[str], time_budget_s: float | None) -> Path:
    """Where a sequential model trained on exactly these inputs is kept (re-runs reuse it, retrain nothing)."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(json.dumps([config.__dict__, list(dev), time_budget_s], sort_keys=True).encode())
    digest.update(np.ascontiguousarray(features).tobytes())
    digest.update(json.dumps([list(map(int, s)) for s in sequences]).encode())
    return workdir / "models" / digest.hexdigest()


def run_recommend_eval(folder: Path, workdir: Path, *, seed: int = 0, resamples: int = 1000,
                       permutations: int = 10_000, epochs: int = 30, models: int = 1, limit_users: int | None = None,
                       posters_only: bool = True, time_budget_s: float | None = None, negatives: int = 0,
                       dim: int = 64, image_encoder: str | None = None, text_encoder: str | None = None,
                       cold_share: float = 0.2, progress: Progress | None = None) -> dict[str, Any]:
    """The whole evaluation; returns the report (see :func:`to_markdown` for its table).

    ``models``: sequential models trained with seeds ``seed .. seed+models-1`` and averaged (standardised scores).
    ``cold_share``: the share of items held out entirely for the cold-item protocol (``recommend_cold``; 0: off).
    """
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

    def lap(name: str) -> None:
        timing[name] = round(time.perf_counter() - started - sum(timing.values()), 1)

    catalogue = workdir / ("catalogue-posters.jsonl" if posters_only else "catalogue-all.jsonl")
    posters = write_catalogue(folder, catalogue, posters_only=posters_only)
    record_ids = list(posters)
    engine = Engine(str(workdir / "store"), image_encoder=image_encoder, text_encoder=text_encoder)
    try:
        for _run in range(100):  # a long catalogue is indexed in time-budgeted runs, each going on from the last
            summary = engine.index([catalogue], on_progress=(lambda p: progress("index", max(p.files_done, 0), 1)) if progress else None)
            if not any("index it again" in failure.get("reason", "") for failure in summary.failed):
                break
        key = file_key(catalogue)
        ids = [record_item_id(key, rid) for rid in record_ids]
        meta = engine.catalog.get_meta("index")
        dims = {s: int(v["dim"]) for s, v in meta["spaces"].items() if s in SPACES}
        pool = Pool.from_vectors(ids, {s: engine.store.get_vectors(s, ids) for s in SPACES}, dims)
        encoders = engine.encoder_names()
    finally:
        engine.close()
    lap("index_s")
    missing = [rid for rid, i in zip(record_ids, range(len(ids))) if not any(pool.present[s][i] for s in SPACES)]
    events, problems = read_interactions(folder / "ratings.csv", user="userId", item="movieId", rating="rating")
    usable = set(record_ids) - set(missing)
    test_train, test_target = leave_last_out(events, usable, back=1)
    dev_train, dev_target = leave_last_out(events, usable, back=2)
    test = sorted(test_train, key=_natural)
    dev = sorted(dev_train, key=_natural)
    if limit_users:
        dev, test = dev[:limit_users], test[:limit_users]
    poster_mask = np.array([posters[r] for r in record_ids])
    on_dev = Context(pool, record_ids, poster_mask, dev_train)
    on_test = Context(pool, record_ids, poster_mask, test_train)
    cold = {u for u in test if on_test.counts[on_test.row[test_target[u].item]] < COLD_START}
    cold_dev = [u for u in dev if on_dev.counts[on_dev.row[dev_target[u].item]] < COLD_START]
    tuning: dict[str, Any] = {}

    # 1. the content profile (polyseek's history method and the text/poster baselines), on dev targets
    tuned = evaluate_many({str(n): content(on_dev, History(**p)) for n, p in enumerate(HISTORY_GRID)}, on_dev, dev,
                          dev_target, progress, "tune content")
    chosen, tuning["history"] = _choose(tuned, HISTORY_GRID)
    best_history = HISTORY_GRID[chosen]
    lap("tune_content_s")

    # 2. cold-start content: profile minus a popularity prior, chosen on the dev users whose dev target is cold
    def cold_method(context: Context, params: Mapping[str, Any], image: bool = True) -> Callable[[str], np.ndarray]:
        history = History(half_life=params["half_life"], best_share=params["best_share"], negative_weight=0.0,
                          image_weight=params["image_weight"] if image else 0.0, text_weight=1.0)
        prior = zscore(np.log1p(context.counts).astype(np.float32)).astype(np.float64)
        method = content(context, history)
        return lambda user: method(user) - params["popularity"] * prior

    tuned = evaluate_many({str(n): cold_method(on_dev, p) for n, p in enumerate(COLD_GRID)}, on_dev, cold_dev,
                          dev_target, progress, "tune cold-start content")
    chosen, tuning["cold_start"] = _choose(tuned, COLD_GRID)
    best_cold = COLD_GRID[chosen]
    tuning["cold_start_dev_users"] = len(cold_dev)
    lap("tune_cold_s")

    # 3. sequential models: trained on the dev histories (no dev or test target in them), epoch chosen on dev
    number = {rid: i + 1 for i, rid in enumerate(record_ids)}
    sequences = [[number[e.item] for e in dev_train[u]] for u in sorted(dev_train, key=_natural)]
    features = features_of(pool, dims)
    configs = [sasrec.TrainConfig(dim=dim, layers=1, heads=2, max_len=50, negatives=negatives, epochs=epochs,
                                  seed=seed + m) for m in range(models)]

    def sequential_of(context: Context, trained: Sequence[tuple[Any, Any]]) -> Callable[[str], np.ndarray]:
        parts = [content(context, Sequential(model=model, config=config, item_ids=list(pool.ids), dims=dims,
                                             content_weight=0.0)) for model, config in trained]
        if len(parts) == 1:
            return parts[0]
        def averaged(user: str) -> np.ndarray:
            return np.mean([zscore(np.asarray(part(user), np.float32)) for part in parts], axis=0)

        return averaged

    trained: list[tuple[Any, Any]] = []
    tuning["sequential"] = []
    for config in configs:
        def on_epoch(epoch: int, model: Any, config: Any = config) -> float | None:
            if epoch % 2 and epoch != config.epochs:
                return None
            return mean_ndcg(evaluate(sequential_of(on_dev, [(model, config)]), on_dev, dev, dev_target))

        cached = _model_key(workdir, config, features, sequences, dev, time_budget_s)
        if (cached / sasrec.CONFIG_FILE).is_file():  # the same data, config and dev users: trained by an earlier run
            model, _config, _ids, info = sasrec.load(cached)
            train_log = {**info["log"], "reused": str(cached)}
        else:
            model, train_log = sasrec.train(features, sequences, config, on_epoch=on_epoch, progress=progress,
                                            time_budget_s=time_budget_s)
            sasrec.save(model, cached, list(pool.ids), config, {"feature_dim": int(features.shape[1]), "dims": dims,
                                                                "log": train_log})
        trained.append((model, config))
        tuning["sequential"].append({"seed": config.seed, **train_log})
    lap("train_sequential_s")

    # 4. the hybrid: standardised sequential + recency item-kNN + content + log-popularity + content → cf (the
    # model train-recommender saves: training items by their learned vector, the others from content), on dev
    collaborative = {id(c): content_cf_part(c) for c in (on_dev, on_test)}

    def parts_of(context: Context, knn_half_life: float) -> dict[str, Callable[[str], np.ndarray]]:
        prior = np.log1p(context.counts).astype(np.float64)
        return {"sequential": memo(context, "sequential", sequential_of(context, trained)),
                "item-knn": memo(context, f"knn{knn_half_life}", recency_knn(context, knn_half_life)),
                "content": memo(context, "content", content(context, History(**best_history))),
                "popularity": memo(context, "popularity", lambda user: prior),
                "content-cf": memo(context, "content-cf", collaborative[id(context)])}

    grid = [{**w, "knn_half_life": h} for h in KNN_HALF_LIVES for w in HYBRID_GRID]
    dev_parts = {h: parts_of(on_dev, h) for h in KNN_HALF_LIVES}
    tuned = evaluate_many({str(n): blend(dev_parts[g["knn_half_life"]], g) for n, g in enumerate(grid)}, on_dev, dev,
                          dev_target, progress, "tune hybrid")
    chosen, tuning["hybrid"] = _choose(tuned, grid)
    best_blend = grid[chosen]
    lap("tune_hybrid_s")

    history_text = {**best_history, "image_weight": 0.0, "text_weight": 1.0}
    history_image = {**best_history, "image_weight": 1.0, "text_weight": 0.0}
    average, best = AverageVector(), BestScore()

    def methods_of(context: Context) -> dict[str, Callable[[str], np.ndarray]]:
        parts = parts_of(context, best_blend["knn_half_life"])
        return {
            "popularity": popularity(context),
            "item-knn": item_knn(context),
            "text-only": content(context, History(**history_text)),
            "poster-only": content(context, History(**history_image), posters_only=True),
            "average-vector": lambda u: np.asarray(average.score(qdrant_profile(context.profile(u)), pool), np.float64),
            "best-score": lambda u: np.asarray(best.score(qdrant_profile(context.profile(u)), pool), np.float64),
            "polyseek-history": parts["content"],
            "polyseek-cold-start": cold_method(context, best_cold),
            "polyseek-sequential": parts["sequential"],
            "polyseek-hybrid": blend(parts, best_blend),
        }

    methods = methods_of(on_test)
    per_method = evaluate_many(methods, on_test, test, test_target, progress, "evaluate test users")
    per_method["text-only (cold-start profile)"] = evaluate_many(
        {"x": cold_method(on_test, best_cold, image=False)}, on_test, [u for u in test if u in cold], test_target)["x"]
    ours = [m for m in methods if m.startswith("polyseek-") and m != "polyseek-cold-start"]
    dev_methods = methods_of(on_dev)
    dev_scores = evaluate_many({m: dev_methods[m] for m in ours}, on_dev, dev, dev_target, progress, "evaluate dev users")
    report_methods: dict[str, Any] = {}
    for name in methods:
        report_methods[name] = summarise(per_method[name], cold, resamples)
        if name in dev_scores:  # what chooses polyseek's best (baselines are not chosen, so not run on dev)
            report_methods[name]["dev_ndcg@10"] = mean_ndcg(dev_scores[name])
    lap("evaluate_s")

    best_name = max(ours, key=lambda m: report_methods[m]["dev_ndcg@10"])  # chosen on dev, not on test
    tests = {}
    for baseline in BASELINES:
        a = np.array([per_method[baseline][u][1] for u in test])
        b = np.array([per_method[best_name][u][1] for u in test])
        tests[baseline] = {"metric": "ndcg@10", "mean_diff": float((b - a).mean()),
                           "p_randomization": randomization_test(a, b, permutations=permutations, seed=seed)}
    cold_users = [u for u in test if u in cold]
    cold_tests = {}
    pairs = [(name, "text-only") for name in ("polyseek-cold-start", "polyseek-history", "polyseek-sequential",
                                              "polyseek-hybrid", "poster-only")]
    pairs.append(("polyseek-cold-start", "text-only (cold-start profile)"))
    for name, other in pairs:
        a = np.array([per_method[other][u][1] for u in cold_users])
        b = np.array([per_method[name][u][1] for u in cold_users])
        cold_tests[f"{name} vs {other}"] = {
            "metric": "ndcg@10", "n_users": len(cold_users), "mean_diff": float((b - a).mean()) if len(a) else None,
            "hr_diff": float(np.mean([per_method[name][u][0] - per_method[other][u][0] for u in cold_users])) if len(a) else None,
            "p_randomization": randomization_test(a, b, permutations=permutations, seed=seed) if len(a) else None}
    cold_items = None
    if cold_share > 0:  # items held out of training entirely: content → collaborative maps, text vs poster vs both
        from polyseek.eval.recommend_cold import release_day_pool, run_cold_items

        release = release_day_pool(catalogue, record_ids, pool, text_encoder=encoders["text"],
                                   poster_logits=encoders["image"] == "aligner", cache=workdir)
        kept = set(test) if limit_users else None  # a quick run's user limit applies here too
        cold_events = [e for e in events if e.item in usable and (kept is None or e.user in kept)]
        cold_items = run_cold_items(pool, record_ids, cold_events, share=cold_share,
                                    seed=seed, resamples=resamples, permutations=permutations, release=release,
                                    progress=progress)
        lap("cold_items_s")
    timing["total_s"] = round(time.perf_counter() - started, 1)
    return {
        "dataset": {"name": folder.name, "path": str(folder), "kind": "recommend"},
        "methods": report_methods,
        "n_users": len(test),
        "n_dev_users": len(dev),
        "n_cold_start_users": len(cold_users),
        "n_items": len(record_ids),
        "n_items_with_poster": int(on_test.posters.sum()),
        "best": best_name,
        "paired_tests": tests,
        "cold_start_tests": cold_tests,
        "cold_items": cold_items,
        "config": {"k": K, "cold_start_below": COLD_START, "items": "films with a poster" if posters_only else "all films",
                   "protocol": "test: last interaction; dev: second-to-last (history before it)", "seed": seed,
                   "resamples": resamples, "permutations": permutations, "encoders": encoders,
                   "history": best_history, "cold_start": best_cold,
                   "sequential": [{**c.__dict__, "best_epoch": log["best_epoch"]} for c, log in zip(configs, tuning["sequential"])],
                   "hybrid": best_blend},
        "tuning": tuning,
        "index": summary.to_dict(),
        "bad_rating_rows": len(problems),
        "timing": timing,
        "per_user": {name: {u: list(v) for u, v in values.items()} for name, values in per_method.items()},
    }


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values (here: the best method against every baseline)."""
    order = sorted(pvalues, key=lambda name: pvalues[name])
    out, running = {}, 0.0
    for rank, name in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[name]))
        out[name] = running
    return out


def to_markdown(report: Mapping[str, Any]) -> str:
    """The headline table: HR@10 and NDCG@10 (95% CI) overall and on cold-start targets, test users only."""
    from polyseek.eval.recommend_cold import ci_cell as cell

    lines = [f"Test targets: the last interaction of {report['n_users']} users (tuning on the second-to-last of "
             f"{report['n_dev_users']}); items ranked: "
             f"{report['n_items']} ({report['n_items_with_poster']} with a poster); cold-start targets "
             f"(< {report['config']['cold_start_below']} training interactions): {report['n_cold_start_users']} users.", "",
             "| method | HR@10 | NDCG@10 | cold-start HR@10 | cold-start NDCG@10 | p vs best (NDCG@10) | Holm-adjusted p |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    adjusted = holm({name: t["p_randomization"] for name, t in report["paired_tests"].items()})
    for name, block in report["methods"].items():
        test = report["paired_tests"].get(name)
        p = f"{test['p_randomization']:.4f}" if test else ("best (chosen on dev)" if name == report["best"] else "")
        lines.append(f"| {name} | {cell(block, 'hr@10')} | {cell(block, 'ndcg@10')} | {cell(block['cold_start'], 'hr@10')} | "
                     f"{cell(block['cold_start'], 'ndcg@10')} | {p} | {f'{adjusted[name]:.4f}' if name in adjusted else ''} |")
    lines += ["", "Cold-start, paired over cold-start test users (NDCG@10, B − text-only):", ""]
    for name, test in report["cold_start_tests"].items():
        if test["mean_diff"] is not None:
            lines.append(f"- {name}: {test['mean_diff']:+.3f} (p = {test['p_randomization']:.4f}, n = {test['n_users']})")
    lines += ["", "95% percentile-bootstrap intervals over test users; p: two-sided sign-flip randomisation test, "
              "paired over test users, no multiple-comparison correction. Ties broken at random in expectation. "
              "polyseek-cold-start is tuned on dev users whose dev target is cold and is not a candidate for best."]
    if report.get("cold_items"):
        from polyseek.eval.recommend_cold import to_markdown as cold_markdown

        lines += ["", cold_markdown(report["cold_items"]).rstrip("\n")]
    return "\n".join(lines) + "\n"
