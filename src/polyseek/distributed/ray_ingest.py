"""Index on a Ray cluster: the coordinator plans and writes, Ray Data reads, decodes and embeds on the workers.

The coordinator (this process) holds the store's writer lock, diffs the walk against the catalog exactly as the
single-process indexer does (:meth:`polyseek.indexer.Indexer.plan`), and sends the paths of new and changed files
to the cluster: a task per block of files reads and decodes them (:func:`.ray_workers.decode_file`), a pool of
actors embeds the chunks in batches, each loading the encoders once (:class:`.ray_workers.EmbedWorker`). Results
come back as they are ready; a file is written, with the same journal as a plain run
(:meth:`polyseek.indexer.Indexer.write_files`), only when all its chunks are in. So a killed coordinator leaves
at most a pending batch that the next run removes and does again, and a killed worker's task is retried by Ray
Data (its rows are keyed by file and position, so a retry cannot duplicate an item).

Files are read by the workers from the path the coordinator walked: the folder must be mounted at the same path
on every node (NFS, a shared disk). Object storage would plug in as an fsspec URL instead of a path, opened by
the decode task with ``fsspec.open``; the ingestors read local paths today (docs/scale.md).

Ray is imported only here, only for ``polyseek index --ray``. The cluster is the one at ``address``, else
``$RAY_ADDRESS``, else a local one started for the run (and stopped after it).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyseek.catalog import FileRecord
from polyseek.distributed.ray_workers import CHUNK_ROW, EmbedWorker, decode_file
from polyseek.errors import IndexMismatchError, NotAvailableError, PolyseekError, require
from polyseek.indexer import FLUSH_ROWS, IMAGE_BATCH, Indexer, Progress, ProgressCallback
from polyseek.spaces import Spaces
from polyseek.stores.base import Row
from polyseek.types import IndexSummary, item_id

log = logging.getLogger(__name__)
FILES_PER_TASK = 8  # files per decode task: fewer tasks to schedule, still a steady stream into the actors
DECODE_CPUS = 0.25  # CPU reserved per decode task (mostly file reads and JPEG/PDF decoding)


@dataclass(frozen=True)
class RayOptions:
    """Where and how to run: ``address`` (else ``$RAY_ADDRESS``, else a local cluster), ``workers`` embedding actors
    (default: one per CPU of the cluster), ``worker_cpus`` each (default: what the cluster leaves after decoding,
    at most 1), ``batch`` chunks per embedding call, ``flush_rows`` items per journalled write."""

    address: str | None = None
    workers: int | None = None
    worker_cpus: float | None = None
    batch: int = IMAGE_BATCH
    flush_rows: int = FLUSH_ROWS  # items per write (journal batch) on the coordinator


@dataclass
class _File:
    """One file's rows as they arrive from the cluster, by position (a retried task's repeats collapse)."""

    parts: dict[int, tuple[Any, dict[str, np.ndarray]]] = field(default_factory=dict)
    end: tuple[int, str, str] | None = None  # (chunk count, status, reason) from the file's marker row

    def complete(self) -> bool:
        return self.end is not None and len(self.parts) >= self.end[0]


def connect(address: str | None) -> tuple[Any, bool]:
    """Ray, initialised on the named cluster (or ``$RAY_ADDRESS``, or a new local one): ``(ray, started_here)``."""
    ray = require("ray", "ray")
    if ray.is_initialized():
        return ray, False
    target = address or os.environ.get("RAY_ADDRESS") or None
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    try:
        if target and target != "auto":
            _reachable(target)  # ray.init would retry an unreachable cluster for minutes
        if target:
            ray.init(address=target, **quiet)
        else:
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {target}" if target else "a local Ray cluster"
        raise NotAvailableError(f"cannot connect to {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                                hint="start one with `ray start --head`, then pass --ray-address HOST:PORT or set "
                                     "RAY_ADDRESS (unset it to run on a local cluster)") from exc
    return ray, True


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Raise ConnectionError at once when nothing listens at ``HOST:PORT`` (or ``ray://HOST:PORT``)."""
    bare = address.split("://", 1)[-1].rstrip("/")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not HOST:PORT: {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port} ({exc.strerror or exc})") from exc


def index_on_ray(indexer: Indexer, spaces: Spaces, paths: Sequence[str | os.PathLike[str]], options: RayOptions, *,
                 remove_missing: bool = True, on_progress: ProgressCallback | None = None) -> IndexSummary:
    """One indexing run with decoding and embedding on Ray; the caller holds the writer lock and has created the
    store's spaces (``spaces.ensure``). Returns the same summary as :meth:`Indexer.run`."""
    started = time.perf_counter()
    plan = indexer.plan(paths, remove_missing)
    todo = {str(path): (record, kind) for path, record, kind in plan.todo}
    if on_progress:
        on_progress(Progress(0, len(todo)))
    if todo:
        ray, started_here = connect(options.address)
        try:
            _run(ray, indexer, spaces, plan, todo, options, on_progress)
        finally:
            if started_here:
                ray.shutdown()
    return indexer.finish(plan, started)


