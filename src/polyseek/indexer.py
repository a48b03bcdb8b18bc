"""Incremental, kill-safe indexing: walk → diff against the catalog → ingest → encode in batches → write.

Every write runs under the store's writer lock (:mod:`polyseek.locking`): one writer at a time, and
crash recovery only by the writer. A long file is committed in parts and resumes after its last part;
budgets per file bound its time and items (:data:`FILE_SECONDS`, :data:`FILE_ITEMS`).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyseek.catalog import Catalog, FileRecord, PartialFile, file_key
from polyseek.errors import IndexMismatchError, InvalidInputError, NotFoundError, PolyseekError
from polyseek.ingest.base import Chunk, ingestor_for, supported_extensions
from polyseek.ingest.catalogue import ReuseRecordVectors, take_problems
from polyseek.locking import lock_for
from polyseek.stores.base import Row, Store
from polyseek.types import IndexSummary, Modality, item_id  # noqa: F401 - item_id re-exported for callers

log = logging.getLogger(__name__)
FLUSH_ROWS = 256
IMAGE_BATCH = 32
TEXT_BATCH = 128
STREAM_AFTER = 32  # chunks; a file with more is encoded as it is read, so memory stays flat on long files
# A long file is committed in parts (whole PDF pages) of this many items or this much work, whichever comes first:
# a kill loses at most one part, and a 64-row Lance commit costs a few per cent of the time its items take to make.
PART_ITEMS = 64
PART_SECONDS = 10.0
FILE_SECONDS = 600.0  # time budget per file and run: past it the file stops at its last part, the next run goes on
FILE_ITEMS = 100_000  # item budget per file: past it the rest of the file is left out (the reason says so)


@dataclass
class Progress:
    """What the indexer reports while it works; ``detail`` is per-file progress (pages, media seconds)."""

    files_done: int
    files_total: int
    path: str = ""
    detail: str = ""
    stage: str = "index"


ProgressCallback = Callable[[Progress], None]


def file_hash(path: Path) -> str:
    """Content hash; opened without blocking, so a FIFO swapped in after the walk cannot hang the run."""
    digest = hashlib.blake2b(digest_size=16)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _storable(key: str) -> bool:
    """Whether a path can be stored as a key (SQLite and Lance hold UTF-8; undecodable names come as surrogates)."""
    try:
        key.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def shown(key: str) -> str:
    """A path as text that prints and serialises anywhere: undecodable bytes as ``\\xff``."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


NOT_REGULAR = "not a regular file (a FIFO, socket or device): skipped"




@dataclass
class Walk:
    """What a walk found: files to consider, folders walked (removal of vanished files happens only under
    them), folders that could not be read (files under them are kept), and paths refused up front."""

    files: list[Path]
    roots: list[Path]
    unreadable: list[Path]
    failed: list[dict[str, str]]


