"""What the server's handlers share: settings, the engine, the search pool, job queue, caches and sessions."""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from polyseek.errors import ServerBusyError
from polyseek.server.jobs import JobManager
from polyseek.server.media import ImageCache
from polyseek.server.security import AttemptLimiter, RootPolicy, SessionStore
from polyseek.server.uploads import DecodeGate

T = TypeVar("T")


@dataclass(frozen=True)
class ServerSettings:
    """How this server was started; fixed for its lifetime."""

    token: str | None
    max_upload_bytes: int
    allowed_hosts: tuple[str, ...] | None = None
    ask_options: dict[str, Any] = field(default_factory=dict)
    search_workers: int = 2
    search_queue: int = 16
    max_concurrent_decodes: int = 2


class SearchPool:
    """Searches run on ``workers`` threads (one per core by default) with at most ``queue`` waiting; past that a
    request is answered 503 with Retry-After at once instead of waiting behind everyone else."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = max(1, workers)
        self.queue = max(0, queue)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="polyseek-search")
        self._admitted = threading.BoundedSemaphore(self.workers + self.queue)
        self._average = 0.05  # seconds per search, a moving average for Retry-After
        self._lock = threading.Lock()
        self.in_flight = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._admitted.acquire(blocking=False):
            raise ServerBusyError("the server is busy: every search worker is taken and the queue is full",
                                  retry_after=self.retry_after(), hint="retry after the time in Retry-After")
        with self._lock:
            self.in_flight += 1
        try:
            future = self._executor.submit(self._timed, fn, *args)
        except RuntimeError:  # shut down
            self._release(None)
            raise
        future.add_done_callback(self._release)  # a slot is freed when the work ends, even if the client left
        return await asyncio.wrap_future(future)

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._average = 0.8 * self._average + 0.2 * elapsed

    def _release(self, _future: Any) -> None:
        with self._lock:
            self.in_flight -= 1
        self._admitted.release()

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained: queued searches times their average time, per worker."""
        with self._lock:
            waiting, average = self.in_flight, self._average
        return max(1, math.ceil(waiting * average / self.workers))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class ServerState:
    """Everything a request handler may reach, through the dependencies in :mod:`polyseek.server.deps`."""

    engine: Any
    settings: ServerSettings
    policy: RootPolicy
    jobs: JobManager
    images: ImageCache
    temp_dir: Path
    searches: SearchPool
    decodes: DecodeGate
    sessions: SessionStore = field(default_factory=SessionStore)
    attempts: AttemptLimiter = field(default_factory=AttemptLimiter)


def default_search_workers() -> int:
    """One search worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
