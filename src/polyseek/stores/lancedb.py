"""Embedded default store on LanceDB: one table, a vector column per space, native BM25 full-text index."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import logging
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from polyseek.errors import StoreError
from polyseek.stores import shortlist
from polyseek.stores.base import Row, check_vector, dumps, stores
from polyseek.stores.filters import LANCE, compile_filters, sql_quote
from polyseek.stores.shortlist import Shortlists
from polyseek.types import Filters

if TYPE_CHECKING:
    from lancedb.query import LanceQueryBuilder
    from lancedb.table import Table

log = logging.getLogger(__name__)

TABLE = "items"
# Below this many rows a space is searched exactly, in memory (about 1.5 KB of RAM per row of a 384-d space):
# on 2 cores that is p50 8 ms at 100k rows with recall 1.0, where the IVF_HNSW_SQ index gave 14-16 ms at
# recall 0.93 (benchmarks/store_latency.py). Past it, the ANN index is built and searched.
ANN_MIN_ROWS = 150_000
# IVF partitions of ~1k rows, 20 searched per query: at 200k clustered 384-d rows p50 13 ms, recall@10 0.95,
# where 4k-row partitions with 12 probes gave 14 ms at 0.84 (measured 2026-11-26, 2 quiet cores).
ROWS_PER_PARTITION = 1024
NPROBES = 20
REFINE_FACTOR = 4  # re-score 4k candidates with full-precision vectors: SQ codes blur near ties
# From this many rows optimize() also writes a quantised shortlist per space (polyseek.stores.shortlist: int8
# PCA-prefix codes in RAM, ~140 bytes per row, float32 vectors memory-mapped for the exact rescoring), and
# searches use it while it matches the table's version; a write makes it stale until the next optimize(), and
# Lance's own index answers meanwhile. At 1M rows: benchmarks/query_latency.py --sizes 1000000.
SHORTLIST_MIN_ROWS = 50_000
SHORTLIST_FOLDER = "_shortlists"
# From this many rows (and below ANN_MIN_ROWS) optimize() writes a flat snapshot of each space beside the table
# (float32 vectors, ids and filter columns; polyseek.stores.shortlist.build_flat): a new process memory-maps it
# instead of reading every vector back through Lance (100k rows: 1.6 s of a cold `polyseek search`). A write
# makes it stale like a shortlist; the store then reads Lance as before. Costs 4 bytes per dimension on disk.
# In the same range a rows snapshot (every row's stored fields, sorted by id, an Arrow file) answers get() by id:
# 3 Lance B-tree queries per search cost 5-20 ms each on 2 busy cores.
FLAT_SNAPSHOT_MIN_ROWS = 10_000
# Query vectors whose scores a space keeps (the pipeline searches one vector under several filters, and the
# calibration sample searches the same 8 directions, and their opposites, for every kind of item)
SCORE_CACHE = 24
FILTER_CACHE = 64  # filters whose passing rows a store keeps (per space and table version)
# From this BM25 query of one table version on, a process maps Lance's row ids to item ids (one scan of the id column,
# ~25 ms of CPU and ~80 bytes per row at 100k rows) and asks BM25 for row ids and scores alone: reading the matches'
# ``id`` and ``path`` columns cost more than the search itself (100k rows: 3.8 -> 1.7 ms of CPU per query). A command
# that searches once never makes the map.
ROW_ID_MAP_AFTER = 3
# A reader re-checks the table's latest version at most this often, so a running server sees another
# process's writes within about a second; the check reads one small manifest listing.
READ_CONSISTENCY_SECONDS = 0.5
# ...and a search takes the table's version from its last look if that was this recent: one search asks for it
# ~17 times (per kind, per space, the row count, the rows), and each ask is a round trip to lancedb's event-loop
# thread (0.1 ms on a quiet core, 2 ms at load 13 on 2 cores). This process's own writes reset it at once.
VERSION_RECHECK_SECONDS = READ_CONSISTENCY_SECONDS
BASE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("doc", pa.string()),
    pa.field("path", pa.string()),
    pa.field("ext", pa.string()),
    pa.field("modality", pa.string()),
    pa.field("date", pa.float64()),
    pa.field("locator", pa.string()),
    pa.field("metadata", pa.string()),
    pa.field("text", pa.string()),
]


def import_lancedb():
    """``lancedb``, without running its REST namespace client's package ``__init__`` (``lancedb.db`` imports that
    client's response models, whose package also builds 366 pydantic-validated API methods: ~0.7 s of CPU of a
    cold command, for a REST catalogue a local folder store never calls). The package is registered with its
    path, so its submodules import as usual; the first attribute asked of the package itself runs its
    ``__init__`` then, so a caller that does use the REST client gets the whole package."""
    if "lancedb" in sys.modules:
        return sys.modules["lancedb"]
    name = "lance_namespace_urllib3_client"
    if name not in sys.modules:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.loader is not None and spec.submodule_search_locations is not None:
            module = importlib.util.module_from_spec(spec)
            lock = threading.RLock()
            loader = spec.loader

            def complete(attribute: str):
                with lock:
                    if module.__dict__.pop("__getattr__", None) is not None:
                        loader.exec_module(module)
                try:
                    return module.__dict__[attribute]
                except KeyError:
                    raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

            module.__getattr__ = complete  # type: ignore[method-assign]
            sys.modules[name] = module
    with _IMPORT_LOCK, _deferred_pydantic_models(), _typing_overrides():
        import lancedb

    return lancedb


_IMPORT_LOCK = threading.Lock()


class _typing_overrides:  # noqa: N801 - used as a context manager
    """While lancedb is imported on Python < 3.12, its ``from overrides import EnforceOverrides, override`` gets what
    lancedb itself uses on 3.12: ``typing_extensions.override`` (marks the method, checks nothing) and a plain base
    class, instead of the ``overrides`` package, whose decorator reads every decorated method's bytecode when its
    class is built (~100 methods: 0.12 s of CPU of a cold command). Only lancedb's modules import meanwhile; a
    process that already imported ``overrides``, or imports it later, has the real package."""

    shim: object = None

    def __enter__(self) -> None:
        if sys.version_info >= (3, 12) or "overrides" in sys.modules:
            return
        try:
            from typing_extensions import override
        except ImportError:
            return
        import types

        shim = types.ModuleType("overrides")
        shim.override = shim.overrides = override  # type: ignore[attr-defined]
        shim.EnforceOverrides = type("EnforceOverrides", (), {"__module__": "overrides"})  # type: ignore[attr-defined]
        sys.modules["overrides"] = self.shim = shim

    def __exit__(self, *exc: object) -> None:
        if self.shim is not None and sys.modules.get("overrides") is self.shim:
            del sys.modules["overrides"]


class _deferred_pydantic_models:  # noqa: N801 - used as a context manager
    """While lancedb is imported, pydantic models are created with ``defer_build``: the ~200 models of lancedb and
    the namespace client build their validators on first use instead of at import (0.2 s of CPU of a cold command;
    a local store uses a handful of them). Models that are never used are never built; nothing else changes."""

    config: dict | None = None
    had: object = None

    def __enter__(self) -> None:
        try:
            import pydantic

            config = cast("dict", pydantic.BaseModel.model_config)
            self.had = config.get("defer_build", _deferred_pydantic_models)
            config["defer_build"] = True
            self.config = config
        except (ImportError, AttributeError, TypeError):
            self.config = None

    def __exit__(self, *exc: object) -> None:
        if self.config is None:
            return
        if self.had is _deferred_pydantic_models:  # it was not set: pydantic's default again
            self.config.pop("defer_build", None)
        else:
            self.config["defer_build"] = self.had


def _no_hits() -> list[tuple[str, float]]:
    return []


def _started(table: Table, builder: LanceQueryBuilder) -> Callable[[], pa.Table]:
    """Start a query of lancedb's sync API on its event-loop thread in one round trip, and return a function that
    waits for its rows. ``builder.to_arrow()`` makes six (the schema twice, the plan, each batch, the schema again),
    each a wake-up of that thread: ~0.2 ms on a quiet core, 1-3 ms on busy ones. The query object is the one
    ``to_arrow()`` runs (this store's schema has no blob columns, for which it would add row ids); where lancedb's
    internals differ, ``to_arrow()`` itself runs."""
    import asyncio
    import inspect

    from lancedb import background_loop

    execute = getattr(getattr(table, "_table", None), "_execute_query", None)
    if execute is None or not inspect.iscoroutinefunction(execute):
        return builder.to_arrow
    query = builder.to_query_object()

    async def collect() -> pa.Table:
        reader = await execute(query)
        return pa.Table.from_batches(await reader.read_all(), schema=reader.schema)

    future = asyncio.run_coroutine_threadsafe(collect(), background_loop.LOOP.loop)

    def wait() -> pa.Table:
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    return wait


def filter_sql(filters: Filters | None, space: str | None = None) -> str | None:
    """A LanceDB SQL condition for ``filters`` (the glob's ``[...]`` classes are checked again on results)."""
    return compile_filters(filters, LANCE, space).expression


def fts_columns(post_glob: str | None) -> list[str]:
    """The columns a BM25 query reads for :func:`fts_hits` (``path`` only where a glob is checked on the results)."""
    return ["id", "_score"] if post_glob is None else ["id", "path", "_score"]


def fts_hits(result: Any, post_glob: str | None, k: int, ids: list[str] | None = None) -> list[tuple[str, float]]:
    """A BM25 answer (an Arrow table of ``id``, ``_score`` and, with ``post_glob``, ``path``) as ``(id, score)``, best
    first, ties by id; the rows whose path fails ``post_glob`` (a glob the store could not push down) dropped, ``k``
    kept of the rest. ``ids``: the rows' item ids, where the answer holds row ids instead (:class:`RowIdMap`)."""
    ids = result.column("id").to_pylist() if ids is None else ids
    scores = result.column("_score").to_pylist()  # plain floats; to_numpy() would import pandas (0.4 s cold)
    if post_glob is not None:
        keep = [i for i, path in enumerate(result.column("path").to_pylist()) if fnmatch.fnmatchcase(path, post_glob)][:k]
        ids, scores = [ids[i] for i in keep], [scores[i] for i in keep]
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
    return [(ids[i], float(scores[i])) for i in order]


class RowIdMap:
    """Lance's row ids of a table, sorted, beside each row's item id: a BM25 answer of row ids read as item ids.

    A row id names one stored row for good (a fragment's rows are never rewritten in place; compaction and updates
    write new fragments under new ids), so the map never names a row wrongly; a row written after it was made is
    missing from it, and :meth:`ids` says so."""

    def __init__(self, row_ids: np.ndarray, ids: np.ndarray) -> None:
        self.row_ids = row_ids  # uint64, ascending
        self.ids = ids  # the item ids in the same order: UTF-8 bytes of one width (~20 bytes a row), or str objects

    @classmethod
    def of(cls, table: Table, rows: int) -> RowIdMap:
        data = table.search().select(["id"]).with_row_id(True).limit(max(rows, 1)).to_arrow()
        row_ids = data.column("_rowid").to_numpy()
        order = np.argsort(row_ids, kind="stable")
        names = data.column("id").to_pylist()
        encoded = [name.encode("utf-8") for name in names]
        # fixed-width bytes drop a trailing NUL: such ids stay Python strings
        ids = np.array(names, dtype=object) if any(e.endswith(b"\0") for e in encoded) else np.array(encoded, dtype=bytes)
        return cls(row_ids[order], ids[order])

    def lookup(self, row_ids: np.ndarray) -> list[str] | None:
        """The item id of each row id, in order; None when one is not in the map."""
        if not len(row_ids):
            return []
        if not len(self.row_ids):
            return None
        at = np.minimum(np.searchsorted(self.row_ids, row_ids), len(self.row_ids) - 1)
        if not np.array_equal(self.row_ids[at], row_ids):
            return None
        found = self.ids[at].tolist()
        return [name.decode("utf-8") for name in found] if self.ids.dtype.kind == "S" else found


@stores.register("lancedb")
class LanceStore:
    """A LanceDB folder. Each write is one Lance commit, so a kill leaves the previous version intact.

    Readers follow the latest version (checked at most every :data:`READ_CONSISTENCY_SECONDS`), so
    another process's writes show up; only writers (under :mod:`polyseek.locking`) build indexes.
    """

    def __init__(self, path: str) -> None:
        from datetime import timedelta

        lancedb = import_lancedb()
        self.path = Path(path).expanduser()
        self.uri = str(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(seconds=READ_CONSISTENCY_SECONDS))
        except OSError as exc:
            raise StoreError(f"cannot open store folder {self.path}: {exc}") from exc
        self.spaces: dict[str, int] = {}
        self.table: Table | None = None
        self._flat_cache: dict[str, tuple] = {}
        # recent queries' scores per space (SCORE_CACHE): the pipeline searches one query vector several times with
        # different filters (one per kind: calibration, per-kind fetch), and each would redo the whole matrix product
        self._last_scores: dict[str, tuple[np.ndarray, OrderedDict[bytes, np.ndarray]]] = {}
        self._scores_lock = threading.Lock()
        self._filter_cache: dict[tuple, np.ndarray] = {}
        self._positions_of: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._rows_at: tuple[int, int] = (-1, 0)  # (table version, its row count)
        self._fts_at: tuple[int, bool] = (-1, False)  # (table version, whether it has the full-text index)
        self._row_ids_at: tuple[int, int, RowIdMap | None] = (-1, 0, None)  # (table version, BM25 queries of it, map)
        self._version_at: tuple[Table | None, int, float] = (None, -1, 0.0)  # (table, its version, when it was asked)
        self._rows_snapshot_at: tuple[int, shortlist.RowsSnapshot | None] = (-1, None)
        self.shortlists = Shortlists(self.path / SHORTLIST_FOLDER)
        self._looked_for_table = time.monotonic()
        if TABLE in self._table_names():
            self.table = self.db.open_table(TABLE)
            self.spaces = self._spaces_of(self.table.schema)

    def refresh(self) -> None:
        """See the latest version now (a writer calls this once it holds the writer lock)."""
        self._wrote()
        if self.table is None:
            if TABLE in self._table_names():
                self.table = self.db.open_table(TABLE)
        else:
            self.table.checkout_latest()
        if self.table is not None:
            self.spaces = self._spaces_of(self.table.schema)
        self._looked_for_table = time.monotonic()

    def _current(self) -> Table | None:
        """The table for a read, or None while the store is empty (re-checked now and then: another process may
        create it); its vector spaces follow the schema as another process extends it."""
        if self.table is None and time.monotonic() - self._looked_for_table > READ_CONSISTENCY_SECONDS:
            self.refresh()
        return self.table

    def _table_names(self) -> list[str]:
        names = self.db.list_tables() if hasattr(self.db, "list_tables") else self.db.table_names()
        return list(getattr(names, "tables", names))

    @staticmethod
    def _spaces_of(schema: pa.Schema) -> dict[str, int]:
        return {f.name[4:]: f.type.list_size for f in schema if f.name.startswith("vec_")}

    def _schema(self, spaces: dict[str, int]) -> pa.Schema:
        fields = list(BASE_FIELDS)
        for space, dim in sorted(spaces.items()):
            fields.append(pa.field(f"vec_{space}", pa.list_(pa.float32(), dim)))
            fields.append(pa.field(f"has_{space}", pa.bool_()))
        return pa.schema(fields)

    def create(self, spaces: dict[str, int]) -> None:
        if self.table is None:
            self.refresh()  # another process may have made it since this store was opened
        for space, dim in spaces.items():
            if not space.isidentifier():
                raise StoreError(f"space names must be identifiers, got {space!r}")
            if space in self.spaces and self.spaces[space] != dim:
                raise StoreError(f"space {space!r} already holds {self.spaces[space]}-d vectors, not {dim}-d")
        if self.table is None:
            try:
                self.table = self.db.create_table(TABLE, schema=self._schema(dict(spaces)), exist_ok=True)
            except Exception:  # noqa: BLE001 - another process created it at the same moment: use theirs
                self.refresh()
                if self.table is None:
                    raise
            self.spaces = self._spaces_of(self.table.schema)
            if all(space in self.spaces for space in spaces):
                return
        missing = {s: d for s, d in spaces.items() if s not in self.spaces}
        if missing:
            new_fields = []
            for space, dim in missing.items():
                new_fields += [pa.field(f"vec_{space}", pa.list_(pa.float32(), dim)), pa.field(f"has_{space}", pa.bool_())]
            self.table.add_columns(pa.schema(new_fields))
            self.table = self.db.open_table(TABLE)
            self.spaces = self._spaces_of(self.table.schema)

    def _require_table(self) -> Table:
        if self.table is None:
            raise StoreError(f"store {self.uri} is empty", hint="index something first: polyseek index PATH")
        return self.table

    def upsert(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        table = self._require_table()
        columns: dict[str, list] = {f.name: [] for f in BASE_FIELDS}
        for space in self.spaces:
            columns[f"vec_{space}"] = []
            columns[f"has_{space}"] = []
        for row in rows:
            unknown = set(row.vectors) - set(self.spaces)
            if unknown:
                raise StoreError(f"unknown vector space(s) {sorted(unknown)} for {row.id!r}")
            for name, value in (
                ("id", row.id), ("doc", row.doc), ("path", row.path), ("ext", row.ext), ("modality", row.modality),
                ("date", float(row.date)), ("locator", dumps(row.locator)), ("metadata", dumps(row.metadata)),
                ("text", row.text),
            ):
                columns[name].append(value)
            for space, dim in self.spaces.items():
                if space in row.vectors:
                    columns[f"vec_{space}"].append(check_vector(space, row.vectors[space], dim, row.id))
                    columns[f"has_{space}"].append(True)
                else:
                    columns[f"vec_{space}"].append(np.zeros(dim, dtype=np.float32))
                    columns[f"has_{space}"].append(False)
        schema = table.schema
        arrays = []
        for field in schema:
            values = columns[field.name]
            if field.name.startswith("vec_"):
                flat = pa.array(np.concatenate(values).astype(np.float32))
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
            else:
                arrays.append(pa.array(values, type=field.type))
        data = pa.Table.from_arrays(arrays, schema=schema)
        try:
            table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
        finally:
            self._wrote()

    def delete(self, *, ids: Sequence[str] = (), docs: Sequence[str] = ()) -> None:
        if self.table is None:
            return
        try:
            for column, values in (("id", list(ids)), ("doc", list(docs))):
                for start in range(0, len(values), 500):
                    chunk = values[start : start + 500]
                    self.table.delete(f"{column} IN (" + ", ".join(sql_quote(v) for v in chunk) + ")")
        finally:
            self._wrote()

    def _flat(self, space: str, version: int):
        """Vectors of a small table held in memory (re-read when the table's version changes): the flat snapshot
        written for this version by optimize() when there is one (memory-mapped), else the table's vectors.

        Below ``ANN_MIN_ROWS`` an exact numpy scan beats Lance's flat scan by about 3x, and its ANN index at 100k, on 2 cores.
        """
        table = self._require_table()
        cached = self._flat_cache.get(space)
        if cached is None or cached[0] != version:
            snapshot = self.shortlists.flat(space, version)
            columns: dict[str, np.ndarray]
            if snapshot is not None:
                matrix = snapshot.vectors
                columns = {"id": snapshot.ids, "ext_vocab": np.asarray(snapshot.exts), "ext_code": snapshot.ext,
                           "modality_vocab": np.asarray(snapshot.modalities), "modality_code": snapshot.modality,
                           "date": snapshot.date}
            else:
                data = (table.search().where(f"has_{space} = true")
                        .select(["id", "ext", "modality", "date", f"vec_{space}"]).limit(ANN_MIN_ROWS).to_arrow())
                matrix = data.column(f"vec_{space}").combine_chunks().flatten().to_numpy().reshape(-1, self.spaces[space])
                columns = {name: np.asarray(data.column(name).to_pylist()) for name in ("ext", "modality")}
                columns["id"] = np.asarray(data.column("id").to_pylist(), dtype=object)  # "<U" would drop a trailing NUL
                for name in ("ext", "modality"):  # small integer codes: a filter is a table lookup, not a string search
                    columns[f"{name}_vocab"], columns[f"{name}_code"] = np.unique(columns[name], return_inverse=True)
                columns["date"] = data.column("date").to_numpy()
            cached = (version, matrix.astype(np.float32, copy=False), columns)
            self._flat_cache[space] = cached
        return cached[1], cached[2]

    def _positions(self, space: str, cached: tuple, wanted: list[str]) -> dict[str, int]:
        """Row of each of ``wanted`` in a space's in-memory vectors (ids sorted once per loaded version, then a
        binary search: the calibration sample's vectors come from memory, not from ten Lance queries)."""
        held = self._positions_of.get(space)
        if held is None or held[0] is not cached[1]:
            ids = np.asarray(cached[2]["id"])
            order = np.argsort(ids, kind="stable")
            held = (cached[1], ids[order], order)
            self._positions_of[space] = held
        _, ordered, order = held
        if not len(ordered) or not wanted:
            return {}
        binary = ordered.dtype.kind == "S"
        # bytes keys at the stored width: another width made numpy cast every stored id per call (a longer key may match
        # its prefix here, which the check below drops)
        keys = (np.array([w.encode("utf-8") for w in wanted], dtype=bytes).astype(ordered.dtype) if binary
                else np.array(wanted, dtype=object))
        at = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1).tolist()
        found: dict[str, int] = {}
        for name, position in zip(wanted, at):
            stored = ordered[position]
            if (stored.decode("utf-8") if binary else str(stored)) == name:  # exact: fixed-width ids compare prefixes
                found[name] = int(order[position])
        return found

    def _scores(self, space: str, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
        """``matrix @ query``, from the space's recent queries when it was asked before (or its opposite was:
        the scores are then negated, which is exact)."""
        key = query.tobytes()
        with self._scores_lock:
            entry = self._last_scores.get(space)
            if entry is None or entry[0] is not matrix:
                entry = (matrix, OrderedDict())
                self._last_scores[space] = entry
            recent = entry[1]
            scores = recent.get(key)
            if scores is not None:
                recent.move_to_end(key)
                return scores
            opposite = recent.get((-query).tobytes())
        if opposite is not None:
            scores = -opposite
        else:
            # einsum, not BLAS gemv: on 2 busy cores OpenBLAS threads turn a 0.4 ms product into 16 ms
            scores = np.einsum("ij,j->i", matrix, query)
        with self._scores_lock:
            recent[key] = scores
            while len(recent) > SCORE_CACHE:
                recent.popitem(last=False)
        return scores

    def _flat_search(self, space: str, query: np.ndarray, k: int, filters: Filters | None,
                     version: int) -> list[tuple[str, float]]:
        matrix, columns = self._flat(space, version)
        if not len(matrix):
            return []
        scores = self._scores(space, matrix, query)
        rows = self._filter_rows(space, version, columns, filters) if filters is not None and not filters.is_empty() else None
        if rows is not None:  # the rows that pass, scored alone: no -inf padding, a smaller partition
            scores = scores[rows]
        take = min(k, int(np.isfinite(scores).sum()))
        if take <= 0:
            return []
        top = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
        at = top if rows is None else rows[top]  # positions in the space's matrix
        scores_of = dict(zip(at.tolist(), scores[top].tolist()))
        ids = columns["id"]
        names = {i: (v.decode("utf-8") if isinstance(v := ids[i], bytes) else str(v)) for i in scores_of}
        order = sorted(names, key=lambda i: (-round(scores_of[i], 6), names[i]))[:take]
        return [(names[i], float(scores_of[i])) for i in order]

    def _filter_rows(self, space: str, version: int, columns: dict[str, np.ndarray], filters: Filters) -> np.ndarray:
        """Positions of the rows of a space that pass ``filters`` (kept per table version: one query asks the same
        kind filters of both spaces, and the next query asks them again)."""
        key = (space, version, tuple(sorted(filters.file_types)), tuple(sorted(m.value for m in filters.modalities)),
               filters.date_from, filters.date_to)
        rows = self._filter_cache.get(key)
        if rows is not None:
            return rows
        mask = np.ones(len(columns["date"]), dtype=bool)

        def one_of(name: str, values: set[str]) -> np.ndarray:
            table = np.isin(columns[f"{name}_vocab"], list(values))
            return table[columns[f"{name}_code"]]

        if filters.file_types:
            mask &= one_of("ext", set(filters.file_types))
        if filters.modalities:
            mask &= one_of("modality", {m.value for m in filters.modalities})
        if filters.date_from is not None:
            mask &= columns["date"] >= filters.date_from
        if filters.date_to is not None:
            mask &= columns["date"] <= filters.date_to
        rows = np.flatnonzero(mask)
        if len(self._filter_cache) >= FILTER_CACHE:
            self._filter_cache.clear()
        self._filter_cache[key] = rows
        return rows

    def search(self, space: str, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        table = self._current()
        if table is None or space not in self.spaces:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if filters is None or not filters.path_glob:
            version, rows = self._counted(table)
            shortlist = self.shortlists.get(space, version) if rows >= SHORTLIST_MIN_ROWS else None
            if shortlist is not None:
                return shortlist.search(query, k, filters)
            if rows < ANN_MIN_ROWS:
                return self._flat_search(space, query, k, filters, version)
        from lancedb.query import LanceVectorQueryBuilder

        compiled = compile_filters(filters, LANCE, space)
        limit = k if compiled.post_glob is None else max(4 * k, 64)
        while True:
            vector_query = LanceVectorQueryBuilder(table, query, f"vec_{space}")  # table.search() asks for the schema
            if compiled.expression is not None:  # always, in fact: a space adds its "has a vector" clause
                vector_query = vector_query.where(compiled.expression, prefilter=True)
            builder = (
                vector_query
                .distance_type("dot")
                .nprobes(NPROBES)
                .refine_factor(REFINE_FACTOR)
                .select(["id", "path", "_distance"])
                .limit(limit)
            )
            result = _started(table, builder)()
            ids = result.column("id").to_pylist()
            # Lance reports dot "distance" as 1 - <q, v>
            scores = (1.0 - result.column("_distance").to_numpy()).tolist()
            if compiled.post_glob is None:
                break
            keep = [i for i, path in enumerate(result.column("path").to_pylist()) if fnmatch.fnmatchcase(path, compiled.post_glob)]
            if len(keep) >= k or len(ids) < limit:
                ids, scores = [ids[i] for i in keep][:k], [scores[i] for i in keep][:k]
                break
            limit *= 4
        order = sorted(range(len(ids)), key=lambda i: (-round(scores[i], 6), ids[i]))
        return [(ids[i], float(scores[i])) for i in order]

    def _has_fts(self) -> bool:
        """Whether the table has its full-text index (asked once per table version: listing indexes costs a few ms)."""
        table = self._require_table()
        version = self._version(table)
        if self._fts_at[0] == version:
            return self._fts_at[1]
        try:
            found = any("text" in (getattr(ix, "columns", None) or []) and "fts" in str(getattr(ix, "index_type", "")).lower()
                        or getattr(ix, "name", "") == "text_idx" for ix in table.list_indices())
        except Exception:  # noqa: BLE001
            return False
        self._fts_at = (version, found)
        return found

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        return self.text_search_soon(text, k, filters)()

    def text_search_soon(self, text: str, k: int, filters: Filters | None = None) -> Callable[[], list[tuple[str, float]]]:
        """:meth:`text_search`, started now: the BM25 query runs on lancedb's own threads (in Rust, without the GIL)
        while the caller works on (the search pipeline encodes the query meanwhile); the function returned waits for
        it and gives its hits."""
        table = self._current()
        if table is None or not text.strip():
            return _no_hits
        if not self._has_fts():  # built by writers (optimize); a search never writes, so none yet means no hits
            log.debug("no full-text index yet in %s", self.uri)
            return _no_hits
        from lancedb.query import LanceFtsQueryBuilder

        compiled = compile_filters(filters, LANCE)
        limit = k if compiled.post_glob is None else max(8 * k, 256)
        row_ids = self._row_id_map(table) if compiled.post_glob is None else None
        try:
            builder = LanceFtsQueryBuilder(table, text, fts_columns="text")
            if row_ids is not None:  # row ids, read as item ids here: Lance reads no column of the matches
                builder = builder.select(["_score"]).with_row_id(True).limit(limit)
            else:
                builder = builder.select(fts_columns(compiled.post_glob)).limit(limit)
            if compiled.expression:
                builder = builder.where(compiled.expression, prefilter=True)
            pending = _started(table, builder)
        except Exception as exc:  # noqa: BLE001 - lance raises ValueError/RuntimeError on odd query syntax
            log.debug("full-text search failed for %r: %s", text, exc)
            return _no_hits

        def hits() -> list[tuple[str, float]]:
            try:
                result = pending()
            except Exception as exc:  # noqa: BLE001 - as above, raised where the query runs
                log.debug("full-text search failed for %r: %s", text, exc)
                return []
            if row_ids is None:
                return fts_hits(result, compiled.post_glob, k)
            found = result.column("_rowid").to_numpy() if "_rowid" in result.column_names else None
            ids = None if found is None else row_ids.lookup(found)
            if ids is None:  # a row written since the map was made (or no row ids): asked again by item id
                self._row_ids_at = (-1, 0, None) if found is not None else (self._row_ids_at[0], -(1 << 62), None)
                return self.text_search(text, k, filters)
            return fts_hits(result, None, k, ids)

        return hits

    def _row_id_map(self, table: Table) -> RowIdMap | None:
        """The :class:`RowIdMap` of the table's current version, from its :data:`ROW_ID_MAP_AFTER`-th BM25 query on
        (None before, and where it cannot be made)."""
        version = self._version(table)
        held_version, queries, held = self._row_ids_at
        if held_version != version:
            queries, held = 0, None
        queries += 1
        if held is None and queries >= ROW_ID_MAP_AFTER:
            try:
                held = RowIdMap.of(table, self._counted(table)[1])
            except Exception as exc:  # noqa: BLE001 - a lancedb without row ids: BM25 reads the id column
                log.debug("no row id map for %s: %s", self.uri, exc)
                queries = -(1 << 62)  # not tried again for this version
        self._row_ids_at = (version, queries, held)
        return held

    def _build_fts(self) -> None:
        if self.table is None or self.table.count_rows() == 0:
            return
        with warnings.catch_warnings():  # the replacement API is async-only in lancedb 0.40
            warnings.simplefilter("ignore", DeprecationWarning)
            self.table.create_fts_index("text", use_tantivy=False, replace=True, with_position=False,
                                        lower_case=True, stem=True, remove_stop_words=True, ascii_folding=True)

    def _rows_snapshot(self, table: Table) -> shortlist.RowsSnapshot | None:
        """optimize()'s rows snapshot when it was written for the table's current version (looked up once per version)."""
        version = self._version(table)
        held = self._rows_snapshot_at
        if held[0] != version:
            held = self._rows_snapshot_at = (version, self.shortlists.rows(version))
        return held[1]

    def get(self, ids: Sequence[str]) -> list[Row]:
        table = self._current()
        if table is None or not ids:
            return []
        found: dict[str, Row] = {}
        from lancedb.query import LanceEmptyQueryBuilder

        columns = [f.name for f in BASE_FIELDS]
        unique = list(dict.fromkeys(ids))
        snapshot = self._rows_snapshot(table)
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            if snapshot is not None:  # a binary search in memory-mapped rows, where Lance's B-tree query took 5-20 ms
                found.update((row.id, row) for row in snapshot.rows(chunk))
                continue
            where = "id IN (" + ", ".join(sql_quote(v) for v in chunk) + ")"
            records = _started(table, LanceEmptyQueryBuilder(table).where(where).select(columns).limit(len(chunk)))().to_pylist()
            for rec in records:
                found[rec["id"]] = Row(
                    id=rec["id"], doc=rec["doc"], path=rec["path"], modality=rec["modality"],
                    locator=json.loads(rec["locator"] or "{}"), text=rec["text"] or "",
                    metadata=json.loads(rec["metadata"] or "{}"), date=rec["date"] or 0.0,
                )
        return [found[i] for i in ids if i in found]

    def get_vectors(self, space: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        table = self._current()
        if table is None or space not in self.spaces or not ids:
            return {}
        from lancedb.query import LanceEmptyQueryBuilder

        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(ids))
        version, rows = self._counted(table)
        cached = self._flat_cache.get(space)
        shortlist = self.shortlists.get(space, version) if rows >= SHORTLIST_MIN_ROWS else None
        if shortlist is not None and (cached is None or cached[0] != version):  # its memory-mapped vectors
            cached = (version, shortlist.vectors, {"id": shortlist.ids})
        if cached is not None and cached[0] == version:  # the vectors a search just scanned
            positions = self._positions(space, cached, unique)
            return {i: np.array(cached[1][positions[i]]) for i in unique if i in positions}
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            where = f"has_{space} = true AND id IN (" + ", ".join(sql_quote(v) for v in chunk) + ")"
            result = _started(table, LanceEmptyQueryBuilder(table).where(where).select(["id", f"vec_{space}"]).limit(len(chunk)))()
            if not result.num_rows:
                continue
            # one flat Arrow -> numpy conversion per batch (a Python list per vector cost ~1 s per 1k rows)
            flat = result.column(f"vec_{space}").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            matrix = np.asarray(flat, dtype=np.float32).reshape(result.num_rows, self.spaces[space])
            out.update(zip(result.column("id").to_pylist(), matrix))
        return out

    def count(self) -> int:
        table = self._current()
        return 0 if table is None else self._counted(table)[1]

    def _version(self, table: Table) -> int:
        """The table's version, asked of Lance at most every :data:`VERSION_RECHECK_SECONDS`."""
        held_table, version, asked = self._version_at
        now = time.monotonic()
        if held_table is table and now - asked < VERSION_RECHECK_SECONDS:
            return version
        version = table.version
        self._version_at = (table, version, now)
        return version

    def _wrote(self) -> None:
        """This process changed the table: the next read asks for its version."""
        self._version_at = (None, -1, 0.0)

    def _counted(self, table: Table) -> tuple[int, int]:
        """(version, row count) of the table, counted once per version (the calibration asks for every kind of every
        query; a search asks too): one Lance call, not two (each ~0.5 ms on busy cores)."""
        version = self._version(table)
        counted = self._rows_at
        if counted[0] != version:
            counted = self._rows_at = (version, table.count_rows())
        return counted

    def optimize(self) -> None:
        """Compact fragments, refresh the BM25 index, build the ANN index once the table is large."""
        self._wrote()
        if self.table is None:
            return
        rows = self.table.count_rows()
        if rows == 0:
            return
        try:
            self.table.optimize()
        except Exception as exc:  # noqa: BLE001 - optimisation is best effort
            log.warning("optimize failed: %s", exc)
        self._build_fts()
        if not any("id" in (getattr(ix, "columns", None) or []) for ix in self.table.list_indices()):
            with warnings.catch_warnings():  # fetching rows by id after every search: a B-tree, not a scan
                warnings.simplefilter("ignore", DeprecationWarning)
                self.table.create_scalar_index("id", index_type="BTREE")
        if rows >= ANN_MIN_ROWS:
            indexed = {c for ix in self.table.list_indices() for c in (getattr(ix, "columns", None) or [])}
            for space in self.spaces:
                if f"vec_{space}" not in indexed:
                    from lancedb.index import HnswSq

                    self.table.create_index(f"vec_{space}", config=HnswSq(distance_type="dot",
                                                                         num_partitions=max(1, rows // ROWS_PER_PARTITION)))
                if f"has_{space}" not in indexed:  # the prefilter of every vector search
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        self.table.create_scalar_index(f"has_{space}", index_type="BITMAP")
        self.build_shortlists()

    def build_shortlists(self) -> dict[str, shortlist.Built]:
        """Write each space's quantised shortlist for the table as it is now (a writer's step; drops them below
        :data:`SHORTLIST_MIN_ROWS`). Run last in :meth:`optimize`: it records the table version it describes."""
        built: dict[str, shortlist.Built] = {}
        self._wrote()  # optimize() committed compactions and indexes before this
        if self.table is None:
            return built
        rows = self.table.count_rows()
        version = self.table.version
        snapshot = None
        if FLAT_SNAPSHOT_MIN_ROWS <= rows < ANN_MIN_ROWS:  # the stored fields, for get() by id
            fields = self.table.search().select([f.name for f in BASE_FIELDS]).limit(rows).to_arrow()
            snapshot = shortlist.build_rows(self.shortlists.folder(shortlist.ROWS_FOLDER), fields, version)
        if snapshot is None:
            self.shortlists.drop(shortlist.ROWS_FOLDER)
        else:
            built[shortlist.ROWS_FOLDER] = snapshot
        for space, dim in self.spaces.items():
            flat = FLAT_SNAPSHOT_MIN_ROWS <= rows < ANN_MIN_ROWS
            if rows < SHORTLIST_MIN_ROWS and not flat:
                self.shortlists.drop(space)
                continue
            data = (self.table.search().where(f"has_{space} = true")
                    .select(["id", "ext", "modality", "date", f"vec_{space}"]).limit(rows).to_arrow())
            if data.num_rows == 0:
                self.shortlists.drop(space)
                continue
            vectors = data.column(f"vec_{space}").combine_chunks().flatten().to_numpy().reshape(-1, dim)
            write = shortlist.build_flat if flat and rows < SHORTLIST_MIN_ROWS else shortlist.build
            made = write(self.shortlists.folder(space), vectors, data.column("id").to_pylist(),
                         data.column("modality").to_pylist(), data.column("ext").to_pylist(),
                         data.column("date").to_numpy(), version)
            if made is None:
                self.shortlists.drop(space)
                continue
            built[space] = made
            log.info("%s of %s: %s", "flat snapshot" if write is shortlist.build_flat else "shortlist", space, made)
        return built

    def close(self) -> None:
        self.table = None
