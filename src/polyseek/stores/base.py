"""Store protocol: items with named vectors, metadata and a lexical index; plus URI → backend routing."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from polyseek.errors import InvalidInputError, StoreURIError
from polyseek.registry import Registry
from polyseek.types import Filters, Item, Locator, Modality


@dataclass
class Row:
    """What a store holds for one item: the item fields plus its vectors by space name."""

    id: str
    doc: str  # key of the source file the item came from (absolute path)
    path: str
    modality: str
    locator: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    date: float = 0.0
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ext(self) -> str:
        return Path(self.path).suffix.lower().lstrip(".")

    def to_item(self) -> Item:
        return Item(
            id=self.id,
            path=self.path,
            modality=Modality(self.modality),
            locator=Locator.from_dict(self.locator),
            text=self.text,
            metadata=self.metadata,
        )


@runtime_checkable
class Store(Protocol):
    """Six verbs, plus a small key-value area for the index's own description."""

    uri: str

    def create(self, spaces: dict[str, int]) -> None:
        """Make sure vector spaces ``{name: dim}`` exist (adding new ones keeps old data)."""

    def upsert(self, rows: Sequence[Row]) -> None:
        """Insert or replace rows by id, atomically for the whole batch where the backend allows."""

    def delete(self, *, ids: Sequence[str] = (), docs: Sequence[str] = ()) -> None:
        """Remove rows by item id or by source document key."""

    def search(
        self, space: str, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Nearest rows in ``space`` by inner product (vectors are normalised): ``[(id, score)]``."""

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """BM25 over the rows' text: ``[(id, score)]``, best first."""

    def get(self, ids: Sequence[str]) -> list[Row]:
        """Rows by id, in the order asked, skipping unknown ids (vectors not loaded)."""

    def get_vectors(self, space: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of ``ids`` in ``space`` (rows without one are absent)."""

    def count(self) -> int: ...

    def optimize(self) -> None:
        """Build or refresh indexes after a batch of writes (vector ANN index, lexical index)."""

    def close(self) -> None: ...


def check_vector(space: str, vector: np.ndarray, dim: int, row_id: str) -> np.ndarray:
    """Refuse a vector of the wrong size or with NaN/inf at write time."""
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != dim:
        raise InvalidInputError(f"vector for {row_id!r} in space {space!r} has {vector.shape[0]} dims, expected {dim}")
    if not np.isfinite(vector).all():
        raise InvalidInputError(f"vector for {row_id!r} in space {space!r} has NaN or infinite values")
    return vector


def matches(row: Row, filters: Filters | None) -> bool:
    """Reference semantics of :class:`Filters`, used by the memory store and the contract tests."""
    if filters is None or filters.is_empty():
        return True
    if filters.path_glob and not fnmatch.fnmatchcase(row.path, filters.path_glob):
        return False
    if filters.file_types and row.ext not in filters.file_types:
        return False
    if filters.modalities and row.modality not in {m.value for m in filters.modalities}:
        return False
    if filters.date_from is not None and row.date < filters.date_from:
        return False
    if filters.date_to is not None and row.date > filters.date_to:
        return False
    return True


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


stores: Registry[Store] = Registry(
    "store",
    lazy={"memory": "polyseek.stores.memory", "lancedb": "polyseek.stores.lancedb", "milvus": "polyseek.stores.milvus"},
)

SCHEMES = {
    "memory": "memory", "file": "lancedb", "lancedb": "lancedb",
    "milvus": "milvus", "milvus+https": "milvus", "milvus+lite": "milvus",  # stores/milvus.py reads the rest
}
VALID_URIS = ("memory://, a folder path, file:///path, lancedb:///path, milvus://host:port[/collection], "
              "milvus+https://host:port[/collection], milvus+lite:///path/to/index.db")


def open_store(uri: str | os.PathLike[str]) -> Store:
    """Open a store by URI: ``memory://``, a local path (LanceDB), ``lancedb:///abs/path``, ``milvus://host:port``,
    ``milvus+lite:///abs/path/index.db``."""
    text = os.fspath(uri)
    if not text or not isinstance(text, str):
        raise StoreURIError("empty store URI", hint="valid: " + VALID_URIS)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        backend = SCHEMES.get(scheme.lower())
        if backend is None and scheme.lower() in stores.names():  # a plugin's store, registered under its scheme
            backend = scheme.lower()
        if backend is None:
            raise StoreURIError(
                f"unknown store scheme {scheme!r} in {text!r}",
                hint="valid: " + VALID_URIS,
            )
        if backend == "lancedb":
            return stores.create("lancedb", rest)
        return stores.create(backend, text)
    return stores.create("lancedb", text)
