"""Universal retrieval: several eval sets in ONE index, each set's queries run on its own items and on the whole pool.

The gap between a task's ``own`` figure (the search restricted by a modality and path filter to the set's own
items) and its ``universal`` figure (no filter: every photo, page, moment and distractor competes) is the modality
bias of the engine on that task. Every query is one ``engine.search`` call (the public facade), so what is measured
is what users get. Tasks:

- ``captions`` (a Flickr8k-layout folder): each caption → its photo; text→photo R@1/5/10, MRR@10, nDCG@10.
- a pages folder (MMLongBench-Doc / FinanceBench layout), named by the folder: each question → its evidence pages
  among all of that set's PDFs; page recall@k, hit@k, nDCG@5, MRR@10 (``corpus`` task of ``polyseek eval pages``).
- ``moments`` (a generated moments benchmark): each shot's caption (and spoken) query → the shot's span;
  R@1 and R@5 at temporal IoU >= 0.5.

In the universal run a hit of any other kind takes a rank like any wrong item. ``modality_top1`` is the share of
universal queries whose top hit has the task's target modality; ``image_queries`` uses the caption set's photos as
image queries on the whole pool and reports the share of the top-5 hits other than the query photo itself that are
photos or video moments.

Queries are split into ``dev`` and ``test`` halves (``--split``) so a calibration can be fitted on one half and
reported on the other: photos (captions, moments, photo queries) by the rule of ``benchmarks/moments/generate.py``
(sha1 of the photo's file name, first byte even = dev), pages by their document (``polyseek eval pages``: tune = dev).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import load_captions
from polyseek.eval.metrics import evaluate
from polyseek.eval.moments import first_correct, moment_ious, moment_queries, read_manifest
from polyseek.eval.pages import load_questions, mean_metrics, page_metrics
from polyseek.eval.pages import split_of as page_split
from polyseek.eval.reuse import import_files, read_source, source_folder
from polyseek.eval.runner import index_timed
from polyseek.types import Filters, Modality, QueryPart
from polyseek.version import __version__

ProgressFn = Callable[[str, int, int], None]
SPLITS = ("all", "dev", "test")
CAPTION_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
MOMENT_METRICS = ("recall@1", "recall@5", "mean_iou")
TARGETS = {
    "captions": (Modality.IMAGE,),
    "pages": (Modality.PAGE, Modality.REGION),
    "moments": (Modality.VIDEO_MOMENT,),
}
PHOTO_LIKE = (Modality.IMAGE, Modality.VIDEO_MOMENT)
HEADLINE = {"captions": ("recall@10", "text→photo R@10"), "pages": ("hit@10", "corpus page hit@10"),
            "moments": ("recall@1", "moment R@1@0.5")}
DEFINITIONS = {
    "own": "the task's queries searched with a filter to the task's own items (target modalities and the set's folder)",
    "universal": "the same queries searched over the whole pool, no filter: any other item takes a rank like a wrong one",
    "modality_top1": "share of the task's universal queries whose top hit has the target modality "
                     "(image for captions; page or region for page sets; video moment for moments)",
    "photo_share_top5": "photos of the caption set as image queries over the whole pool: share of the top-5 hits, "
                        "the query photo itself left out, that are photos (any image item) or video moments",
    "captions recall@k": "1 if the caption's photo is among the top k, averaged over captions",
    "pages recall@k / hit@k": "fraction of evidence pages / 1 if any evidence page among the top k pages (a region hit "
                              "stands for its page), over all pages of all of the set's PDFs",
    "moments recall@k": "1 if a hit among the top k lies in the shot's video with temporal IoU >= 0.5",
    "twins": "a pool with both captions and moments holds each benchmark photo twice (as a photo and as a shot): in the "
             "universal runs a query's twin (a moment query's photo, a caption query's shot) is taken out of its ranking "
             "before scoring; per query, twin_rank says where it stood",
    "split": "photos: sha1(photo file name) first byte even = dev, odd = test (benchmarks/moments/generate.py); "
             "page questions: by document, polyseek eval pages' tune half = dev",
}


def split_of_photo(name: str) -> str:
    """dev or test for a photo, by the moments benchmark's rule (so its photos fall in the same half)."""
    return "dev" if hashlib.sha1(name.encode()).digest()[0] % 2 == 0 else "test"