def walk(paths: Sequence[str | os.PathLike[str]]) -> Walk:
    """Walk files and folders; unreadable folders and special files are reported, never fatal."""
    found = Walk([], [], [], [])
    extensions = set(supported_extensions())

    def unreadable(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else None
        if folder is not None:
            found.unreadable.append(folder)
            reason = (exc.strerror or str(exc)).lower()
            found.failed.append({"path": str(folder), "reason": f"cannot read folder: {reason}"})

    for raw in paths:
        path = Path(file_key(raw))
        try:
            mode = path.stat().st_mode  # follows a symlink: a link to a device is a device
        except (FileNotFoundError, NotADirectoryError):
            found.failed.append({"path": str(path), "reason": "no such file or folder"})
            continue
        except OSError as exc:  # its items, if any, are kept while it cannot be read
            found.failed.append({"path": str(path), "reason": f"cannot read: {(exc.strerror or str(exc)).lower()}"})
            found.unreadable.append(path)
            continue
        if stat.S_ISDIR(mode):
            found.roots.append(path)
            for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    candidate = Path(dirpath) / name
                    if not name.startswith(".") and candidate.suffix.lower().lstrip(".") in extensions:
                        found.files.append(candidate)
        elif not stat.S_ISREG(mode):
            found.failed.append({"path": str(path), "reason": NOT_REGULAR})
        elif path.suffix.lower().lstrip(".") in extensions:
            found.files.append(path)
        else:
            found.failed.append({"path": str(path), "reason": f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(extensions))}"})
    found.files = list(dict.fromkeys(found.files))
    return found


def _vanished(path: Path) -> bool:
    """Whether an indexed file is gone. A file that cannot be looked at (its folder became unreadable) is not."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


@dataclass
class Plan:
    """What one run has to do once the walk is diffed: files to ingest ``(path, record, "added"|"updated")``,
    the counts so far, the files refused, and the keys of vanished files already removed."""

    todo: list[tuple[Path, FileRecord, str]]
    counts: dict[str, int]
    failed: list[dict[str, str]]
    removed: list[str]


@dataclass
class _Pending:
    record: FileRecord
    rows: list[Row] = field(default_factory=list)


@dataclass
class _Committed:
    """A long file the stream wrote in parts itself; ``complete`` is False when a time budget cut it (resumable)."""

    items: int  # items written by this run
    complete: bool
    reason: str = ""


class Indexer:
    """Writes files into a store with the engine's encoders. See :mod:`polyseek.catalog` for crash safety.

    ``wait`` False makes a write refuse at once (:class:`polyseek.errors.StoreBusyError`) when another
    process holds the store's writer lock; ``file_seconds``, ``file_items`` and ``part_items`` are the
    per-file budgets and the checkpoint size.
    """

    def __init__(self, store: Store, catalog: Catalog, encode: Callable[[list[Chunk]], dict[str, list[np.ndarray | None]]]):
        self.store = store
        self.catalog = catalog
        # catalogue records (issue 15): an unchanged record gets its stored vectors back instead of being encoded
        self.encode = ReuseRecordVectors(store, encode)
        self.lock = lock_for(store)
        self.wait = True
        self.read_only = False  # an engine opened read-only: every write is refused before it takes the lock
        self.file_seconds = FILE_SECONDS
        self.file_items = FILE_ITEMS
        self.part_items = PART_ITEMS
        self.part_seconds = PART_SECONDS
        self._resume: dict[str, PartialFile] = {}
        self._dirty = False
        self._recovered: list[str] = []

    @contextmanager
    def writing(self, on_progress: ProgressCallback | None = None) -> Iterator[None]:
        """Hold the store's writer lock for a block of writes (re-entrant). The outermost holder first brings
        its view of the store up to date and recovers a batch that a killed writer left half done."""
        def on_wait(message: str) -> None:
            if on_progress:  # the server's callback may raise here to cancel a job that waits
                on_progress(Progress(0, 0, detail=message, stage="wait"))

        if self.read_only:
            raise InvalidInputError("this index was opened read-only: it cannot index, delete, change concepts or upgrade",
                                    hint="open it for writing: Engine(store) without read_only=True")
        outermost = not self.lock.held
        with self.lock.hold(wait=self.wait, on_wait=on_wait):
            if outermost:
                self._recovered = self._take_over()
            yield

    def _take_over(self) -> list[str]:
        """First thing a writer does once it holds the lock: see the store as the last writer left it, recover."""
        refresh = getattr(self.store, "refresh", None)
        if refresh is not None:
            refresh()
        return self._recover()

    def recover(self) -> list[str]:
        """Undo a batch that was cut short (``kill -9``): its files are removed and will be indexed again.
        Runs under the writer lock, so it never undoes the batch of a writer that is alive."""
        if self.lock.held:
            return self._recover()
        with self.writing():
            return self._recovered

    def _recover(self) -> list[str]:
        pending = self.catalog.pending()
        if pending:
            log.warning("recovering %d file(s) from an interrupted run", len(pending))
            self.store.delete(docs=pending)
            self.catalog.forget(pending)
        if pending or self.catalog.get_meta("dirty", False):
            self._dirty = True  # a killed writer's last commits were never optimised: the next run does it
        return pending

    def _mark_dirty(self) -> None:
        if not self._dirty:
            self.catalog.set_meta("dirty", True)
            self._dirty = True

    def run(self, paths: Sequence[str | os.PathLike[str]], on_progress: ProgressCallback | None = None,
            remove_missing: bool = True) -> IndexSummary:
        """Index files and folders under the writer lock (waiting for another writer unless ``wait`` is False)."""
        with self.writing(on_progress):
            try:
                return self._run(paths, on_progress, remove_missing)
            finally:
                self._resume = {}

    def plan(self, paths: Sequence[str | os.PathLike[str]], remove_missing: bool = True) -> Plan:
        """Walk, diff against the catalog, and remove the items of vanished files (under the writer lock): what is left
        to ingest. :mod:`polyseek.distributed` ingests the plan's files on a Ray cluster and writes with :meth:`write_files`."""
        walked = walk(paths)
        roots, failed = walked.roots, walked.failed
        known = self.catalog.files()
        partial = self.catalog.partial()
        counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "items": 0}
        todo: list[tuple[Path, FileRecord, str]] = []
        for path in walked.files:
            key = str(path)
            if not _storable(key):
                failed.append({"path": key, "reason": "file name is not valid UTF-8, so it cannot be stored; rename the file"})
                continue
            try:
                info = path.stat()
            except OSError as exc:
                failed.append({"path": key, "reason": f"cannot read: {(exc.strerror or str(exc)).lower()}"})
                continue
            if not stat.S_ISREG(info.st_mode):  # a FIFO would block the reader forever
                failed.append({"path": key, "reason": NOT_REGULAR})
                continue
            previous = known.get(key)
            if previous and previous.size == info.st_size and previous.mtime == info.st_mtime:
                counts["unchanged"] += 1
                continue
            try:
                digest = file_hash(path)
            except OSError as exc:
                failed.append({"path": key, "reason": NOT_REGULAR if exc.errno == 0 else f"cannot read: {(exc.strerror or str(exc)).lower()}"})
                continue
            record = FileRecord(key, info.st_size, info.st_mtime, digest)
            if previous and previous.hash == digest:  # touched, not changed
                self.catalog.commit_files([FileRecord(key, info.st_size, info.st_mtime, digest, previous.items, previous.status, previous.reason)])
                counts["unchanged"] += 1
                continue
            if key in partial and partial[key].hash == digest:  # a long file cut short: go on after its last part
                self._resume[key] = partial[key]
            todo.append((path, record, "updated" if previous else "added"))

        removed = []
        if remove_missing:
            given = {Path(file_key(p)) for p in paths}
            for key in [*known, *(k for k in partial if k not in known)]:
                path = Path(file_key(key))  # a key stored unfolded ("/w/../x/a.jpg") is judged where it points
                if not (path in given or any(_is_under(path, root) for root in roots)):
                    continue
                if any(_is_under(path, folder) for folder in walked.unreadable):
                    continue  # kept while its folder cannot be read
                if str(path) != key or _vanished(path):  # unfolded: the file is indexed again under its folded key
                    removed.append(key)
        if removed:
            self._mark_dirty()
            self.catalog.mark_pending(removed)
            self.store.delete(docs=removed)
            self.catalog.commit_files([], removed=removed)
            counts["removed"] = len(removed)
        return Plan(todo, counts, failed, removed)

    def finish(self, plan: Plan, started: float) -> IndexSummary:
        """After a plan's files are written: optimise the store once, and sum up what the run did."""
        if plan.todo or plan.removed or self._dirty:
            self.store.optimize()  # the full-text index is built here, by the writer, never by a search
            self.catalog.set_meta("dirty", False)
            self._dirty = False
        failed = plan.failed + take_problems([str(path) for path, _record, _kind in plan.todo])  # bad catalogue records
        failed = [{**entry, "path": shown(entry["path"])} for entry in failed]
        return IndexSummary(failed=tuple(failed), seconds=time.perf_counter() - started, **plan.counts)

    def write_files(self, files: Sequence[tuple[FileRecord, list[Row]]]) -> int:
        """Write whole files' rows with the journal (pending → delete old → upsert → commit): returns items written."""
        return self._flush([_Pending(record, rows) for record, rows in files])

    def _run(self, paths: Sequence[str | os.PathLike[str]], on_progress: ProgressCallback | None,
             remove_missing: bool) -> IndexSummary:
        started = time.perf_counter()
        plan = self.plan(paths, remove_missing)
        todo, counts, failed = plan.todo, plan.counts, plan.failed
        total = len(todo)
        if on_progress:
            on_progress(Progress(0, total))
        buffer: list[_Pending] = []
        done = 0
        for (path, record, kind), result in zip(todo, self._ingest_all(todo, on_progress)):
            if isinstance(result, _Committed):  # a long file, written in parts as it was read
                counts["items"] += result.items
                if result.complete:
                    counts[kind] += 1
                else:
                    failed.append({"path": str(path), "reason": result.reason})
            elif isinstance(result, Exception):
                reason = result.message if isinstance(result, PolyseekError) else f"{type(result).__name__}: {result}"
                failed.append({"path": str(path), "reason": reason})
                buffer.append(_Pending(FileRecord(record.key, record.size, record.mtime, record.hash, 0, "failed", reason)))
            else:
                buffer.append(_Pending(record, result))
                counts[kind] += 1
            done += 1
            if sum(len(p.rows) for p in buffer) >= FLUSH_ROWS or len(buffer) >= 512:
                counts["items"] += self._flush(buffer)
                buffer = []
            if on_progress:
                on_progress(Progress(done, total, str(path)))
        counts["items"] += self._flush(buffer)
        return self.finish(plan, started)

    def file_item_ids(self, record: FileRecord) -> list[str]:
        """The ids of an indexed file's items, in file order: numbered, unless its ingestor names them itself."""
        try:
            named = getattr(ingestor_for(Path(record.key)), "item_ids", None)
        except PolyseekError:
            named = None
        ids = named(Path(record.key)) if named else None
        return ids if ids is not None else [item_id(record.key, index) for index in range(record.items)]

    def delete(self, targets: Sequence[str], on_progress: ProgressCallback | None = None) -> int:
        """Remove files (by path; a folder removes everything under it) or single items (by id), with the same
        journal as indexing, under the writer lock. Returns the number of items removed."""
        with self.writing(on_progress):
            return self._delete(targets)

    def _delete(self, targets: Sequence[str]) -> int:
        files = [*self.catalog.files(), *self.catalog.partial()]  # a long file cut short has items too
        doc_keys, ids = [], []
        for target in targets:
            absolute = file_key(target)
            if Path(absolute) in {Path(Path(absolute).anchor), Path.home()}:
                raise InvalidInputError(f"refusing to remove everything under {absolute}",
                                        hint="give the indexed folder or file to remove (polyseek status lists the index)")
            matched = [k for k in files if k == absolute or k.startswith(absolute.rstrip(os.sep) + os.sep)]
            if matched:
                doc_keys += matched
            elif self.store.get([target]):
                ids.append(target)
            else:
                raise NotFoundError(f"nothing indexed matches {target!r}", hint="give an indexed path or an item id")
        before = self.store.count()
        doc_keys = list(dict.fromkeys(doc_keys))
        if doc_keys:
            self.catalog.mark_pending(doc_keys)
            self.store.delete(docs=doc_keys)
            self.catalog.commit_files([], removed=doc_keys)
        if ids:
            self.store.delete(ids=ids)
        return before - self.store.count()

    def _ingest_all(self, todo, on_progress) -> Iterator[list[Row] | _Committed | Exception]:
        """Ingest and encode file by file; decoding of the next files overlaps encoding of the current ones."""
        def ingest(entry):
            path, record, _kind = entry
            try:
                ingestor = ingestor_for(path)
                def detail(done: float, total: float, unit: str) -> None:
                    if on_progress:
                        on_progress(Progress(-1, len(todo), str(path), f"{done:.0f}/{total:.0f} {unit}"))
                chunks: list[Chunk] = []
                resume = self._resume.get(record.key)
                stream = iter(_resumed(ingestor, path, detail, resume))
                for chunk in stream:
                    chunks.append(chunk)
                    if len(chunks) >= STREAM_AFTER:  # a long file: the rest is read while it is encoded
                        return _Stream(chunks, stream)
                if resume is not None:  # the tail of a long file: item numbers go on from its last part
                    return _Stream(chunks, iter(()))
                return chunks
            except Exception as exc:  # noqa: BLE001 - a broken file must never stop the run
                return _as_error(path, exc)

        with ThreadPoolExecutor(max_workers=2) as pool:
            window: list = []
            iterator = iter(todo)
            for entry in iterator:
                window.append((entry, pool.submit(ingest, entry)))
                if len(window) >= 8:
                    break
            group: list[tuple[tuple, list[Chunk] | Exception]] = []
            while window:
                entry, future = window.pop(0)
                nxt = next(iterator, None)
                if nxt is not None:
                    window.append((nxt, pool.submit(ingest, nxt)))
                result = future.result()
                if isinstance(result, _Stream):
                    yield from self._encode_group(group)  # results stay in file order
                    group = []
                    yield self._encode_stream(entry, result)
                    continue
                group.append((entry, result))
                images = sum(1 for _, c in group if not isinstance(c, Exception) for ch in c if ch.image is not None)
                if images >= IMAGE_BATCH or len(group) >= IMAGE_BATCH or not window:
                    yield from self._encode_group(group)
                    group = []

    def _encode_group(self, group) -> Iterator[list[Row] | Exception]:
        chunks = [ch for _, result in group if not isinstance(result, Exception) for ch in result]
        try:
            vectors = self.encode(chunks) if chunks else {}
        except IndexMismatchError:
            raise  # the index does not fit the encoder: no file is at fault, so the run stops
        except PolyseekError as exc:
            for _ in group:
                yield exc
            return
        position = 0
        for entry, result in group:
            if isinstance(result, Exception):
                yield result
                continue
            path, record, _kind = entry
            rows = []
            for index, chunk in enumerate(result):
                row_vectors = {space: vector for space, values in vectors.items() if (vector := values[position]) is not None}
                position += 1
                rows.append(Row(
                    id=chunk.item_id or item_id(record.key, index), doc=record.key, path=record.key, modality=chunk.modality.value,
                    locator=chunk.locator.to_dict(), text=chunk.text, metadata=chunk.metadata,
                    date=chunk.date if chunk.date is not None else record.mtime, vectors=row_vectors,
                ))
            yield rows

    def _encode_stream(self, entry, stream: _Stream) -> list[Row] | _Committed | Exception:
        """Encode a long file (a 1,000-page PDF) batch by batch as it is read: its renders never pile up.

        Past ``part_items`` items it is committed in parts, each ending before a new unit (a PDF page),
        with the place to resume recorded in the catalog; a time budget cut leaves it resumable there.
        """
        path, record, _kind = entry
        resume = self._resume.get(record.key)
        first = resume.items if resume is not None else 0  # item number of the first chunk read here
        parted = resume is not None  # the catalog already tracks this file's parts
        clear = resume is None or resume.items == 0  # the file's old items are still to be deleted
        rows: list[Row] = []  # encoded, not yet committed
        units: list[dict | None | bool] = []  # per row: False inside a unit, else where a resumed reader starts it
        committed = first
        written = 0
        deadline = time.monotonic() + self.file_seconds
        last_part = time.monotonic()
        reason = ""

        def commit(upto: int) -> None:
            nonlocal parted, clear, committed, written, rows, units, last_part
            if not parted:
                self.catalog.begin_parts(record.key, record.hash)
                parted = True
            self._mark_dirty()
            if clear:
                self.store.delete(docs=[record.key])  # the file's previous version
                clear = False
            self.store.upsert(rows[:upto])
            committed += upto
            written += upto
            token = units[upto] if upto < len(units) else None
            self.catalog.commit_part(record.key, committed, token if isinstance(token, dict) else None)
            rows, units = rows[upto:], units[upto:]
            last_part = time.monotonic()

        def boundary() -> int:
            """Rows that can be committed now: all but the unit still being read."""
            for index in range(len(units) - 1, 0, -1):
                if units[index] is not False:
                    return index
            return 0

        batch = stream.head
        position = first
        try:
            while batch:
                vectors = self.encode(batch)
                for offset, chunk in enumerate(batch):
                    row_vectors = {space: vector for space, values in vectors.items() if (vector := values[offset]) is not None}
                    rows.append(Row(
                        id=chunk.item_id or item_id(record.key, position), doc=record.key, path=record.key,
                        modality=chunk.modality.value, locator=chunk.locator.to_dict(), text=chunk.text,
                        metadata=chunk.metadata, date=chunk.date if chunk.date is not None else record.mtime,
                        vectors=row_vectors,
                    ))
                    units.append(_unit_start(chunk, position))
                    position += 1
                if position >= self.file_items:
                    reason = f"only its first {self.file_items:,} items are indexed (the limit per file)"
                    del rows[self.file_items - committed:], units[self.file_items - committed:]
                    break
                if (len(rows) >= self.part_items or time.monotonic() - last_part >= self.part_seconds) and boundary():
                    commit(boundary())
                if time.monotonic() > deadline:
                    if boundary():
                        commit(boundary())
                    if written:  # cut only after this run has committed something: every run makes progress
                        return _Committed(written, complete=False, reason=(
                            f"stopped after {self.file_seconds:g} s (the time budget per file) with {committed:,} "
                            "items indexed; index it again to go on from there"))
                batch = list(itertools.islice(stream.rest, STREAM_AFTER))
        except IndexMismatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken file must never stop the run
            return _as_error(path, exc)  # recorded as failed; its parts are deleted with the batch it joins
        if not parted and not reason:
            return rows  # short enough for the ordinary batch
        if rows or clear:
            commit(len(rows))
        # the last part is in: the file now counts as indexed (and its partial entry goes, in one transaction)
        self.catalog.commit_files([FileRecord(record.key, record.size, record.mtime, record.hash, committed,
                                              record.status, reason)])
        return _Committed(written, complete=True, reason=reason)

    def _flush(self, buffer: list[_Pending]) -> int:
        if not buffer:
            return 0
        keys = [p.record.key for p in buffer]
        rows = [row for p in buffer for row in p.rows]
        self._mark_dirty()
        self.catalog.mark_pending(keys)
        self.store.delete(docs=keys)
        self.store.upsert(rows)
        records = [FileRecord(p.record.key, p.record.size, p.record.mtime, p.record.hash, len(p.rows), p.record.status, p.record.reason) for p in buffer]
        self.catalog.commit_files(records)
        return len(rows)


