"""Runs a dataset through the real product path: index into a fresh store with ``Engine``, search with ``Engine``.

Nothing here embeds or ranks on its own: candidates become files (images are indexed where they
lie, text is written to small ``.txt`` files), ``Engine.index`` ingests them, and every query is one
``Engine.search`` call with a modality filter and the engine's default signals, fusion and weights.
Hits are mapped back to dataset ids by path.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import Candidate, Dataset, Task
from polyseek.eval.metrics import DEFINITIONS, Evaluation, evaluate, rank
from polyseek.types import Filters, QueryPart, Signal
from polyseek.version import __version__

MAX_K = 10_000  # the most a Query may ask for
DEFAULT_DEPTH = 100  # results asked per query: covers every @k metric (the deepest is mAP@50)
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Materialised:
    """Files to index and the way back from an indexed path to dataset ids."""

    image_paths: list[Path]
    text_dir: Path | None
    ids_by_path: dict[str, list[str]]


def _text_file_name(candidate_id: str) -> str:
    # Stable across runs (a kept --workdir re-indexes nothing) and safe for any id.
    return hashlib.blake2b(candidate_id.encode(), digest_size=12).hexdigest() + ".txt"


def materialise(candidates: tuple[Candidate, ...], workdir: Path) -> Materialised:
    """Write text candidates as ``.txt`` files under ``workdir/texts``; images stay in place.

    An image file used by two candidates gets a symlink per extra candidate, so each path maps to one id.
    """
    ids_by_path: dict[str, list[str]] = {}
    image_paths: list[Path] = []
    text_dir = workdir / "texts"
    has_text = False
    for candidate in candidates:
        if candidate.image is not None:
            path = Path(file_key(candidate.image))
            if str(path) in ids_by_path:
                alias = workdir / "aliases" / (hashlib.blake2b(candidate.id.encode(), digest_size=12).hexdigest() + path.suffix.lower())
                alias.parent.mkdir(parents=True, exist_ok=True)
                if not alias.is_symlink():
                    alias.symlink_to(path)
                path = Path(file_key(alias))
            image_paths.append(path)
        else:
            if not has_text:
                text_dir.mkdir(parents=True, exist_ok=True)
                has_text = True
            path = Path(file_key(text_dir / _text_file_name(candidate.id)))
            body = (candidate.text or "") + "\n"
            if not path.is_file() or path.read_text(encoding="utf-8") != body:
                path.write_text(body, encoding="utf-8")
        ids_by_path.setdefault(str(path), []).append(candidate.id)
    return Materialised(image_paths, text_dir if has_text else None, ids_by_path)


def index_timed(engine, paths: list, stage: str, progress: ProgressFn | None) -> dict[str, Any]:
    """``engine.index(paths)`` with per-file progress under ``stage``; returns its counts and wall seconds."""
    def on_progress(event) -> None:
        if progress and event.files_done >= 0:
            progress(stage, event.files_done, event.files_total)

    started = time.perf_counter()
    summary = engine.index(paths, on_progress=on_progress)
    seconds = time.perf_counter() - started
    return {"files": summary.added + summary.updated + summary.unchanged, "items": summary.items, "added": summary.added, "unchanged": summary.unchanged,
            "failed": list(summary.failed), "seconds": round(seconds, 3)}


def _search(engine, query, depth: int, filters: Filters, ids_by_path: dict[str, list[str]]) -> tuple[list[tuple[str, float]], int]:
    """One ``Engine.search`` call; returns ``[(dataset id, score)]`` best first and the count of unmapped hits."""
    # Parts, not a query string: a caption is literal text, never rclip syntax ("man's" would not parse).
    parts: list[Any] = []
    if query.text:
        parts.append(QueryPart(text=query.text))
    if query.image is not None:
        parts.append(query.image)  # a Path: the engine reads it like any query image
    scored, unmapped = [], 0
    for hit in engine.search(parts, k=depth, filters=filters):
        ids = ids_by_path.get(file_key(hit.item.path))  # folded both sides: "../x" and "/w/x" are one file
        if ids is None:
            unmapped += 1
            continue
        scored += [(candidate_id, hit.score) for candidate_id in ids]
    return scored, unmapped


def run_task(engine, task: Task, ids_by_path: dict[str, list[str]], depth: int, pool: int,
             exact_ranks: bool = True, progress: ProgressFn | None = None) -> tuple[Evaluation, dict[str, Any]]:
    """Every query of ``task`` through ``Engine.search`` at ``depth``; returns the evaluation and timing.

    With ``exact_ranks``, a query whose relevant items are not in its top ``depth`` is searched again
    over the whole pool (capped at 10,000) only to find its first relevant rank for ``mean_rank``; the
    other metrics and queries/s come from the ``depth`` search alone.
    """
    filters = Filters(modalities=task.target)
    run: dict[str, list[tuple[str, float]]] = {}
    unmapped = 0
    started = time.perf_counter()
    for done, query in enumerate(task.queries, 1):
        run[query.id], missed = _search(engine, query, depth, filters, ids_by_path)
        unmapped += missed
        if progress:
            progress(task.name, done, len(task.queries))
    seconds = time.perf_counter() - started

    deep_ranks: dict[str, int | None] = {}
    deep_depth = min(max(pool, depth), MAX_K)
    deep_started = time.perf_counter()
    if exact_ranks and deep_depth > depth:
        missing = [q for q in task.queries
                   if not any(task.qrels[q.id].get(doc, 0) > 0 for doc, _ in run[q.id])
                   and any(g > 0 for g in task.qrels[q.id].values())]
        for done, query in enumerate(missing, 1):
            scored, _ = _search(engine, query, deep_depth, filters, ids_by_path)
            relevant = {d for d, g in task.qrels[query.id].items() if g > 0}
            deep_ranks[query.id] = next((i + 1 for i, (doc, _) in enumerate(rank(scored)) if doc in relevant), None)
            if progress:
                progress(f"{task.name} (deep ranks)", done, len(missing))
    timing = {"search_seconds": round(seconds, 3),
              "queries_per_second": round(len(task.queries) / seconds, 2) if seconds > 0 else None,
              "depth": depth, "deep_rank_queries": len(deep_ranks), "deep_depth": deep_depth if deep_ranks else None,
              "deep_rank_seconds": round(time.perf_counter() - deep_started, 3), "unmapped_hits": unmapped}
    return evaluate(run, task.qrels, depth=depth, deep_ranks=deep_ranks), timing


def describe_engine(engine) -> dict[str, Any]:
    """What configuration was measured: the encoders actually loaded and the engine's fusion settings."""
    IMAGE_SPACE, TEXT_SPACE = Signal.IMAGE.value, Signal.TEXT.value
    names = engine.encoder_names()
    fingerprints = {space: _fingerprint(engine.encoder(space)) for space in (IMAGE_SPACE, TEXT_SPACE)}
    return {
        "encoder_files": {space: f for space, f in fingerprints.items() if f},
        "image_encoder": names[IMAGE_SPACE],
        "text_encoder": names[TEXT_SPACE],
        "image_encoder_resolved": getattr(engine.encoder(IMAGE_SPACE), "name", names[IMAGE_SPACE]),
        "text_encoder_resolved": getattr(engine.encoder(TEXT_SPACE), "name", names[TEXT_SPACE]),
        "fusion": engine.config.fusion,
        "weights": engine.config.to_dict()["weights"],
        "signals": [s.value for s in Signal],
    }


