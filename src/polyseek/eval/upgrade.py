"""``polyseek eval upgrade``: one space upgraded OLD → NEW, measured at each step through ``Engine.search``.

The text space: text retrieval on a captions folder: every caption is indexed as a text item, and each caption of
the first ``--limit`` photos is a query whose relevant items are the other captions of its photo. The image space
(``space="image"``, e.g. ``--old aligner --new aligner:/models/lite2``): the first ``--limit`` photos are indexed, and
the first caption of each is a query whose relevant item is its photo. Only the upgraded space is searched
(``spaces=[space]``), so the figures are that space's alone. Rows:

* ``old``: the index as built with OLD;
* ``projected_0``: right after ``upgrade`` (no item backfilled: queries are NEW projected into OLD);
* ``projected_50``: half the files backfilled (native scores for those, projected for the rest);
* ``projected_100``: every item backfilled, before the switch (native scores through the upgrade's path);
* ``switched``: after the atomic switch (the index now holds NEW vectors only);
* ``new_scratch``: a fresh index built with NEW.

Queries may be in another language (``--lang``; relevant items stay the English captions): the multilingual case.

A pages folder (``documents/*.pdf`` and ``queries.jsonl``, the MMLongBench-Doc / FinanceBench layout) is measured the
same way by :func:`run_upgrade_pages_eval`: its PDFs are indexed with OLD in the upgraded space (the other space keeps
its default encoder), and each row is ``polyseek eval pages`` on the index as it stands (corpus and within-document
page metrics, every signal and the reranker as shipped).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.eval.datasets import EvalQuery, load_captions
from polyseek.eval.metrics import evaluate
from polyseek.eval.runner import materialise
from polyseek.types import Modality

ProgressFn = Callable[[str, int, int], None]
BATCH_FILES = 16  # files per backfill batch (backfill's default), beside searches and alone alike
BACKFILL_THREADS = 1  # the backfill encoder's intra-op threads (backfill's default): searches keep the other core


def caption_task(folder: str | Path, limit: int, lang: str = "en") -> tuple[list, list[EvalQuery], dict[str, dict[str, int]]]:
    """Candidates (all captions of the first ``limit`` photos), queries and qrels (a caption's siblings)."""
    dataset = load_captions(folder, limit_images=limit)
    captions = [c for c in dataset.candidates if c.modality == Modality.TEXT]
    by_photo: dict[str, list[str]] = {}
    for caption in captions:
        by_photo.setdefault(caption.id.split("#")[0], []).append(caption.id)
    queries, qrels = [], {}
    if lang == "en":
        for caption in captions:
            photo = caption.id.split("#")[0]
            queries.append(EvalQuery(id=caption.id, text=caption.text))
            qrels[caption.id] = {other: 1 for other in by_photo[photo] if other != caption.id}
    else:
        from polyseek.eval.multilingual import load_captions_lang

        task = load_captions_lang(folder, [lang], limit_images=limit).tasks[0]
        for query in task.queries:
            photo = query.id.split("#")[0]
            if photo in by_photo:
                queries.append(query)
                qrels[query.id] = {other: 1 for other in by_photo[photo]}
    return captions, queries, qrels


def photo_task(folder: str | Path, limit: int, lang: str = "en") -> tuple[list, list[EvalQuery], dict[str, dict[str, int]]]:
    """Candidates (the first ``limit`` photos), queries (the first caption of each photo in ``lang``) and qrels (its photo)."""
    dataset = load_captions(folder, limit_images=limit)
    photos = [c for c in dataset.candidates if c.modality == Modality.IMAGE]
    names = {c.id for c in photos}
    if lang == "en":
        captions = [EvalQuery(id=c.id, text=c.text) for c in dataset.candidates if c.modality == Modality.TEXT]
    else:
        from polyseek.eval.multilingual import load_captions_lang

        captions = list(load_captions_lang(folder, [lang], limit_images=limit).tasks[0].queries)
    queries, qrels, seen = [], {}, set()
    for query in captions:
        photo = query.id.split("#")[0]
        if photo in names and photo not in seen:
            seen.add(photo)
            queries.append(query)
            qrels[query.id] = {photo: 1}
    return photos, queries, qrels


def measure(engine, space: str, queries: list[EvalQuery], qrels: dict, ids_by_path: dict[str, list[str]], depth: int = 50,
            progress: ProgressFn | None = None, stage: str = "") -> dict[str, Any]:
    run: dict[str, list[tuple[str, float]]] = {}
    started = time.perf_counter()
    latencies = []
    for done, query in enumerate(queries, 1):
        t = time.perf_counter()
        hits = engine.search(query.text, k=depth, spaces=[space])
        latencies.append(time.perf_counter() - t)
        scored = []
        for hit in hits:
            scored += [(i, hit.score) for i in ids_by_path.get(hit.item.path, []) if i != query.id]
        run[query.id] = scored
        if progress:
            progress(stage, done, len(queries))
    evaluation = evaluate(run, qrels, depth=depth)
    metrics = {k: round(v, 4) for k, v in evaluation.metrics.items() if k in ("recall@1", "recall@5", "recall@10", "ndcg@10", "mrr@10")}
    metrics.update(search_p50_ms=round(1000 * float(np.percentile(latencies, 50)), 1),
                   search_p95_ms=round(1000 * float(np.percentile(latencies, 95)), 1),
                   seconds=round(time.perf_counter() - started, 1))
    return metrics


CHILD = """
import json, sys
from polyseek.engine import Engine
from polyseek.upgrade import backfill
a = json.loads(sys.argv[1])
engine = Engine(a["store"], image_encoder=a["image"], text_encoder=a["text"])
try:
    with engine.indexer.writing():
        result = backfill(engine, batch_files=a["batch_files"], max_files=a["max_files"], throttle=a["throttle"],
                          finalize_when_done=False, threads=a["threads"])
finally:
    engine.close()
print(json.dumps(result))
"""


def _backfill_process(engine, encoders: dict[str, str | None], nice: int = 0, **options: Any) -> dict[str, Any]:
    """:func:`polyseek.upgrade.backfill` in a process of its own on the same store (as ``polyseek upgrade --resume``
    beside a server): no interpreter lock or runtime pools shared with the searches. ``nice``: its scheduling
    priority below the searches' (as ``nice -n N polyseek upgrade --resume``)."""
    import json
    import subprocess
    import sys

    from polyseek.errors import PolyseekError

    arguments = {"store": str(engine.store_uri), **encoders, **options}
    command = [sys.executable, "-c", CHILD, json.dumps(arguments)]
    done = subprocess.run((["nice", "-n", str(nice)] if nice else []) + command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PolyseekError(f"the backfill process failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _searched_backfill(engine, space: str, queries: list[EvalQuery], qrels: dict, ids_by_path: dict[str, list[str]], *,
                       half: int, throttle: float, progress: ProgressFn | None, search_pause: float = 0.0,
                       batch_files: int = BATCH_FILES, threads: int | None = BACKFILL_THREADS,
                       process: dict[str, str | None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Backfill ``half`` files in a thread; meanwhile search the queries in a loop (back to back, or ``search_pause``
    seconds apart: a server's users rather than a load test). ``process``: the engine's encoders by argument name
    (``image``, ``text``): the thread runs the backfill in a child process instead. Returns (backfill counts,
    latencies)."""
    import threading

    from polyseek.upgrade import backfill

    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def work() -> None:
        try:
            if process is not None:
                result.update(_backfill_process(engine, process, batch_files=batch_files, max_files=half, throttle=throttle,
                                                threads=threads))
            else:
                result.update(backfill(engine, batch_files=batch_files, max_files=half, throttle=throttle,
                                       finalize_when_done=False, threads=threads))
        except BaseException as exc:  # reported after the join
            failure.append(exc)

    thread = threading.Thread(target=work, name="eval-upgrade-backfill", daemon=True)
    latencies: list[float] = []
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    thread.start()
    while thread.is_alive():
        for query in queries:
            if not thread.is_alive():
                break
            t = time.perf_counter()
            engine.search(query.text, k=50, spaces=[space])
            latencies.append(time.perf_counter() - t)
            if progress:
                progress("during backfill", len(latencies), len(latencies))
            if search_pause > 0:
                time.sleep(search_pause)
    thread.join()
    if failure:
        raise failure[0]
    seconds = time.perf_counter() - started
    # CPU of the whole process (backfill and searches): on shared cores the wall-clock rate says less than this
    row: dict[str, Any] = {"searches": len(latencies), "seconds": round(seconds, 1), "process_cpu_seconds": round(time.process_time() - cpu, 1),
                           "backfill_in": "a child process" if process is not None else "a thread of the searching process",
                           "search_pause_s": search_pause, "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
                           "cpus": os.cpu_count()}
    if latencies:
        row.update(search_p50_ms=round(1000 * float(np.percentile(latencies, 50)), 1),
                   search_p95_ms=round(1000 * float(np.percentile(latencies, 95)), 1))
    else:  # the backfill ended before the first search did
        row.update(search_p50_ms=None, search_p95_ms=None)
    row["backfill_items_per_second"] = result.get("items_per_second")
    return result, row


def run_upgrade_eval(folder: str | Path, *, old: str, new: str, space: str = "text", limit: int = 100, lang: str = "en",
                     sample: int = 200, projection: str | Path | None = None, anchor: float = 0.5, workdir: str | Path | None = None,
                     progress: ProgressFn | None = None, during_backfill: bool = False, throttle: float = 0.0,
                     search_pause: float = 0.0, batch_files: int = BATCH_FILES,
                     backfill_threads: int | None = BACKFILL_THREADS, backfill_process: bool = False) -> dict[str, Any]:
    """The rows described in the module docstring, on the captions of the first ``limit`` photos. ``during_backfill``:
    the first half is backfilled in a background thread while the queries are searched again and again (row
    ``during_backfill``: latency beside the backfill, and the backfill's items/s beside the searches, also as a
    fraction of NEW's own indexing speed from scratch in the same run). ``batch_files``/``backfill_threads``: as
    :func:`polyseek.upgrade.backfill` (files per batch; the new encoder's intra-op threads, None: its default).
    ``backfill_process``: the first half's backfill runs in a child process (``polyseek upgrade --resume`` beside a
    server) instead of a thread of the searching process."""
    from polyseek.engine import Engine
    from polyseek.upgrade import backfill, upgrade
    from polyseek.upgrade.core import indexed_files

    if space not in ("text", "image"):
        from polyseek.errors import InvalidInputError

        raise InvalidInputError(f"unknown space {space!r}", hint="--space text or --space image")
    items, queries, qrels = caption_task(folder, limit, lang) if space == "text" else photo_task(folder, limit, lang)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="polyseek-eval-upgrade-"))
    files = materialise(tuple(items), root)
    report: dict[str, Any] = {"dataset": str(folder), "photos": limit, "items": len(items), "queries": len(queries),
                              "lang": lang, "space": space, "old": old, "new": new, "anchor": anchor, "rows": {}}

    def build(name: str, encoder: str) -> Any:
        if space == "text":  # the other space as cheap as it gets: a text corpus has no images anyway
            engine = Engine(str(root / name), image_encoder="deterministic", text_encoder=encoder)
            paths = [str(files.text_dir)]
        else:  # photos: the text space (unsearched here) as cheap as it gets, so indexing time is the image model's
            engine = Engine(str(root / name), image_encoder=encoder, text_encoder="deterministic")
            paths = [str(p) for p in files.image_paths]
        t = time.perf_counter()
        summary = engine.index(paths)
        seconds = time.perf_counter() - t
        report.setdefault("indexing_seconds", {})[name] = round(seconds, 1)
        report.setdefault("indexing_items_per_second", {})[name] = round(summary.items / seconds, 2) if seconds > 0 else None
        return engine

    engine = build("store-upgrade", old)
    rows = report["rows"]
    rows["old"] = measure(engine, space, queries, qrels, files.ids_by_path, progress=progress, stage="old")
    started = upgrade(engine, image_encoder=new if space == "image" else None, text_encoder=new if space == "text" else None,
                      sample=sample, projection=projection, keep_sample=False, anchor=anchor)
    report["fit"] = started["fit"]
    rows["projected_0"] = measure(engine, space, queries, qrels, files.ids_by_path, progress=progress, stage="0%")
    half = len(indexed_files(engine)) // 2
    if during_backfill:
        # the first half is backfilled in a thread while searches run (as a server answering during an upgrade job)
        report["backfill_50"], rows["during_backfill"] = _searched_backfill(
            engine, space, queries, qrels, files.ids_by_path, half=half, throttle=throttle, progress=progress,
            search_pause=search_pause, batch_files=batch_files, threads=backfill_threads,
            process=({"image": old, "text": "deterministic"} if space == "image"
                     else {"image": "deterministic", "text": old}) if backfill_process else None)
        during, idle = rows["during_backfill"], rows["projected_0"]["search_p95_ms"]
        during["idle_p95_ms"] = idle
        during["p95_vs_idle"] = round(during["search_p95_ms"] / idle, 2) if during["search_p95_ms"] and idle else None
    else:
        report["backfill_50"] = backfill(engine, batch_files=batch_files, max_files=half, throttle=throttle, finalize_when_done=False,
                                         threads=backfill_threads)
    rows["projected_50"] = measure(engine, space, queries, qrels, files.ids_by_path, progress=progress, stage="50%")
    report["backfill_100"] = backfill(engine, batch_files=batch_files, finalize_when_done=False,  # the second half, alone
                                      threads=backfill_threads)
    if during_backfill and report["backfill_100"].get("items_per_second") and rows["during_backfill"].get("backfill_items_per_second"):
        rows["during_backfill"]["vs_alone"] = round(rows["during_backfill"]["backfill_items_per_second"]
                                                    / report["backfill_100"]["items_per_second"], 2)
    rows["projected_100"] = measure(engine, space, queries, qrels, files.ids_by_path, progress=progress, stage="100%")
    from polyseek.upgrade import finalize

    report["switch"] = finalize(engine, space)
    rows["switched"] = measure(engine, space, queries, qrels, files.ids_by_path, progress=progress, stage="switched")
    engine.close()
    scratch = build("store-new", new)
    rows["new_scratch"] = measure(scratch, space, queries, qrels, files.ids_by_path, progress=progress, stage="new")
    scratch.close()
    new_speed = report["indexing_items_per_second"].get("store-new")
    if during_backfill and new_speed and rows["during_backfill"].get("backfill_items_per_second"):
        # the goal's yardstick: the backfill beside searches against NEW indexing the same photos alone, same run
        rows["during_backfill"]["vs_new_indexing"] = round(rows["during_backfill"]["backfill_items_per_second"] / new_speed, 2)
    return report


def is_pages_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is laid out as a pages benchmark (``documents/`` and ``queries.jsonl``)."""
    return (Path(folder) / "documents").is_dir() and (Path(folder) / "queries.jsonl").is_file()


PAGE_ROW_METRICS = ("hit@10", "recall@5", "mrr@10")


def run_upgrade_pages_eval(folder: str | Path, *, old: str, new: str, space: str = "text", sample: int = 200,
                           projection: str | Path | None = None, anchor: float = 0.5, workdir: str | Path | None = None,
                           limit: int | None = None, progress: ProgressFn | None = None, batch_files: int = BATCH_FILES,
                           backfill_threads: int | None = BACKFILL_THREADS, other_encoder: str | None = None) -> dict[str, Any]:
    """The rows of the module docstring on a pages folder: ``polyseek eval pages`` (first ``limit`` questions) on the
    index built with OLD, at 0 / 50 / 100 % backfill, after the switch, and on a fresh index built with NEW.
    ``other_encoder``: the space not upgraded (None: its default)."""
    from polyseek.engine import Engine
    from polyseek.eval.pages import load_questions, run_pages_eval
    from polyseek.upgrade import backfill, finalize, upgrade
    from polyseek.upgrade.core import indexed_files

    if space not in ("text", "image"):
        from polyseek.errors import InvalidInputError

        raise InvalidInputError(f"unknown space {space!r}", hint="--space text or --space image")
    _, questions = load_questions(folder, limit=limit)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="polyseek-eval-upgrade-"))
    report: dict[str, Any] = {"dataset": str(folder), "task": "pages", "queries": len(questions), "space": space,
                              "old": old, "new": new, "anchor": anchor, "rows": {}}

    def open_engine(name: str, model: str) -> Any:
        if space == "image":
            return Engine(str(root / name), image_encoder=model, text_encoder=other_encoder)
        return Engine(str(root / name), image_encoder=other_encoder, text_encoder=model)

    def measure_pages(engine) -> dict[str, Any]:
        started = time.perf_counter()
        result = run_pages_eval(folder, engine=engine, limit=limit, progress=progress)
        row = {f"{task}_{m}": round(float(result[task][m]), 4) for task in ("corpus", "within_document")
               for m in PAGE_ROW_METRICS if m in result.get(task, {})}
        row["seconds"] = round(time.perf_counter() - started, 1)
        return row

    def build(name: str, model: str) -> Any:
        # each index is built in a fresh process, as `polyseek index` builds it: PDFium reads a page's characters a
        # little differently once the process has rendered it (ingest/pdf.py item_pictures), so a second index
        # of the same PDFs built in this process could differ from the first by a region
        t = time.perf_counter()
        image, text = (model, other_encoder) if space == "image" else (other_encoder, model)
        index_in_fresh_process(str(root / name), [str(Path(folder) / "documents")], image, text)
        report.setdefault("indexing_seconds", {})[name] = round(time.perf_counter() - t, 1)
        engine = open_engine(name, model)
        report.setdefault("indexed_items", {})[name] = engine.store.count()
        return engine

    rows = report["rows"]
    engine = build("store-upgrade", old)
    rows["old"] = measure_pages(engine)
    started = upgrade(engine, image_encoder=new if space == "image" else None, text_encoder=new if space == "text" else None,
                      sample=sample, projection=projection, keep_sample=False, anchor=anchor)
    report["fit"] = started["fit"]
    rows["projected_0"] = measure_pages(engine)
    half = len(indexed_files(engine)) // 2
    report["backfill_50"] = backfill(engine, batch_files=batch_files, max_files=half, finalize_when_done=False,
                                     threads=backfill_threads)
    rows["projected_50"] = measure_pages(engine)
    report["backfill_100"] = backfill(engine, batch_files=batch_files, finalize_when_done=False, threads=backfill_threads)
    rows["projected_100"] = measure_pages(engine)
    report["switch"] = finalize(engine, space)
    rows["switched"] = measure_pages(engine)
    engine.close()
    scratch = build("store-new", new)
    rows["new_scratch"] = measure_pages(scratch)
    scratch.close()
    return report


def _index(store: str, paths: list[str], image: str | None, text: str | None) -> None:
    from polyseek.engine import Engine

    engine = Engine(store, image_encoder=image, text_encoder=text)
    try:
        engine.index(paths)
    finally:
        engine.close()


def index_in_fresh_process(store: str, paths: list[str], image: str | None, text: str | None) -> None:
    """``Engine(store).index(paths)`` in a new interpreter (multiprocessing's spawn); its error, if any, raised here."""
    import multiprocessing

    from polyseek.errors import PolyseekError

    process = multiprocessing.get_context("spawn").Process(target=_index, args=(store, paths, image, text), daemon=False)
    process.start()
    process.join()
    if process.exitcode != 0:
        raise PolyseekError(f"indexing {', '.join(paths)} into {store} failed in its own process (exit {process.exitcode})")


def pages_markdown(report: dict[str, Any]) -> str:
    columns = [c for c in next(iter(report["rows"].values()), {}) if c != "seconds"]
    lines = [f"{report['space']} space {report['old']} → {report['new']} on {report['dataset']} "
             f"({report['queries']} questions; `polyseek eval pages` at each step)", "",
             "| row | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, '')}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(report: dict[str, Any]) -> str:
    what = (f"{report['items']} captions of the first {report['photos']} photos of {report['dataset']} indexed; "
            f"{report['queries']} queries ({report['lang']}), relevant: the other captions of the query's photo.")
    if report["space"] == "image":
        what = (f"the first {report['items']} photos of {report['dataset']} indexed; {report['queries']} queries (the first "
                f"caption of each photo, {report['lang']}), relevant: its photo.")
    lines = [f"# polyseek eval upgrade: {report['space']} space {report['old']} → {report['new']}", "", what, "",
             "| row | R@1 | R@5 | R@10 | nDCG@10 | MRR@10 | search p50 ms | p95 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in report["rows"].items():
        if "recall@1" not in m:  # during_backfill: latency only
            continue
        lines.append(f"| {name} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['ndcg@10']:.3f} | "
                     f"{m['mrr@10']:.3f} | {m['search_p50_ms']} | {m['search_p95_ms']} |")
    fit = report.get("fit", {})
    lines += ["", f"Projection fit (held-out items): {fit}"]
    during = report["rows"].get("during_backfill")
    if during:
        pause = f", {during['search_pause_s']} s apart" if during.get("search_pause_s") else ", back to back"
        lines.append(f"- searches during the first half's backfill: {during['searches']} searches{pause}, p50 {during['search_p50_ms']} ms, "
                     f"p95 {during['search_p95_ms']} ms ({during['p95_vs_idle']}× the idle p95 of row projected_0); "
                     f"backfill beside them: {during['backfill_items_per_second']} items/s ({during.get('vs_alone')}× the second "
                     f"half's backfill alone, {during.get('vs_new_indexing')}× NEW's indexing from scratch); {during.get('cpus')} CPUs, load average {during.get('load_average_1min')} (start, end)")
    speeds = report.get("indexing_items_per_second") or {}
    if speeds:
        lines.append("- indexing from scratch: " + ", ".join(f"{name} {speed} items/s" for name, speed in speeds.items()))
    for key in ("backfill_50", "backfill_100"):
        if key in report:
            b = report[key]
            lines.append(f"- {key}: {b['items']} items in {b['seconds']} s ({b['items_per_second']} items/s)")
    return "\n".join(lines) + "\n"