def _in_split(split: str, value: str) -> bool:
    return split == "all" or value == split


@dataclass(frozen=True)
class UniversalOptions:
    """What goes into the pool and which queries run. Every bound keeps a deterministic prefix."""

    captions: Path | None = None
    pages: tuple[Path, ...] = ()
    moments: Path | None = None
    distractors: tuple[Path, ...] = ()
    split: str = "all"
    limit: int | None = None  # first N photos of the captions set (pool and queries)
    max_pages: int | tuple[int, ...] | None = None  # per page set: whole PDFs, in name order, while the pages fit
    # (one number for every set, or one per page set in --pages order)
    max_queries: int | None = None  # per task: the first N queries of the split
    max_distractors: int | None = None  # per distractor folder: the first N files in path order
    image_queries: int | None = None  # photo queries: the first N photos of the split (default all)
    k: int = 10
    own: bool = True  # also run each task on its own items (False: the universal pool only, e.g. a second config)
    reuse: tuple[Path, ...] = ()  # indexes built before: files they hold unchanged are copied, not indexed again
    reused_only: bool = False  # page sets: only the PDFs some reuse index holds completely (an index still being built)

    def check(self) -> None:
        if self.split not in SPLITS:
            raise InvalidInputError(f"unknown split {self.split!r}", hint="accepted: " + ", ".join(SPLITS))
        if not (self.captions or self.pages or self.moments):
            raise InvalidInputError("nothing to evaluate", hint="give at least one of --captions, --pages, --moments")
        for folder in (self.captions, self.moments, *self.pages, *self.distractors, *self.reuse):
            if folder is not None and not Path(folder).expanduser().is_dir():
                raise InvalidInputError(f"{folder} is not a folder")
        names = [Path(p).expanduser().absolute().name for p in self.pages]
        clash = {n for n in names if names.count(n) > 1 or n in ("captions", "moments")}
        if clash:
            raise InvalidInputError(f"page sets need distinct folder names other than captions/moments, got {sorted(clash)}")
        if isinstance(self.max_pages, tuple) and len(self.max_pages) not in (1, len(self.pages)):
            raise InvalidInputError(f"--max-pages given {len(self.max_pages)} times for {len(self.pages)} page sets",
                                    hint="give it once (every set) or once per --pages, in the same order")
        if not 1 <= self.k <= 1000:
            raise InvalidInputError(f"k must be from 1 to 1000, got {self.k}")


@dataclass
class _Task:
    """One task's queries and how to score a ranking for each of them."""

    name: str
    kind: str  # captions | pages | moments
    folder: Path
    queries: list[dict[str, Any]] = field(default_factory=list)  # {id, text, split, ...}
    index_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def own_filter(self) -> Filters:
        glob = str(self.folder) + "/*"
        return Filters(path_glob=glob, modalities=TARGETS[self.kind])


def _caption_task(folder: Path, options: UniversalOptions) -> tuple[_Task, list[Path]]:
    folder = Path(file_key(folder))  # folded as the index keys files: "../x" and "/w/x" are one
    dataset = load_captions(folder, limit_images=options.limit)
    images = {c.id: c.image.expanduser().absolute() for c in dataset.candidates if c.image is not None}
    t2i = next(t for t in dataset.tasks if t.name == "text_to_image")
    task = _Task("captions", "captions", (folder / "images").absolute())
    task.index_paths = [str(p) for p in images.values()]
    for query in t2i.queries:
        photo = next(iter(t2i.qrels[query.id]))
        task.queries.append({"id": query.id, "text": query.text, "split": split_of_photo(photo), "photo": photo,
                             "path": str(images[photo])})
    photos = [images[name] for name in images if _in_split(options.split, split_of_photo(name))]
    return task, photos