def _fingerprint(encoder) -> dict[str, str] | None:
    """Which weights were measured: an encoder with a ``model_dir`` gets its folder and a digest of its files."""
    folder = getattr(encoder, "model_dir", None)
    if folder is None or not Path(folder).is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return {"model_dir": str(folder), "sha256": digest.hexdigest()}


def run_dataset(dataset: Dataset, *, image_encoder: str | None = None, text_encoder: str | None = None,
                store: str = "lancedb", workdir: str | Path | None = None, depth: int = DEFAULT_DEPTH,
                exact_ranks: bool = True, progress: ProgressFn | None = None, query_encoder: str | None = None) -> dict[str, Any]:
    """Index ``dataset`` into a new store and evaluate each task; returns the report as a dict.

    ``store``: ``"lancedb"`` (the shipped default backend, in a folder under ``workdir``) or ``"memory"``.
    ``workdir``: kept when given (a second run re-indexes nothing); a temporary folder otherwise.
    ``depth``: results asked per query (``k`` of ``Engine.search``); ``exact_ranks``: find the first
    relevant rank of queries that missed within ``depth`` by searching the whole pool again.
    ``query_encoder``: answer queries with this encoder projected into the index's spaces (``polyseek.upgrade``).
    """
    if store not in {"lancedb", "memory"}:
        raise InvalidInputError(f"unknown eval store {store!r}", hint="accepted: lancedb, memory")
    if not 1 <= depth <= MAX_K:
        raise InvalidInputError(f"depth must be from 1 to {MAX_K}, got {depth}")
    with ExitStack() as stack:
        if workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polyseek-eval-")))
        else:
            root = Path(workdir).expanduser().absolute()
            root.mkdir(parents=True, exist_ok=True)
        files = materialise(dataset.candidates, root)
        store_uri = "memory://" if store == "memory" else str(root / "store")
        engine = Engine(store_uri, image_encoder=image_encoder, text_encoder=text_encoder)
        stack.callback(engine.close)
        if query_encoder:
            from polyseek.upgrade import use_query_encoder

            use_query_encoder(engine, query_encoder)

        indexing: dict[str, Any] = {}
        if files.image_paths:
            indexing["images"] = index_timed(engine, [str(p) for p in files.image_paths], "index images", progress)
        if files.text_dir is not None:
            indexing["texts"] = index_timed(engine, [str(files.text_dir)], "index texts", progress)
        items_by_path = {key: record.items for key, record in engine.catalog.files().items() if record.status == "ok"}
        modality_of = {c.id: c.modality for c in dataset.candidates}

        report: dict[str, Any] = {}
        details: dict[str, Any] = {}
        per_query: dict[str, Any] = {}
        for task in dataset.tasks:
            pool = sum(items_by_path.get(path, 0) for path, ids in files.ids_by_path.items()
                       if modality_of[ids[0]] in task.target)
            evaluation, timing = run_task(engine, task, files.ids_by_path, depth, pool, exact_ranks, progress)
            report[task.name] = {k: round(v, 6) for k, v in evaluation.metrics.items()}
            details[task.name] = {**evaluation.summary(), "n_candidate_items": pool, "targets": [m.value for m in task.target],
                                  "relevance": task.relevance, **timing,
                                  "exact_ranks": evaluation.censored_queries == 0}
            queries = {q.id: q for q in task.queries}
            per_query[task.name] = {
                qid: {"query": queries[qid].describe(), "relevant": sorted(d for d, g in task.qrels[qid].items() if g > 0),
                      **result.to_dict()}
                for qid, result in evaluation.per_query.items()
            }
        configuration = describe_engine(engine)

    configuration.update({
        **({"query_encoder": query_encoder} if query_encoder else {}),
        "store": "lancedb (fresh folder)" if store == "lancedb" else "memory:// (in-process reference store)",
        "search": "Engine.search, default signals/fusion/weights, modality filter per task",
        "polyseek_version": __version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    })
    indexing["seconds"] = round(sum(v["seconds"] for v in indexing.values() if isinstance(v, dict)), 3)
    return {
        **report,
        **dataset.counts,
        "n_queries": _headline_queries(dataset),
        "dataset": {"name": dataset.name, "kind": dataset.kind, "path": dataset.path, "notes": list(dataset.notes)},
        "config": configuration,
        "definitions": DEFINITIONS,
        "details": details,
        "timing": {"indexing": indexing, **{name: {k: d[k] for k in ("search_seconds", "queries_per_second")} for name, d in details.items()}},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "per_query": per_query,
    }


def _headline_queries(dataset: Dataset) -> int:
    """``n_queries``: the caption queries of a captions set (its headline text→image task), else all queries."""
    if dataset.kind == "captions":
        return dataset.counts["n_captions"]
    return sum(len(task.queries) for task in dataset.tasks)