@dataclass
class _Stream:
    """The first chunks of a long file and the rest of its ingestor's iterator, continued by the encoding side."""

    head: list[Chunk]
    rest: Iterator[Chunk]


def _unit_start(chunk: Chunk, position: int) -> dict | None | bool:
    """False for a chunk that continues a unit (a PDF region after its page); else the resume point before it:
    a dict for an ingestor that can start there (``{"page": index, "item": position}``), None to skip items."""
    if chunk.modality == Modality.REGION:
        return False
    if chunk.modality == Modality.PAGE and chunk.locator.page:
        return {"page": chunk.locator.page - 1, "item": position}
    return None


def _resumed(ingestor, path: Path, detail, resume: PartialFile | None) -> Iterator[Chunk]:
    """The ingestor's chunks from where a cut run committed its last part: started there when the ingestor
    takes ``resume`` (PDF pages), otherwise read from the start with the committed items skipped unencoded."""
    if resume is None or resume.items == 0:
        return iter(ingestor.ingest(path, detail))
    if resume.resume and "resume" in inspect.signature(ingestor.ingest).parameters:
        return iter(ingestor.ingest(path, detail, resume=resume.resume))
    return itertools.islice(ingestor.ingest(path, detail), resume.items, None)


def _as_error(path: Path, exc: BaseException) -> PolyseekError:
    if isinstance(exc, PolyseekError):
        return exc
    if isinstance(exc, MemoryError):
        return InvalidInputError(f"{path.name}: ran out of memory while reading it")
    log.debug("ingest failed for %s", path, exc_info=True)
    return InvalidInputError(f"{path.name}: {type(exc).__name__}: {exc}")


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False