def _page_task(folder: Path, options: UniversalOptions, held: set[str] | None = None, number: int = 0) -> _Task:
    folder = Path(file_key(folder))
    limits = options.max_pages
    max_pages = limits[number if len(limits) > 1 else 0] if isinstance(limits, tuple) else limits
    documents, questions = load_questions(folder, split="all")
    counts = _page_counts(folder, documents)
    if held is not None:
        counts = {name: n for name, n in counts.items() if str((documents / name).absolute()) in held}
        if not counts:
            raise InvalidInputError(f"no PDF of {folder} is held complete by a --reuse-index")
    chosen, total = [], 0
    for name in sorted(counts):
        if max_pages is not None and total + counts[name] > max_pages:
            continue
        chosen.append(name)
        total += counts[name]
    if not chosen:
        raise InvalidInputError(f"--max-pages {max_pages} leaves no whole PDF of {folder}")
    task = _Task(folder.absolute().name, "pages", documents.absolute())
    task.index_paths = [str((documents / name).absolute()) for name in chosen]
    if len(chosen) < len(counts):
        task.notes.append(f"{task.name}: {len(chosen)} of {len(counts)} PDFs ({total} pages) within --max-pages {max_pages}")
    if held is not None:
        task.notes.append(f"{task.name}: {len(chosen)} PDFs ({total} pages) held complete by a --reuse-index (--reused-only)")
    kept = set(chosen)
    for q in questions:
        if q.doc_id in kept:
            split = "dev" if page_split(q.doc_id) == "tune" else "test"
            task.queries.append({"id": q.qid, "text": q.question, "split": split, "doc": str((documents / q.doc_id).absolute()),
                                 "pages": list(q.evidence_pages)})
    return task


def _held_files(sources: Sequence[Path]) -> set[str]:
    """Keys of the files that the indexes at ``sources`` hold completely (status ok, with items)."""
    if not sources:
        raise InvalidInputError("--reused-only needs at least one --reuse-index")
    return {key for source in sources for key, record in read_source(source_folder(source))[1].items()
            if record.status == "ok" and record.items > 0}


