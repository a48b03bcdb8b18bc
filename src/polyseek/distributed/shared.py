"""The index description shared through the store: a collection that carries it opens on any machine from its URI.

The writer (the indexing coordinator) keeps the catalog of files and the write journal in local SQLite; it also
publishes the catalog's ``index`` meta (schema version; per space the encoder, dimension and weights revision) into
the store, for a store that can hold it (:meth:`polyseek.stores.milvus.MilvusStore.write_description`). An engine
on another machine, with no catalog there, reads it back and checks its encoders against it as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyseek.catalog import Catalog
from polyseek.errors import NotFoundError
from polyseek.stores.base import Store

CATALOG_FILE = "catalog.sqlite"


def shared_description(store: Store) -> dict[str, Any] | None:
    """The index description stored with the collection, or None (none yet, or a store that cannot hold one)."""
    read = getattr(store, "read_description", None)
    return read() if read is not None else None


def open_catalog(store: Store, *, read_only: bool = False) -> Catalog:
    """The catalog beside ``store``. A reader (``read_only``) on a machine without one gets an in-memory catalog
    that holds only the description stored with the collection; a catalog with no description adopts it too
    (a ``serve`` on a new machine). The local catalog wins otherwise: the writer republishes it on every run.
    A reader of a shared store with neither is refused (:class:`NotFoundError`)."""
    local_dir = getattr(store, "path", None)
    path = Path(local_dir) / CATALOG_FILE if local_dir else None
    can_share = hasattr(store, "read_description")
    shared = shared_description(store) if can_share else None
    if read_only and can_share and path is not None and not path.is_file():
        if shared is None:
            raise NotFoundError(f"no polyseek index at {store.uri}: the collection has no index description and "
                                "this machine has no catalog for it",
                                hint="index it first (polyseek index PATHS --store URI), or check the collection name")
        path = None  # nothing is written by a reader: the catalog lives in memory
    catalog = Catalog(path)
    if shared is not None and catalog.get_meta("index") is None:
        catalog.set_meta("index", shared)
    return catalog


def publish_description(store: Store, catalog: Catalog) -> None:
    """Store the catalog's index description with the collection (a no-op for stores that cannot hold one)."""
    write = getattr(store, "write_description", None)
    meta = catalog.get_meta("index")
    if write is not None and meta is not None:
        write(meta)
