"""One writer at a time per store: a cross-process lock file beside the catalog (``<store>/write.lock``).

Every write path (index, delete, concept writes, optimize, crash recovery) holds the lock; readers
never take it and never write. The lock is an ``flock`` on an open file, so the kernel drops it when
its holder dies (``kill -9`` included): there is no stale lock to clean up. The holder writes its
pid into the file so a waiting process can say whom it waits for. A store without a local folder
(``memory://``, a Milvus server) gets a process-local lock.

The lock is re-entrant within one thread (``Engine.index`` holds it around the indexer, which takes
it again), and other threads of the same process wait like other processes do.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from polyseek.errors import StoreBusyError

log = logging.getLogger(__name__)
LOCK_NAME = "write.lock"
POLL_SECONDS = 0.1  # a waiting writer retries this often, so it can be cancelled while it waits

WaitCallback = Callable[[str], None]

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


class WriterLock:
    """The writer lock of one store. Use :meth:`hold` as a context manager.

    >>> lock = WriterLock(None)  # process-local, as for memory://
    >>> with lock.hold():
    ...     with lock.hold():  # re-entrant in one thread
    ...         lock.held
    True
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._depth > 0 and self._thread_lock._is_owned()  # type: ignore[attr-defined]

    def holder(self) -> int | None:
        """The pid written by the process that holds (or last held) the lock, if any."""
        if self.path is None:
            return os.getpid()
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _busy_message(self) -> str:
        pid = self.holder()
        who = f" (pid {pid})" if pid else ""
        return f"another polyseek is indexing this store{who}"

    @contextmanager
    def hold(self, *, wait: bool = True, on_wait: WaitCallback | None = None) -> Iterator[None]:
        """Hold the lock for the block. ``wait=False`` raises :class:`StoreBusyError` at once if another writer has it;
        otherwise ``on_wait(message)`` is called about every 0.1 s while waiting (it may raise to give up)."""
        self.acquire(wait=wait, on_wait=on_wait)
        try:
            yield
        finally:
            self.release()

    def acquire(self, *, wait: bool = True, on_wait: WaitCallback | None = None) -> None:
        announced = False

        def waiting() -> None:
            nonlocal announced
            message = self._busy_message()
            if not wait:
                raise StoreBusyError(message, hint="wait for it to finish, or run again without --no-wait")
            if not announced:
                log.warning("%s; waiting…", message)
                announced = True
            if on_wait is not None:
                on_wait(message + "; waiting…")
            time.sleep(POLL_SECONDS)

        while not self._thread_lock.acquire(blocking=False):
            waiting()
        if self._depth > 0:  # re-entered by the thread that holds it
            self._depth += 1
            return
        try:
            if self.path is not None:
                fd = self._open()
                try:
                    while not _try_lock(fd):
                        waiting()
                except BaseException:
                    os.close(fd)
                    raise
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fd = fd
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1

    def release(self) -> None:
        if not self.held:
            raise RuntimeError("release of a writer lock this thread does not hold")
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
                _unlock(fd)
            finally:
                os.close(fd)
        self._thread_lock.release()

    def _open(self) -> int:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreBusyError(f"cannot open the writer lock {self.path}: {exc.strerror}",
                                 hint="check the store folder's permissions") from exc


_shared: dict[str, WriterLock] = {}
_shared_guard = threading.Lock()


def lock_for(store: object) -> WriterLock:
    """The writer lock of a store: ``<folder>/write.lock`` for a store with a local folder (LanceDB, Milvus Lite),
    one process-local lock per store object otherwise. Engines of one process on one folder share the lock."""
    folder = getattr(store, "path", None)
    if folder is None:
        lock = getattr(store, "_polyseek_writer_lock", None)
        if lock is None:
            lock = WriterLock(None)
            try:
                store._polyseek_writer_lock = lock  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - a store with __slots__
                pass
        return lock
    target = Path(folder) / LOCK_NAME  # the folder that holds catalog.sqlite
    key = os.path.abspath(target)
    with _shared_guard:
        if key not in _shared:
            _shared[key] = WriterLock(target)
        return _shared[key]
