"""``recommend(engine, ...)``: resolve examples or a history → gather candidates → score → filter → diversify → hits."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.recommend.base import (
    SPACES,
    Example,
    Interaction,
    Pool,
    Profile,
    ProfileItem,
    options_of,
    recommenders,
    unit,
)
from polyseek.recommend.content_cf import ContentCF
from polyseek.recommend.sequential import Sequential
from polyseek.stores.base import Row, matches
from polyseek.types import Filters, Hit

MODEL_DIR = "recommender"  # beside the index: <store folder>/recommender
SEARCH_DEPTH = 100  # candidates per search for content methods, on top of what is excluded
SEARCHED_EXAMPLES = 4  # besides each space's profile centroid, the best-weighted examples search on their own
FULL_SCAN_MAX = 50_000  # up to this many items, every item's vectors and row are held in memory and all are scored


@dataclass(frozen=True)
class ItemCache:
    """Every item of a versioned store (vectors as a :class:`Pool`, rows by id), valid for one store version."""

    key: tuple[Any, ...]
    pool: Pool
    rows: dict[str, Row]
    row_of: dict[str, int]


def item_cache(engine: Any) -> ItemCache | None:
    """The whole index in memory for recommendation, or None (a store without versions, or too many items).

    Built on the first request after each change of the store (one read of everything), then every request is
    numpy over the matrix: no per-request store reads, which were 90 % of a request's time (benchmarks/
    recommend_latency.py). Only stores that expose a table version (LanceDB) can tell when it is stale.
    """
    store = engine.store
    version = getattr(getattr(store, "table", None), "version", None)
    if version is None:
        return None
    key = (id(store), version)
    cached = getattr(engine, "_recommend_items", None)
    if cached is not None and cached.key == key:
        return cached
    count = store.count()
    if not count or count > FULL_SCAN_MAX:
        return None
    dims = _dims(engine)
    ids = list(dict.fromkeys(found for space, dim in dims.items()
                             for found, _score in store.search(space, np.zeros(dim, np.float32), count)))
    rows = {row.id: row for row in store.get(ids)}
    ids = [i for i in ids if i in rows]
    pool = replace(Pool.from_vectors(ids, _vectors(engine, ids), dims), picture=pictures([rows[i] for i in ids]))
    cache = ItemCache(key, pool, rows, {item: n for n, item in enumerate(ids)})
    engine._recommend_items = cache
    return cache


def pictures(rows: Sequence[Row | None]) -> np.ndarray:
    """Which rows hold a picture (image items: photos, catalogue records with an image), not only text."""
    return np.array([row is not None and str(getattr(row.modality, "value", row.modality)) == "image" for row in rows],
                    dtype=bool)


def _dims(engine: Any) -> dict[str, int]:
    meta = engine.catalog.get_meta("index") or {}
    return {s: int(v["dim"]) for s, v in meta.get("spaces", {}).items() if s in SPACES}


def default_model_dir(engine: Any) -> Path | None:
    """Where ``train-recommender`` saves and ``recommend`` looks for the sequential model of this index."""
    local = getattr(engine.store, "path", None)
    return Path(local) / MODEL_DIR if local else None


def _as_examples(values: Iterable[Any]) -> list[Example]:
    out = []
    for value in values:
        if isinstance(value, Example):
            out.append(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            out.append(Example(str(value[0]), float(value[1])))
        elif isinstance(value, Mapping):
            out.append(Example(str(value.get("item", "")), float(value.get("weight", 1.0))))
        else:
            out.append(Example(os.fspath(value) if isinstance(value, os.PathLike) else str(value)))
    return out


def _as_history(values: Iterable[Any]) -> list[Interaction]:
    out = []
    for value in values:
        if isinstance(value, Interaction):
            out.append(value)
        elif isinstance(value, Mapping):
            out.append(Interaction(str(value.get("item", "")), float(value.get("timestamp", 0.0)),
                                   None if value.get("rating") is None else float(value["rating"])))
        elif isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
            rating = value[2] if len(value) == 3 else None
            out.append(Interaction(str(value[0]), float(value[1]) if len(value) > 1 else 0.0,
                                   None if rating is None else float(rating)))
        else:
            raise InvalidInputError(f"a history entry must be (item, timestamp[, rating]) or a dict, got {value!r}")
    return out


def resolve_ids(engine: Any, reference: str, known: set[str] | None = None) -> list[str]:
    """Item ids a reference names: an item id, ``CATALOGUE#RECORD``, or an indexed file (all its items).

    ``known``: ids already looked up in one batch (a history of many items costs one store read, not one each).
    """
    from polyseek.ingest.catalogue import record_item_id
    from polyseek.types import item_id

    if (reference in known) if known is not None else bool(engine.store.get([reference])):
        return [reference]
    path_part, hash_mark, record = reference.rpartition("#")
    if hash_mark and path_part:
        key = str(Path(path_part).expanduser().absolute())
        candidate = record_item_id(key, record)
        if engine.store.get([candidate]):
            return [candidate]
    key = str(Path(reference).expanduser().absolute())
    indexed = engine.catalog.file(key)
    if indexed is not None and indexed.items:
        return [item_id(key, i) for i in range(indexed.items)]
    return []


def _vectors(engine: Any, ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    return {space: engine.store.get_vectors(space, list(ids)) for space in SPACES}


def build_profile(engine: Any, positive: Sequence[Example], negative: Sequence[Example],
                  history: Sequence[Interaction], cache: ItemCache | None = None) -> Profile:
    """Examples and history resolved to stored vectors; an image file not in the index is encoded on the fly.

    ``cache``: the in-memory index (:func:`item_cache`); item ids found there cost no store read.
    """
    entries: list[tuple[str, float, float, float | None]] = []  # (reference, weight, timestamp, rating)
    entries += [(e.item, e.weight, 0.0, None) for e in positive]
    entries += [(e.item, -e.weight, 0.0, None) for e in negative]
    entries += [(h.item, 1.0, float(h.timestamp), h.rating) for h in history]
    resolved: list[tuple[list[str], float, float, float | None, str]] = []
    references = list(dict.fromkeys(e[0] for e in entries))
    known = set(cache.row_of).intersection(references) if cache is not None else set()
    unknown = [r for r in references if r not in known]
    if unknown:
        known.update(row.id for row in engine.store.get(unknown))
    for reference, weight, timestamp, rating in entries:
        resolved.append((resolve_ids(engine, reference, known), weight, timestamp, rating, reference))
    wanted = list(dict.fromkeys(i for ids, *_ in resolved for i in ids))
    stored: dict[str, dict[str, np.ndarray]] = {space: {} for space in SPACES}
    if cache is not None:
        for item in wanted:
            row = cache.row_of.get(item)
            for space in SPACES:
                if row is not None and space in cache.pool.vectors and cache.pool.present[space][row]:
                    stored[space][item] = cache.pool.vectors[space][row]
    missing = [i for i in wanted if cache is None or i not in cache.row_of]
    if missing:
        for space, found in _vectors(engine, missing).items():
            stored[space].update(found)
    items: list[ProfileItem] = []
    for ids, weight, timestamp, rating, reference in resolved:
        if ids:
            for item in ids:
                vectors = {s: stored[s][item] for s in SPACES if item in stored[s]}
                if vectors:
                    items.append(ProfileItem(item, weight / len(ids), vectors, timestamp, rating))
            continue
        if history and not positive and not negative:
            continue  # an item of a history that is no longer indexed is skipped, not an error
        path = Path(reference).expanduser()
        if path.is_file():
            from polyseek.inputs import load_image

            vector = engine.encoder("image").encode_images([load_image(path)])[0]
            items.append(ProfileItem(None, weight, {"image": np.asarray(vector, np.float32)}, timestamp, rating))
            continue
        raise NotFoundError(f"no indexed item or file matches {reference!r}",
                            hint="give an item id, an indexed file, CATALOGUE.jsonl#RECORD_ID or an image file")
    if not items:
        raise InvalidInputError("nothing to recommend from: none of the given items is in the index",
                                hint="give item ids from search results, or index the catalogue first")
    return Profile(tuple(items), from_history=bool(history))


def content_pool(engine: Any, profile: Profile, filters: Filters | None, depth: int) -> Pool:
    """Candidates for content methods: nearest items to each space's profile centroid and to the top examples."""
    candidates: dict[str, None] = {}
    for space in SPACES:
        rows = [(unit(p.vectors[space]), p.weight) for p in profile.positives if space in p.vectors]
        if not rows:
            continue
        weights = np.array([w for _, w in rows])
        matrix = np.stack([v for v, _ in rows])
        queries = [unit(weights @ matrix)]
        queries += [matrix[i] for i in np.argsort(-weights, kind="stable")[:SEARCHED_EXAMPLES]]
        for query in queries:
            for found, _score in engine.store.search(space, query, depth, filters):
                candidates.setdefault(found, None)
    ids = list(candidates)
    meta = engine.catalog.get_meta("index") or {}
    dims = {s: int(v["dim"]) for s, v in meta.get("spaces", {}).items() if s in SPACES}
    return Pool.from_vectors(ids, _vectors(engine, ids), dims)