def _dataset(ray: Any, keys: list[str], spaces: Spaces, indexer: Indexer, options: RayOptions) -> Any:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    workers = max(1, options.workers or int(cpus))
    worker_cpus = options.worker_cpus or max(0.1, min(1.0, (cpus - 2 * DECODE_CPUS) / workers))
    description = spaces.meta() or {}
    names = {space.value: name for space, name in spaces.names().items()}
    blocks = max(1, min(len(keys), max(2 * workers, math.ceil(len(keys) / FILES_PER_TASK))))
    items = ray.data.from_items([{"key": key} for key in keys], override_num_blocks=blocks)
    decoded = items.flat_map(decode_file, fn_kwargs={"file_items": indexer.file_items}, num_cpus=DECODE_CPUS)
    return decoded.map_batches(EmbedWorker, fn_constructor_kwargs={"store_uri": spaces.store_uri,
                                                                   "description": description, "names": names,
                                                                   "threads": max(1, round(worker_cpus))},
                               compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=worker_cpus,
                               batch_size=options.batch, batch_format="numpy")


def _run(ray: Any, indexer: Indexer, spaces: Spaces, plan: Any, todo: dict[str, tuple[FileRecord, str]],
         options: RayOptions, on_progress: ProgressCallback | None) -> None:
    counts, failed = plan.counts, plan.failed
    files: dict[str, _File] = {}
    ready: list[tuple[FileRecord, list[Row]]] = []
    done = 0

    def flush() -> None:
        nonlocal ready
        if ready:
            counts["items"] += indexer.write_files(ready)
            ready = []

    try:
        for batch in _dataset(ray, list(todo), spaces, indexer, options).iter_batches(batch_size=None, batch_format="numpy"):
            for key, pos, n, payload in zip(batch["key"], batch["pos"], batch["n"], batch["payload"]):
                key, pos, n = str(key), int(pos), int(n)
                entry = files.setdefault(key, _File())
                if n == CHUNK_ROW:
                    entry.parts[pos] = pickle.loads(payload)
                else:
                    status, reason = pickle.loads(payload)
                    entry.end = (n, status, reason)
                if key not in todo or not entry.complete():
                    continue
                record, kind = todo.pop(key)
                rows = _rows(record, entry)
                del files[key]
                assert entry.end is not None
                _count, status, reason = entry.end
                if status == "failed":
                    failed.append({"path": key, "reason": reason})
                    ready.append((FileRecord(record.key, record.size, record.mtime, record.hash, 0, "failed", reason), []))
                else:
                    counts[kind] += 1
                    ready.append((FileRecord(record.key, record.size, record.mtime, record.hash, len(rows), "ok", reason), rows))
                    if reason:
                        failed.append({"path": key, "reason": reason})
                done += 1
                if on_progress:
                    on_progress(Progress(done, done + len(todo), key))
                if sum(len(rows) for _, rows in ready) >= options.flush_rows or len(ready) >= 512:
                    flush()
    except Exception as exc:  # noqa: BLE001 - a Ray error wraps the worker's; say it in one line
        cause = _cause(exc)
        if isinstance(cause, IndexMismatchError):  # the workers' encoders do not fit the index: nothing to keep
            raise IndexMismatchError(cause.message, hint=cause.hint) from None
        if isinstance(exc, PolyseekError) and cause is exc:
            raise
        flush()  # what is complete is kept; the rest is indexed by the next run
        first = (str(cause or exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise NotAvailableError(f"the Ray run stopped: {first}",
                                hint="files written so far are kept; run the same command again to go on") from exc
    flush()
    for key in todo:  # never came back (cannot happen unless the cluster lost them): the next run tries again
        failed.append({"path": key, "reason": "no result came back from the Ray cluster; index again to retry"})


def _cause(exc: BaseException) -> BaseException:
    """The worker's own exception inside Ray's wrappers (``RayTaskError.cause``, chained causes)."""
    seen = exc
    for _ in range(8):
        inner = getattr(seen, "cause", None) or seen.__cause__
        if inner is None or inner is seen:
            break
        seen = inner
    return seen


def _rows(record: FileRecord, entry: _File) -> list[Row]:
    rows = []
    for position in range(entry.end[0] if entry.end else 0):
        chunk, vectors = entry.parts[position]
        rows.append(Row(
            id=chunk.item_id or item_id(record.key, position), doc=record.key, path=record.key,
            modality=chunk.modality.value, locator=chunk.locator.to_dict(), text=chunk.text, metadata=chunk.metadata,
            date=chunk.date if chunk.date is not None else record.mtime, vectors=vectors,
        ))
    return rows
