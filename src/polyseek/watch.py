"""A live index: file changes under watched folders (watchfiles) are settled, batched and sent to the indexer.

A change is acted on once its path has been quiet for ``settle`` seconds: the file's size and mtime unchanged
and no new event for it, so a photo still being copied or a PDF still being downloaded is never indexed
half-way. Everything that settled together goes to one ``engine.index(paths)`` (added and modified files,
the new name of a moved file) and one ``engine.delete(paths)`` (deleted files, the old name of a moved one).

>>> watcher = Watcher(engine, ["~/Pictures"]).start()   # doctest: +SKIP
>>> watcher.status()["live"]                              # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.errors import InvalidInputError, PolyseekError
from polyseek.types import IndexSummary

log = logging.getLogger(__name__)
DEFAULT_SETTLE_S = 2.0
DEFAULT_DEBOUNCE_MS = 400
TICK_MS = 250  # how often pending paths are re-checked when no event arrives
HISTORY = 50


@dataclass(frozen=True)
class WatchBatch:
    """What one settled batch did: paths sent to the indexer, paths removed, and the indexer's summary."""

    indexed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    summary: IndexSummary | None = None
    removed_items: int = 0
    at: float = field(default_factory=time.time)
    error: str | None = None
    initial: bool = False  # the catch-up run over the watched paths at start

    def to_dict(self) -> dict[str, Any]:
        return {"indexed": list(self.indexed), "removed": list(self.removed), "removed_items": self.removed_items,
                "summary": self.summary.to_dict() if self.summary else None, "at": self.at, "error": self.error,
                "initial": self.initial}

    def describe(self) -> str:
        parts = []
        if self.summary is not None:
            s = self.summary
            parts.append(f"added {s.added}, updated {s.updated}, unchanged {s.unchanged}, removed {s.removed}, "
                         f"failed {len(s.failed)} ({s.items} items, {s.seconds:.1f}s)")
        if self.removed:
            parts.append(f"deleted {len(self.removed)} path(s), {self.removed_items} item(s)")
        if self.error:
            parts.append(f"error: {self.error}")
        return "; ".join(parts) or "nothing to do"


@dataclass
class _Pending:
    signature: tuple | None
    since: float


