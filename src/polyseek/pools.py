"""Thread pools started on first use and forgotten in a forked child, which has none of its parent's threads (a
copied executor would take work and never answer)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


class LazyPool:
    """One process-wide executor of ``workers`` threads named ``prefix``, started by the first :meth:`get`."""

    def __init__(self, workers: int, prefix: str) -> None:
        self.workers, self.prefix = workers, prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.prefix)
            return self._pool

    def _forget(self) -> None:  # in the forked child: a pool (and a lock) of its own on first use
        self._pool, self._lock = None, threading.Lock()
