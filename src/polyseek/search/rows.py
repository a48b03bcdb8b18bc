"""The store as one query sees it: each row fetched once and shared by every later stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from polyseek.pools import LazyPool
from polyseek.stores.base import Row, Store
from polyseek.types import Filters

# From this many rows a query's dense spaces are searched side by side, one thread each: a large store's search is a
# numpy scan that releases the GIL (100k rows: ~3 ms per space), a small one's is not worth a thread hop
PARALLEL_MIN_ROWS = 50_000
_POOL = LazyPool(2, "polyseek-search")


def _pool() -> ThreadPoolExecutor:
    return _POOL.get()


class RowCache:
    """Rows by id, fetched from the store on first use; a lexical search started early (:meth:`text_search_soon`)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: dict[str, Row] = {}
        self._pending: dict[tuple[str, int, Filters | None], Callable[[], list[tuple[str, float]]]] = {}
        self._started: dict[tuple, Future] = {}  # dense searches started early (search_soon), by request

    def get(self, ids: Sequence[str]) -> list[Row]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._rows]
        if missing:
            self._rows.update((row.id, row) for row in self._store.get(missing))
        return [self._rows[i] for i in ids if i in self._rows]

    def by_id(self, ids: Sequence[str]) -> dict[str, Row]:
        return {row.id: row for row in self.get(ids)}

    def search_many(self, requests: Sequence[tuple[str, np.ndarray, int, Filters | None]]) -> list[list[tuple[str, float]]]:
        """``store.search(space, vector, k, filters)`` for each request, in order; side by side in a large store; the
        answer of one started early (:meth:`search_soon`) taken as it is."""
        early = [self._started.pop(_key(request), None) for request in requests]
        if not any(early) and (len(requests) < 2 or self._store.count() < PARALLEL_MIN_ROWS):
            return [self._store.search(*request) for request in requests]
        todo = [request for request, future in zip(requests, early) if future is None]
        later = iter([_pool().submit(self._store.search, *request) for request in todo[1:]])
        first = self._store.search(*todo[0]) if todo else None
        found = []
        for request, future in zip(requests, early):
            if future is None:
                if first is not None:
                    found.append(first)
                    first = None
                    continue
                future = next(later)
            # one no pool thread has started yet: this thread runs it
            found.append(self._store.search(*request) if future.cancel() else future.result())
        return found

    def search_soon(self, requests: Sequence[tuple[str, np.ndarray, int, Filters | None]]) -> None:
        """Start these searches on the pool now, for a :meth:`search_many` of the same requests later (a large store
        only; a small one's searches are not worth a thread hop and simply run when asked)."""
        if not requests or self._store.count() < PARALLEL_MIN_ROWS:
            return
        for request in requests:
            key = _key(request)
            if key not in self._started:
                self._started[key] = _pool().submit(self._store.search, *request)

    def text_search_soon(self, text: str, k: int, filters: Filters | None = None) -> None:
        """Start ``text_search(text, k, filters)`` now where the store can run it beside this thread (LanceDB's BM25
        runs in Rust on its own threads: the query is encoded meanwhile). A store without that does nothing here."""
        start = getattr(self._store, "text_search_soon", None)
        if start is not None and (text, k, filters) not in self._pending:
            self._pending[(text, k, filters)] = start(text, k, filters)

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """The store's lexical search; the one started early when it was asked the same."""
        pending = self._pending.pop((text, k, filters), None)
        return pending() if pending is not None else self._store.text_search(text, k, filters)

    def __getattr__(self, name: str) -> Any:  # search, count: the store's own
        return getattr(self._store, name)


def _key(request: tuple[str, np.ndarray, int, Filters | None]) -> tuple:
    space, vector, k, filters = request
    return space, np.asarray(vector, dtype=np.float32).tobytes(), k, filters