def _signature(path: str) -> tuple | None:
    """(kind, size, mtime) of a path, or None when it is gone: a file being written changes it."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return ("dir" if os.path.isdir(path) else "file", stat.st_size, stat.st_mtime_ns)


def signature_kind(path: str) -> str | None:
    signature = _signature(path)
    return signature[0] if signature else None


class Watcher:
    """Keeps ``engine``'s index of ``paths`` up to date while it runs (``start()`` in a thread, or ``run()``)."""

    def __init__(self, engine: Any, paths: Sequence[str | os.PathLike[str]], *, settle: float = DEFAULT_SETTLE_S,
                 debounce_ms: int = DEFAULT_DEBOUNCE_MS, on_batch: Callable[[WatchBatch], None] | None = None,
                 force_polling: bool | None = None, initial: bool = False) -> None:
        if not paths:
            raise InvalidInputError("nothing to watch", hint="give one or more folders or files")
        resolved = []
        for raw in paths:
            path = Path(file_key(raw))
            if not path.exists():
                raise InvalidInputError(f"cannot watch {path}: no such file or folder", hint="give existing folders or files")
            resolved.append(path)
        if not settle >= 0 or settle > 3600:
            raise InvalidInputError(f"settle must be from 0 to 3600 seconds, got {settle!r}")
        self.engine = engine
        self.paths = list(dict.fromkeys(resolved))
        self.settle = float(settle)
        self.debounce_ms = int(debounce_ms)
        self.on_batch = on_batch
        self.force_polling = force_polling
        self.initial = initial
        self.batches: list[WatchBatch] = []
        self.last_error: str | None = None
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        store_dir = getattr(engine.store, "path", None)
        self._store_dir = Path(store_dir).absolute() if store_dir else None
        from polyseek.ingest.base import supported_extensions

        self._extensions = frozenset(supported_extensions())

    # ---- what is watched ----------------------------------------------------------------------
    def _ignored(self, path: str) -> bool:
        """Hidden files and folders (as the indexer skips them) and the index's own folder."""
        candidate = Path(path)
        if self._store_dir is not None and (candidate == self._store_dir or candidate.is_relative_to(self._store_dir)):
            return True
        for root in self.paths:
            if candidate == root or candidate.is_relative_to(root):
                return any(part.startswith(".") for part in candidate.relative_to(root).parts)
        return False

    def _wanted(self, change: Any, path: str) -> bool:
        """watchfiles filter: supported files and folders; any deletion (a folder's name has no extension)."""
        if self._ignored(path):
            return False
        from watchfiles import Change

        if change == Change.deleted:
            return True
        return Path(path).suffix.lower().lstrip(".") in self._extensions or os.path.isdir(path)

    # ---- the loop -----------------------------------------------------------------------------
    def start(self) -> Watcher:
        """Watch in a daemon thread; returns self once the watcher is listening."""
        self._thread = threading.Thread(target=self.run, name="polyseek-watch", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching; a batch being indexed finishes first."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def live(self) -> bool:
        return self._ready.is_set() and not self._stop.is_set() and (self._thread is None or self._thread.is_alive())

    def status(self) -> dict[str, Any]:
        """For ``/api/status`` and the CLI: live, what is watched, what waits to settle, the last batch."""
        with self._lock:
            pending = len(self._pending)
        last = self.batches[-1] if self.batches else None
        return {"live": self.live, "paths": [str(p) for p in self.paths], "settle_s": self.settle, "pending": pending,
                "batches": len(self.batches), "last_batch": last.to_dict() if last else None, "last_error": self.last_error}

    def run(self) -> None:
        """Watch until :meth:`stop` (or Ctrl+C in the calling thread); blocks."""
        import watchfiles

        try:
            iterator = watchfiles.watch(
                *self.paths, watch_filter=self._wanted, debounce=self.debounce_ms, step=50, stop_event=self._stop,
                rust_timeout=TICK_MS, yield_on_timeout=True, raise_interrupt=False, force_polling=self.force_polling,
                ignore_permission_denied=True,
            )
            for changes in iterator:  # the OS watch starts at the first step; it yields every TICK_MS at least
                now = time.monotonic()
                with self._lock:
                    for _change, path in changes:
                        self._pending[path] = _Pending(signature=_signature(path), since=now)
                if not self._ready.is_set():
                    self._ready.set()
                    if self.initial:  # catch up while the OS already records changes for the next steps
                        self.apply([str(p) for p in self.paths], initial=True)
                self._flush_settled(now)
        finally:
            self._ready.set()
            self._stop.set()

    def _flush_settled(self, now: float) -> None:
        ready: list[str] = []
        with self._lock:
            for path, pending in list(self._pending.items()):
                signature = _signature(path)
                if signature != pending.signature:  # still being written (or replaced): wait again
                    pending.signature, pending.since = signature, now
                elif now - pending.since >= self.settle:
                    ready.append(path)
            waiting = [p for p in self._pending if p not in set(ready)]
            for path in list(ready):
                if signature_kind(path) == "dir" and any(w.startswith(path.rstrip(os.sep) + os.sep) for w in waiting):
                    ready.remove(path)  # indexing the folder now would take a file inside it that is still being written
            for path in ready:
                del self._pending[path]
        if ready:
            self.apply(ready)

    def apply(self, paths: Sequence[str], initial: bool = False) -> WatchBatch:
        """Send settled paths to the index: existing ones to ``engine.index``, vanished ones to ``engine.delete``."""
        present = sorted(p for p in paths if os.path.exists(p))
        gone = sorted(p for p in paths if not os.path.exists(p))
        summary, removed, removed_items, error = None, [], 0, None
        try:
            if gone:
                indexed = [record["path"] for record in self.engine.files()]
                for path in gone:
                    prefix = path.rstrip(os.sep) + os.sep
                    if any(key == path or key.startswith(prefix) for key in indexed):
                        removed.append(path)
                if removed:
                    removed_items = self.engine.delete(removed)
            if present:
                summary = self.engine.index(present)
        except PolyseekError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not end the watch; the log keeps the trace
            log.exception("watch: indexing a batch failed")
            error = f"{type(exc).__name__}: {exc}"
        batch = WatchBatch(indexed=tuple(present), removed=tuple(removed), summary=summary,
                           removed_items=removed_items, error=error, initial=initial)
        if error:
            self.last_error = error
            log.warning("watch: %s", error)
        if summary is not None or removed or error:
            self.batches = (self.batches + [batch])[-HISTORY:]
            if self.on_batch is not None:
                self.on_batch(batch)
        return batch