def _page_counts(folder: Path, documents: Path) -> dict[str, int]:
    """Pages per PDF from ``page_counts.json`` when the set has it, else counted with pypdfium2."""
    listed = folder / "page_counts.json"
    pdfs = sorted(p.name for p in documents.glob("*.pdf"))
    known: dict[str, int] = {}
    if listed.is_file():
        try:
            known = {str(k): int(v) for k, v in json.loads(listed.read_text(encoding="utf-8")).items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            known = {}
    missing = [name for name in pdfs if name not in known]
    if missing:
        import pypdfium2

        for name in missing:
            try:
                document = pypdfium2.PdfDocument(str(documents / name))
                known[name] = len(document)
                document.close()
            except Exception:  # an unreadable PDF is indexed (and reported failed) but weighs nothing here
                known[name] = 0
    return {name: known[name] for name in pdfs}


def _moment_task(folder: Path) -> _Task:
    root = Path(file_key(folder))
    manifest = read_manifest(root)
    task = _Task("moments", "moments", root)
    task.index_paths = [str(root / v["file"]) for v in manifest["videos"]]
    for query in moment_queries(manifest, root):
        task.queries.append({**query, "split": split_of_photo(query["image"])})
    return task


def _distractor_paths(folder: Path, limit: int | None) -> list[str]:
    root = Path(file_key(folder))
    if limit is None:
        return [str(root)]
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [str(p) for p in files[:limit]]


def _search(engine, text: str | None, image: Path | None, k: int, filters: Filters, config: Any) -> list:
    """One ``engine.search`` call through the facade; ``config`` (a SearchConfig) passes through when given."""
    parts: list[Any] = []
    if text:
        parts.append(QueryPart(text=text))  # literal text, never rclip syntax ("man's" would not parse)
    if image is not None:
        parts.append(image)
    extra = {"config": config} if config is not None else {}
    return engine.search(parts, k=k, filters=filters, **extra)


TWIN_SLACK = 5  # extra hits asked for when twins are taken out, so that k remain


@dataclass(frozen=True)
class Twins:
    """One picture in two kinds: a caption-set photo and the moments-benchmark shot that shows it.

    A moment query's twin is the photo its shot shows (an image item of the captions folder with that file name);
    a caption query's twins are the moments overlapping a shot of its photo (temporal IoU >= 0.5, the moments
    task's own rule for a correct moment). Finding the same picture as the other kind is neither right nor wrong
    for the task (the person sees the picture they described), so it is taken out of the universal ranking
    rather than counted as a miss; ``twin_rank`` in the per-query rows says where it stood.
    """

    photos_folder: str  # the captions set's images folder
    shots: dict[str, list[tuple[str, float, float]]]  # photo file name -> (video path, start, end) of its shots

    def active(self, kind: str) -> bool:
        return kind in ("moments", "captions")

    def of(self, kind: str, query: dict[str, Any], hit: Any) -> bool:
        modality = _modality(hit)
        if kind == "moments":
            path = str(hit.item.path)
            return (modality is Modality.IMAGE and Path(path).name == query.get("image")
                    and path.startswith(self.photos_folder))
        if kind == "captions" and modality is Modality.VIDEO_MOMENT:
            spans = [(start, end) for video, start, end in self.shots.get(query.get("photo", ""), []) if video == hit.item.path]
            return any(max(moment_ious([hit], hit.item.path, span)) >= 0.5 for span in spans)
        return False


def _twins(tasks: Sequence[_Task]) -> Twins | None:
    """The twins of a pool holding both a captions set and a moments benchmark whose shots show its photos."""
    captions = next((t for t in tasks if t.kind == "captions"), None)
    moments = next((t for t in tasks if t.kind == "moments"), None)
    if captions is None or moments is None:
        return None
    shots: dict[str, list[tuple[str, float, float]]] = {}
    for query in moments.queries:
        if query["kind"] == "caption":  # one per shot
            shots.setdefault(query["image"], []).append((query["path"], *query["span"]))
    photos = {Path(p).name for p in captions.index_paths}
    if not photos & set(shots):
        return None
    return Twins(str(captions.folder), shots)


def _modality(hit) -> Modality:
    return Modality(hit.item.modality)


def _score_task(engine, task: _Task, queries: list[dict], k: int, scope: str, config: Any,
                progress: ProgressFn | None, twins: Twins | None = None) -> tuple[dict[str, float], dict[str, Any], float]:
    """Run ``queries`` in ``scope`` (own | universal); returns (metrics, per query, share with target modality at top 1).

    ``twins``: the same picture held as another kind in the pool (a moments benchmark shows the caption set's
    photos as shots); a query's twins are taken out of its ranking before it is scored (see :class:`Twins`)."""
    filters = task.own_filter if scope == "own" else Filters()
    twins = twins if scope == "universal" and twins is not None and twins.active(task.kind) else None
    targets = TARGETS[task.kind]
    per_query: dict[str, Any] = {}
    on_target = 0
    run: dict[str, list[tuple[str, float]]] = {}
    qrels: dict[str, dict[str, int]] = {}
    moment_rows: list[dict[str, float]] = []
    page_rows: list[dict[str, float]] = []
    for done, query in enumerate(queries, 1):
        hits = _search(engine, query["text"], None, k + TWIN_SLACK if twins else k, filters, config)
        twin_rank = None
        if twins:
            twin_rank = next((n for n, hit in enumerate(hits, 1) if twins.of(task.kind, query, hit)), None)
            hits = [hit for hit in hits if not twins.of(task.kind, query, hit)][:k]
        hit_target = bool(hits) and _modality(hits[0]) in targets
        on_target += hit_target
        top = [f"{_modality(h).value}:{Path(h.item.path).name}" for h in hits[:3]]
        if task.kind == "captions":
            # engine order is the ranking: strictly decreasing scores keep it exactly (ties included)
            run[query["id"]] = [(_photo_key(h), float(k - i)) for i, h in enumerate(hits)]
            qrels[query["id"]] = {query["path"]: 1}
            per_query[query["id"]] = {"split": query["split"], "top": top}
        elif task.kind == "pages":
            ranked = _page_keys(hits)
            metrics = page_metrics(ranked, {(query["doc"], p) for p in query["pages"]})
            page_rows.append(metrics)
            per_query[query["id"]] = {"split": query["split"], **{m: round(v, 6) for m, v in metrics.items()}, "top": top}
        else:
            ious = moment_ious(hits, query["path"], tuple(query["span"]))
            rank = first_correct(ious)
            row = {"recall@1": float(rank == 1), "recall@5": float(rank is not None and rank <= 5),
                   "mean_iou": ious[0] if ious else 0.0}
            moment_rows.append(row)
            per_query[query["id"]] = {"split": query["split"], "kind": query["kind"], "rank": rank, "top": top,
                                      **{m: float(v) for m, v in row.items()}}
        per_query[query["id"]]["top1_on_target"] = hit_target
        if twins:
            per_query[query["id"]]["twin_rank"] = twin_rank
        if progress:
            progress(f"{task.name} ({scope})", done, len(queries))
    if task.kind == "captions":
        evaluation = evaluate(run, qrels, depth=k)
        metrics = {m: round(evaluation.metrics[m], 6) for m in CAPTION_METRICS}
        for qid, result in evaluation.per_query.items():
            per_query[qid].update({m: result.metrics[m] for m in CAPTION_METRICS},
                                  first_relevant_rank=result.first_relevant_rank)
    elif task.kind == "pages":
        metrics = mean_metrics(page_rows)
    else:
        metrics = {m: round(sum(r[m] for r in moment_rows) / len(moment_rows), 6) for m in MOMENT_METRICS}
    return metrics, per_query, on_target / len(queries)


def _photo_key(hit) -> str:
    """A caption set's photo is its absolute path; any other item its id (a wrong item of another kind)."""
    return hit.item.path if _modality(hit) is Modality.IMAGE else f"item:{hit.item.id}"


def _page_keys(hits: Sequence[Any]) -> list[Any]:
    """Rank keys: a page or region hit is its (file, page); any other hit is itself. First occurrence kept."""
    keys: list[Any] = []
    for hit in hits:
        page = hit.item.locator.page
        if _modality(hit) in (Modality.PAGE, Modality.REGION) and page is not None:
            key: Any = (hit.item.path, int(page))
        else:
            key = f"item:{hit.item.id}"
        if key not in keys:
            keys.append(key)
    return keys


def _photo_queries(engine, photos: list[Path], k: int, config: Any, progress: ProgressFn | None) -> dict[str, Any]:
    """Each photo as an image query over the whole pool: modalities of the top 5 hits other than itself."""
    shares: list[float] = []
    self_first = 0
    counts: dict[str, int] = {}
    per_query = {}
    for done, photo in enumerate(photos, 1):
        hits = _search(engine, None, photo, k + 1, Filters(), config)
        own = str(photo)
        self_first += bool(hits) and hits[0].item.path == own
        others = [h for h in hits if h.item.path != own][:5]
        kinds = [_modality(h).value for h in others]
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        share = sum(1 for h in others if _modality(h) in PHOTO_LIKE) / len(others) if others else 0.0
        shares.append(share)
        per_query[photo.name] = {"split": split_of_photo(photo.name), "photo_share_top5": share, "top5": kinds}
        if progress:
            progress("photo queries", done, len(photos))
    n = len(photos)
    return {"photo_share_top5": round(sum(shares) / n, 6) if n else None, "n_queries": n,
            "self_first": round(self_first / n, 6) if n else None,
            "top5_modalities": {m: round(c / max(1, sum(counts.values())), 6) for m, c in sorted(counts.items())},
            "per_query": per_query}


def run_universal(options: UniversalOptions, *, engine=None, store: str | None = None, workdir: str | Path | None = None,
                  image_encoder: str | None = None, text_encoder: str | None = None, config: Any = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """Index every set into one store and run each task's queries on its own items and on the whole pool.

    ``engine``: an engine to use as is (tests); else one opens on ``store`` (default: a LanceDB folder under
    ``workdir``, itself a temporary folder unless given: a kept workdir re-indexes nothing). ``config`` is handed to
    ``engine.search(..., config=...)`` (a ``SearchConfig``: compare calibration on and off on one index).
    """
    from polyseek.engine import Engine

    options.check()
    tasks: list[_Task] = []
    photos: list[Path] = []
    if options.captions is not None:
        task, photos = _caption_task(Path(options.captions).expanduser(), options)
        tasks.append(task)
    held = _held_files(options.reuse) if options.reused_only else None
    tasks += [_page_task(Path(folder).expanduser(), options, held, n) for n, folder in enumerate(options.pages)]
    if options.moments is not None:
        tasks.append(_moment_task(Path(options.moments)))
    if options.image_queries is not None:
        photos = photos[: options.image_queries]
    with ExitStack() as stack:
        if engine is None:
            if store is None:
                root = (Path(workdir).expanduser().absolute() if workdir is not None
                        else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polyseek-universal-"))))
                root.mkdir(parents=True, exist_ok=True)
                store = str(root / "store")
            engine = Engine(store, image_encoder=image_encoder, text_encoder=text_encoder)
            stack.callback(engine.close)
        indexing: dict[str, Any] = {}
        imported: dict[str, Any] = {}
        sets = [(task.name, task.index_paths) for task in tasks]
        sets += [(f"distractors:{Path(folder).expanduser().absolute().name}", _distractor_paths(Path(folder), options.max_distractors))
                 for folder in options.distractors]
        for name, paths in sets:
            for source in options.reuse:  # copies first: the index run then finds them unchanged
                imported.setdefault(name, []).append(import_files(engine, source, paths, progress=progress,
                                                                  stage=f"import {name}"))
            indexing[name] = index_timed(engine, paths, f"index {name}", progress)
        groups = {t.name: str(t.folder) for t in tasks}
        groups.update({f"distractors:{Path(f).expanduser().absolute().name}": str(Path(f).expanduser().absolute()) for f in options.distractors})
        pool = _pool_counts(engine, groups)

        report_tasks: dict[str, Any] = {}
        modality_top1: dict[str, float] = {}
        per_query: dict[str, Any] = {}
        by_split: dict[str, Any] = {}
        started = time.perf_counter()
        twins = _twins(tasks)
        for task in tasks:
            queries = [q for q in task.queries if _in_split(options.split, q["split"])]
            if options.max_queries is not None:
                queries = queries[: options.max_queries]
            if not queries:
                raise InvalidInputError(f"{task.name}: no query in split {options.split!r}")
            entry: dict[str, Any] = {}
            rows: dict[str, Any] = {}
            if options.own:
                entry["own"], rows["own"], _ = _score_task(engine, task, queries, options.k, "own", config, progress)
            entry["universal"], rows["universal"], top1 = _score_task(engine, task, queries, options.k, "universal",
                                                                     config, progress, twins)
            report_tasks[task.name] = {**entry, "n_queries": len(queries)}
            modality_top1[task.name] = round(top1, 6)
            per_query[task.name] = rows
            by_split[task.name] = split_metrics(rows)
        image_queries = _photo_queries(engine, photos, options.k, config, progress) if photos else {"photo_share_top5": None, "n_queries": 0}
        per_query["image_queries"] = image_queries.pop("per_query", {})
        search_seconds = time.perf_counter() - started
        names = engine.encoder_names()
        store_uri = getattr(engine, "store_uri", store)
    return {
        "tasks": report_tasks,
        "modality_top1": modality_top1,
        "image_queries": image_queries,
        "by_split": by_split,
        "kinds": {t.name: t.kind for t in tasks},
        "pool": pool,
        "split": options.split,
        "config": {"image_encoder": names.get("image"), "text_encoder": names.get("text"), "k": options.k,
                   "search_config": repr(config) if config is not None else "engine default",
                   "store": str(store_uri), "options": {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, tuple) else v)
                                                         for k, v in options.__dict__.items()},
                   "polyseek_version": __version__, "python": platform.python_version(), "cpu_count": os.cpu_count()},
        "notes": [note for t in tasks for note in t.notes],
        "definitions": DEFINITIONS,
        "timing": {"indexing": indexing, "search_seconds": round(search_seconds, 2)},
        "imported": imported,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "per_query": per_query,
    }


def split_metrics(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per split (dev/test) of one task's per-query rows: each scope's mean metrics and the top-1 modality share.

    >>> split_metrics({"universal": {"a": {"split": "dev", "recall@1": 1.0, "top1_on_target": True, "top": []},
    ...                              "b": {"split": "test", "recall@1": 0.0, "top1_on_target": False, "top": []}}})
    {'dev': {'n_queries': 1, 'universal': {'recall@1': 1.0}, 'modality_top1': 1.0}, 'test': {'n_queries': 1, 'universal': {'recall@1': 0.0}, 'modality_top1': 0.0}}
    """
    out: dict[str, Any] = {}
    for scope, per_query in rows.items():
        for split in sorted({r["split"] for r in per_query.values()}):
            members = [r for r in per_query.values() if r["split"] == split]
            names = [m for m, v in members[0].items() if isinstance(v, float)]
            entry = out.setdefault(split, {"n_queries": len(members)})
            entry[scope] = {m: round(sum(float(r[m]) for r in members) / len(members), 6) for m in names}
            if scope == "universal":
                entry["modality_top1"] = round(sum(bool(r.get("top1_on_target")) for r in members) / len(members), 6)
    return out


def _pool_counts(engine, groups: dict[str, str]) -> dict[str, int]:
    """Items in the pool per set (``groups``: name -> folder prefix), from the catalog; ``items``: the whole store."""
    counts = {name: 0 for name in groups}
    for path, record in engine.catalog.files().items():
        if record.status != "ok":
            continue
        owner = next((name for name, prefix in groups.items() if str(path).startswith(prefix)), "other")
        counts[owner] = counts.get(owner, 0) + int(record.items)
    return {"items": int(engine.store.count()), **counts}


def to_markdown(report: dict[str, Any]) -> str:
    """The universal table: per task its headline metric on its own items and on the whole pool, the gap, top-1 modality."""
    config = report.get("config", {})
    lines = [f"# polyseek eval universal (split {report.get('split', 'all')})", "",
             f"Encoders: image `{config.get('image_encoder')}`, text `{config.get('text_encoder')}`; "
             f"search config: {config.get('search_config')}; k {config.get('k')}.",
             "Pool: " + ", ".join(f"{k} {v}" for k, v in report.get("pool", {}).items()) + ".", "",
             "| task | queries | metric | own pool | universal pool | gap | top-1 modality |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for name, data in report["tasks"].items():
        kind = report.get("kinds", {}).get(name, name)
        metrics = [HEADLINE[kind]] + ([("recall@5", "corpus page R@5")] if kind == "pages" else [])
        for number, (key, label) in enumerate(metrics):
            universal = data["universal"][key]
            own = data["own"][key] if "own" in data else None
            top1 = f"{report['modality_top1'][name]:.3f}" if number == 0 else ""
            own_cells = f"{own:.3f} | {universal:.3f} | {universal - own:+.3f}" if own is not None else f"– | {universal:.3f} | –"
            lines.append(f"| {name if number == 0 else ''} | {data['n_queries'] if number == 0 else ''} | {label} | "
                         f"{own_cells} | {top1} |")
    image = report.get("image_queries", {})
    if image.get("n_queries"):
        mix = ", ".join(f"{k} {v:.2f}" for k, v in image.get("top5_modalities", {}).items())
        lines += ["", f"Photo queries ({image['n_queries']}): photo_share_top5 **{image['photo_share_top5']:.3f}** "
                      f"(top-5 non-self hits by modality: {mix}); the query photo itself first in {image['self_first']:.3f}."]
    lines += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in report.get("definitions", {}).items()]
    for note in report.get("notes", []):
        lines.append(f"Note: {note}")
    indexing = report.get("timing", {}).get("indexing", {})
    if indexing:
        lines += ["", "Indexing: " + "; ".join(f"{k} {v['files']} files / {v['items']} items in {v['seconds']:.1f}s"
                                               for k, v in indexing.items())]
    imported = [(name, entry) for name, entries in report.get("imported", {}).items() for entry in entries if entry["files"]]
    if imported:
        lines += ["", "Copied from earlier indexes: " + "; ".join(
            f"{name} {e['files']} files / {e['items']} items from {e['source']} in {e['seconds']:.1f}s (vectors copied: "
            f"{', '.join(e['copied_spaces']) or 'none'}; re-encoded: {', '.join(e['remade_spaces']) or 'none'})"
            for name, e in imported)]
    return "\n".join(lines) + "\n"