def model_pool(engine: Any, item_ids: Sequence[str], dims: Mapping[str, int], cache: ItemCache | None = None) -> Pool:
    """Every item the sequential model knows (cached per store version, or per item count without ``cache``)."""
    key = (id(engine), cache.key if cache is not None else engine.store.count(), len(item_ids))
    cached = getattr(engine, "_recommend_pool", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if cache is not None:
        rows = np.array([cache.row_of.get(i, -1) for i in item_ids])
        pool = Pool(tuple(item_ids), {s: np.where((rows >= 0)[:, None], m[rows], 0.0).astype(np.float32)
                                      for s, m in cache.pool.vectors.items()},
                    {s: (rows >= 0) & m[rows] for s, m in cache.pool.present.items()},
                    None if cache.pool.picture is None else (rows >= 0) & cache.pool.picture[rows])
    else:
        pool = Pool.from_vectors(list(item_ids), _vectors(engine, item_ids), dims)
    engine._recommend_pool = (key, pool)
    return pool


def known_and_near(engine: Any, item_ids: Sequence[str], profile: Profile, filters: Filters | None,
                   depth: int) -> Pool:
    """Without the in-memory index: the model's items still indexed (read once per item count, like
    :func:`model_pool`), and the items nearest the profile, new ones included (searched per request)."""
    key = (id(engine), engine.store.count(), len(item_ids))
    cached = getattr(engine, "_recommend_known", None)
    if cached is not None and cached[0] == key:
        known = cached[1]
    else:
        ids = list(dict.fromkeys(item_ids))
        found = {row.id: row for start in range(0, len(ids), 1000) for row in engine.store.get(ids[start:start + 1000])}
        ids = [i for i in ids if i in found]  # items removed from the index since training are not ranked
        known = replace(Pool.from_vectors(ids, _vectors(engine, ids), _dims(engine)),
                        picture=pictures([found[i] for i in ids]))
        engine._recommend_known = (key, known)
    seen = set(known.ids)
    near = [i for i in content_pool(engine, profile, filters, depth).ids if i not in seen]
    if not near:
        return known
    rows = {row.id: row for row in engine.store.get(near)}
    extra = replace(Pool.from_vectors(near, _vectors(engine, near), _dims(engine)),
                    picture=pictures([rows.get(i) for i in near]))
    return Pool(known.ids + extra.ids, {s: np.vstack([m, extra.vectors[s]]) for s, m in known.vectors.items()},
                {s: np.concatenate([m, extra.present[s]]) for s, m in known.present.items()},
                np.concatenate([known.picture, extra.picture]))  # type: ignore[list-item]


def recommend(engine: Any, *, positive: Sequence[Any] = (), negative: Sequence[Any] = (), history: Sequence[Any] = (),
              method: str | None = None, k: int = 10, filters: Filters | None = None, exclude: Sequence[str] = (),
              exclude_seen: bool = True, diversity: float = 0.0, model_dir: str | os.PathLike[str] | None = None,
              options: Mapping[str, Any] | None = None) -> list[Hit]:
    """Items to show next, best first, from examples (``positive``/``negative``) or a ``history``.

    ``method``: ``multimodal`` (default with examples), ``average_vector``, ``best_score`` (Qdrant's strategies),
    ``history`` (default with a history), ``sequential`` (a model trained with ``train-recommender``; the default
    with a history when this index has one), ``content_cf`` (the content → collaborative map saved with that model:
    items nobody interacted with, including items indexed after training, are placed by their content). The examples and history items themselves are never returned;
    ``exclude`` removes more, ``exclude_seen=False`` lets history items come back. ``diversity`` in [0, 1]
    turns on MMR.

    >>> recommend(engine, positive=["3f2a..."], negative=["9bc1..."], k=5)  # doctest: +SKIP
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise InvalidInputError(f"k must be an integer from 1 to 1000, got {k!r}")
    if not 0.0 <= float(diversity) <= 1.0:
        raise InvalidInputError(f"diversity must be between 0 and 1, got {diversity!r}")
    positive, negative, history = _as_examples(positive), _as_examples(negative), _as_history(history)
    if history and (positive or negative):
        raise InvalidInputError("give examples (positive/negative) or a history, not both")
    if not (history or positive):
        raise InvalidInputError("nothing to recommend from", hint="give at least one positive example or a history")
    directory = Path(model_dir) if model_dir else default_model_dir(engine)
    if method is None:
        has_model = directory is not None and (directory / "config.json").is_file()
        method = ("sequential" if has_model else "history") if history else "multimodal"
    if method not in recommenders.names():
        raise InvalidInputError(f"unknown recommender {method!r}", hint="accepted: " + ", ".join(recommenders.names()))
    factory = recommenders.get(method)
    settings = options_of(factory, options or {})
    if method in ("sequential", "content_cf"):
        settings.setdefault("model_dir", directory)
    recommender = factory(**settings)
    cache = item_cache(engine)
    profile = build_profile(engine, positive, negative, history, cache)
    excluded: set[str] = set()
    if exclude:
        references = [str(r) for r in exclude]
        known = set(cache.row_of).intersection(references) if cache is not None else set()
        if len(known) < len(set(references)):
            known.update(row.id for row in engine.store.get([r for r in references if r not in known]))
        for reference in references:
            excluded.update(resolve_ids(engine, reference, known) or [reference])
    if exclude_seen or not history:
        excluded.update(profile.ids)  # the examples themselves never come back; a history's items by default
    if isinstance(recommender, Sequential) and not recommender.scores_new_items:
        pool = model_pool(engine, recommender.item_ids, recommender.dims, cache)
    elif isinstance(recommender, (Sequential, ContentCF)) and cache is None:  # the model's items + the nearest others
        pool = known_and_near(engine, recommender.item_ids, profile, filters, SEARCH_DEPTH + len(excluded) + k)
    elif cache is not None:
        pool = cache.pool  # every item scored: cheaper than searching for candidates, and the same as evaluated
    else:
        pool = content_pool(engine, profile, filters, SEARCH_DEPTH + len(excluded) + k)
    if not len(pool):
        return []
    scores = np.asarray(recommender.score(profile, pool), dtype=np.float64)
    allowed = np.isfinite(scores)
    if excluded and cache is not None and pool is cache.pool:
        allowed[[cache.row_of[i] for i in excluded if i in cache.row_of]] = False
    elif excluded:
        allowed &= np.array([i not in excluded for i in pool.ids], dtype=bool)
    return _hits(engine, pool, scores, allowed, k, filters, float(diversity), method, cache)


def _hits(engine: Any, pool: Pool, scores: np.ndarray, allowed: np.ndarray, k: int, filters: Filters | None,
          diversity: float, method: str, cache: ItemCache | None = None) -> list[Hit]:
    """Walk down the ranking, keeping rows that pass the filters, until ``k`` (times 4 for MMR) are found."""
    wanted = k * 4 if diversity > 0 else k
    masked = np.where(allowed, scores, -np.inf)
    shortlist = max(8 * wanted, 256)  # enough when filters reject few; otherwise the whole ranking
    if filters is None and shortlist < len(masked):
        top = np.argpartition(-masked, shortlist)[:shortlist]
        ranked = top[np.lexsort((top, -masked[top]))]
    else:
        ranked = np.argsort(-masked, kind="stable")
    order = [int(i) for i in ranked[: int(allowed.sum())] if allowed[i]]
    kept: list[int] = []
    rows: dict[str, Any] = {}
    start, size = 0, max(2 * wanted, 32)
    while start < len(order):
        batch = order[start:start + size]
        start, size = start + size, min(size * 4, 4096)
        if cache is not None:
            fetched = {pool.ids[i]: cache.rows[pool.ids[i]] for i in batch if pool.ids[i] in cache.rows}
        else:
            fetched = {row.id: row for row in engine.store.get([pool.ids[i] for i in batch])}
        for i in batch:
            row = fetched.get(pool.ids[i])
            if row is not None and matches(row, filters):
                kept.append(i)
                rows[pool.ids[i]] = row
        if len(kept) >= wanted:
            break
    kept = kept[:wanted]
    if diversity > 0 and kept:
        from polyseek.recommend.diversity import mmr

        joint = np.hstack([pool.vectors[s][kept] for s in SPACES if s in pool.vectors])
        norms = np.linalg.norm(joint, axis=1, keepdims=True)
        picks = mmr(scores[kept], joint / np.where(norms > 0, norms, 1.0), k, diversity)
        kept = [kept[p] for p in picks]
    return [Hit(item=rows[pool.ids[i]].to_item(), score=float(scores[i]), scores={method: float(scores[i])})
            for i in kept[:k]]
