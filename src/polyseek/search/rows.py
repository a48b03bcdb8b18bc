"""The store as one query sees it: each row fetched once and shared by every later stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polyseek.stores.base import Row, Store


class RowCache:
    """Rows by id, fetched from the store on first use."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: dict[str, Row] = {}

    def get(self, ids: Sequence[str]) -> list[Row]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._rows]
        if missing:
            self._rows.update((row.id, row) for row in self._store.get(missing))
        return [self._rows[i] for i in ids if i in self._rows]

    def by_id(self, ids: Sequence[str]) -> dict[str, Row]:
        return {row.id: row for row in self.get(ids)}

    def __getattr__(self, name: str) -> Any:  # search, text_search, count: the store's own
        return getattr(self._store, name)
