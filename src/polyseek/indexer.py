"""Incremental, kill-safe indexing: walk → diff against the catalog → ingest → encode in batches → write."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyseek.catalog import Catalog, FileRecord
from polyseek.errors import IndexMismatchError, InvalidInputError, PolyseekError
from polyseek.ingest.base import Chunk, ingestor_for, supported_extensions
from polyseek.stores.base import Row, Store
from polyseek.types import IndexSummary

log = logging.getLogger(__name__)
FLUSH_ROWS = 256
IMAGE_BATCH = 32
TEXT_BATCH = 128
STREAM_AFTER = 32  # chunks; a file with more is encoded as it is read, so memory stays flat on long files


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
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def item_id(doc_key: str, index: int) -> str:
    return hashlib.blake2b(f"{doc_key}#{index}".encode(), digest_size=10).hexdigest()


def walk(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path], list[dict[str, str]]]:
    """Files to consider, the folders walked (for removal of vanished files), and paths refused up front."""
    files: list[Path] = []
    roots: list[Path] = []
    failed: list[dict[str, str]] = []
    extensions = set(supported_extensions())
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            roots.append(path)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    candidate = Path(dirpath) / name
                    if not name.startswith(".") and candidate.suffix.lower().lstrip(".") in extensions:
                        files.append(candidate)
        elif path.is_file():
            if path.suffix.lower().lstrip(".") in extensions:
                files.append(path)
            else:
                failed.append({"path": str(path), "reason": f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(extensions))}"})
        else:
            failed.append({"path": str(path), "reason": "no such file or folder"})
    return list(dict.fromkeys(files)), roots, failed


@dataclass
class _Pending:
    record: FileRecord
    rows: list[Row] = field(default_factory=list)


class Indexer:
    """Writes files into a store with the engine's encoders. See :mod:`polyseek.catalog` for crash safety."""

    def __init__(self, store: Store, catalog: Catalog, encode: Callable[[list[Chunk]], dict[str, list[np.ndarray | None]]]):
        self.store = store
        self.catalog = catalog
        self.encode = encode

    def recover(self) -> list[str]:
        """Undo a batch that was cut short (``kill -9``): its files are removed and will be indexed again."""
        pending = self.catalog.pending()
        if pending:
            log.warning("recovering %d file(s) from an interrupted run", len(pending))
            self.store.delete(docs=pending)
            self.catalog.forget(pending)
        return pending

    def run(self, paths: Sequence[str | os.PathLike[str]], on_progress: ProgressCallback | None = None,
            remove_missing: bool = True) -> IndexSummary:
        started = time.perf_counter()
        self.recover()
        files, roots, failed = walk(paths)
        known = self.catalog.files()
        counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "items": 0}
        todo: list[tuple[Path, FileRecord, str]] = []
        for path in files:
            key = str(path)
            try:
                stat = path.stat()
            except OSError as exc:
                failed.append({"path": key, "reason": f"cannot read: {exc.strerror}"})
                continue
            previous = known.get(key)
            if previous and previous.size == stat.st_size and previous.mtime == stat.st_mtime:
                counts["unchanged"] += 1
                continue
            try:
                digest = file_hash(path)
            except OSError as exc:
                failed.append({"path": key, "reason": f"cannot read: {exc.strerror}"})
                continue
            record = FileRecord(key, stat.st_size, stat.st_mtime, digest)
            if previous and previous.hash == digest:  # touched, not changed
                self.catalog.commit_files([FileRecord(key, stat.st_size, stat.st_mtime, digest, previous.items, previous.status, previous.reason)])
                counts["unchanged"] += 1
                continue
            todo.append((path, record, "updated" if previous else "added"))

        removed = []
        if remove_missing:
            given = {Path(p).expanduser().absolute() for p in paths}
            for key in known:
                path = Path(key)
                if (path in given or any(_is_under(path, root) for root in roots)) and not path.exists():
                    removed.append(key)
        if removed:
            self.catalog.mark_pending(removed)
            self.store.delete(docs=removed)
            self.catalog.commit_files([], removed=removed)
            counts["removed"] = len(removed)

        total = len(todo)
        if on_progress:
            on_progress(Progress(0, total))
        buffer: list[_Pending] = []
        done = 0
        for (path, record, kind), result in zip(todo, self._ingest_all(todo, on_progress)):
            if isinstance(result, Exception):
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
        if total or removed:
            self.store.optimize()
        return IndexSummary(failed=tuple(failed), seconds=time.perf_counter() - started, **counts)

    def _ingest_all(self, todo, on_progress) -> Iterator[list[Row] | Exception]:
        """Ingest and encode file by file; decoding of the next files overlaps encoding of the current ones."""
        def ingest(entry):
            path, record, _kind = entry
            try:
                ingestor = ingestor_for(path)
                def detail(done: float, total: float, unit: str) -> None:
                    if on_progress:
                        on_progress(Progress(-1, len(todo), str(path), f"{done:.0f}/{total:.0f} {unit}"))
                chunks: list[Chunk] = []
                stream = iter(ingestor.ingest(path, detail))
                for chunk in stream:
                    chunks.append(chunk)
                    if len(chunks) >= STREAM_AFTER:  # a long file: the rest is read while it is encoded
                        return _Stream(chunks, stream)
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
                row_vectors = {space: values[position] for space, values in vectors.items() if values[position] is not None}
                position += 1
                rows.append(Row(
                    id=item_id(record.key, index), doc=record.key, path=record.key, modality=chunk.modality.value,
                    locator=chunk.locator.to_dict(), text=chunk.text, metadata=chunk.metadata,
                    date=chunk.date if chunk.date is not None else record.mtime, vectors=row_vectors,
                ))
            yield rows

    def _encode_stream(self, entry, stream: _Stream) -> list[Row] | Exception:
        """Encode a long file (a 1,000-page PDF) batch by batch as it is read: its renders never pile up."""
        path, record, _kind = entry
        rows: list[Row] = []
        batch = stream.head
        try:
            while batch:
                vectors = self.encode(batch)
                for position, chunk in enumerate(batch):
                    row_vectors = {space: values[position] for space, values in vectors.items() if values[position] is not None}
                    rows.append(Row(
                        id=item_id(record.key, len(rows)), doc=record.key, path=record.key, modality=chunk.modality.value,
                        locator=chunk.locator.to_dict(), text=chunk.text, metadata=chunk.metadata,
                        date=chunk.date if chunk.date is not None else record.mtime, vectors=row_vectors,
                    ))
                batch = list(itertools.islice(stream.rest, STREAM_AFTER))
        except IndexMismatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken file must never stop the run
            return _as_error(path, exc)
        return rows

    def _flush(self, buffer: list[_Pending]) -> int:
        if not buffer:
            return 0
        keys = [p.record.key for p in buffer]
        rows = [row for p in buffer for row in p.rows]
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

