"""A read-only LanceDB store answered from its on-disk snapshots: a cold ``polyseek search`` without importing lancedb.

``optimize()`` leaves beside a table of 10k-150k rows a snapshot of each space (a flat one below 50k rows, a
quantised shortlist from there) and a rows snapshot (:mod:`polyseek.stores.shortlist`), each recording the table
version it describes. When every one of them records
the table's current version, :func:`open_snapshot` returns a :class:`SnapshotStore`, which answers the searches of
one command exactly as :class:`~polyseek.stores.lancedb.LanceStore` would (the same shortlist searches or exact
scans, the same rows, the same BM25 query) without the ``lancedb`` package: its Python layer imports pyarrow's datasets, pandas,
pydantic and a REST client, ~0.6 s of CPU of a ~1.3 s cold command. The table's version, schema and full-text
index are read through lancedb's compiled core (``lancedb._lancedb``, the Rust library lancedb's own API calls),
loaded on its own (5 ms). A snapshot written for another version is never read: the store then is a plain
``LanceStore``. What the snapshots cannot answer (a path glob, a write) goes to a ``LanceStore`` opened on first
need, so results never depend on which store answered. What a command derives from one version (the calibration's
background samples) it may keep beside the rows snapshot (:meth:`SnapshotStore.keep_derived`) for the next command
that reads the same version; the next ``optimize()`` replaces that folder, and with it what was kept.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np

from polyseek.stores import lancedb as lance_store
from polyseek.stores.base import Row
from polyseek.stores.filters import LANCE, compile_filters
from polyseek.stores.lancedb import SHORTLIST_FOLDER, TABLE, LanceStore
from polyseek.stores.shortlist import ROWS_FOLDER, Flat, RowsSnapshot, Shortlist, Shortlists
from polyseek.types import Filters

log = logging.getLogger(__name__)
T = TypeVar("T")
CORE = "lancedb._lancedb"
_core_lock = threading.Lock()
DERIVED_META = "__derived_meta__"  # the key of a kept file's own record (table version, rows)


def lancedb_core() -> Any | None:
    """lancedb's compiled module without running the package's ``__init__`` (which imports its whole Python layer);
    None when it cannot be loaded so. It is registered under its own name, so a later ``import lancedb`` (a
    fallback, another command in the same process) reuses it as the package would have loaded it."""
    with _core_lock:
        if CORE in sys.modules:
            return sys.modules[CORE]
        try:
            package = importlib.util.find_spec("lancedb")
            locations = list(package.submodule_search_locations or []) if package is not None else []
            spec = importlib.machinery.PathFinder.find_spec(CORE, locations)
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (ImportError, OSError, ValueError):
            return None
        sys.modules[CORE] = module
        return module


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one of the core's coroutines to its end (it runs on lancedb's own threads; this waits for it), on a
    thread of its own when this one already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="polyseek-lancedb-core", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _open_table(core: Any, folder: Path) -> Any:
    """The store's table, opened as ``lancedb.connect(folder).open_table("items")`` opens it."""
    connection = await core.connect(str(folder.absolute()), None, None, None, None, None, None, None, None, False, None)
    return await connection.open_table(TABLE, namespace_path=[], storage_options=None, index_cache_size=None,
                                       location=None)


def open_snapshot(folder: str | Path) -> SnapshotStore | None:
    """A :class:`SnapshotStore` of the LanceDB store in ``folder`` when its snapshots describe the table's current
    version in full (every vector space has the snapshot LanceStore would read, and the rows snapshot is there);
    otherwise None, and the caller opens a ``LanceStore``."""
    folder = Path(folder).expanduser()
    snapshots = Shortlists(folder / SHORTLIST_FOLDER)
    try:
        rows_meta = json.loads((snapshots.root / "rows.table" / "meta.json").read_text())
        version = int(rows_meta["version"])
        rows = int(rows_meta["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not lance_store.FLAT_SNAPSHOT_MIN_ROWS <= rows < lance_store.ANN_MIN_ROWS:  # where LanceStore reads them too
        return None
    core = lancedb_core()
    if core is None:
        return None
    try:
        async def look() -> tuple[Any, int, Any]:
            table = await _open_table(core, folder)
            return table, await table.version(), await table.schema()

        table, current, schema = _run(look())
    except Exception as exc:  # noqa: BLE001 - no table, or a core this code does not know: LanceStore opens it
        log.debug("snapshot store unavailable for %s: %s", folder, exc)
        return None
    if current != version:
        return None
    spaces = {f.name[4:]: f.type.list_size for f in schema if f.name.startswith("vec_")}
    # as LanceStore.search chooses: the quantised shortlist from SHORTLIST_MIN_ROWS rows, the exact scan below
    large = rows >= lance_store.SHORTLIST_MIN_ROWS
    lists: dict[str, Shortlist | Flat | None] = {
        space: snapshots.get(space, version) if large else snapshots.flat(space, version) for space in spaces}
    rows_snapshot = snapshots.rows(version)
    if rows_snapshot is None or len(rows_snapshot.ids) != rows or any(s is None for s in lists.values()):
        return None
    return SnapshotStore(folder, core, table, version, spaces, {s: v for s, v in lists.items() if v is not None},
                         rows_snapshot)


class ColumnReader:
    """Values of an Arrow table's rows by position, read straight from its columns' buffers (strings and doubles,
    one chunk each, as ``shortlist.build_rows`` writes them): no pyarrow.compute import, ~2 µs per value."""

    Column = tuple[np.ndarray | None, np.ndarray | None, memoryview | None, np.ndarray | None]

    def __init__(self, columns: dict[str, Column]) -> None:
        self.columns = columns  # name: (offsets, validity bits, string bytes, doubles)

    @classmethod
    def of(cls, table: Any) -> ColumnReader | None:
        """The reader of ``table``, or None when a column is of another kind or in several chunks."""
        import pyarrow as pa

        columns: dict[str, ColumnReader.Column] = {}
        for field in table.schema:
            chunks = table.column(field.name).chunks
            if len(chunks) != 1:
                return None
            array = chunks[0]
            start, length = array.offset, len(array)
            buffers = array.buffers()
            bits = (np.unpackbits(np.frombuffer(buffers[0], dtype=np.uint8), bitorder="little")[start:start + length]
                    if array.null_count and buffers[0] is not None else None)
            if field.type == pa.string():
                offsets = np.frombuffer(buffers[1], dtype=np.int32)[start:start + length + 1]
                columns[field.name] = (offsets, bits, memoryview(buffers[2]) if buffers[2] is not None else memoryview(b""), None)
            elif field.type == pa.float64():
                columns[field.name] = (None, bits, None, np.frombuffer(buffers[1], dtype=np.float64)[start:start + length])
            else:
                return None
        return cls(columns)

    def records(self, positions: list[int]) -> list[dict]:
        """The rows at ``positions`` as dicts of Python values (None where a value is null), as ``to_pylist`` gives."""
        out: list[dict] = [{} for _ in positions]
        for name, (offsets, bits, data, doubles) in self.columns.items():
            if doubles is not None:
                values: list[Any] = doubles[positions].tolist()
            else:
                assert offsets is not None and data is not None
                bounds = offsets[positions].tolist(), offsets[[p + 1 for p in positions]].tolist()
                values = [str(data[begin:end], "utf-8") for begin, end in zip(*bounds)]
            if bits is not None:
                values = [value if valid else None for value, valid in zip(values, bits[positions].tolist())]
            for record, value in zip(out, values):
                record[name] = value
        return out


class SnapshotStore:
    """A LanceDB store folder read from its snapshots of one table version (see the module's docstring)."""

    # a flat snapshot is scanned by LanceStore's own code (the same scores, filters, ties and score cache)
    _scores = LanceStore._scores
    _filter_rows = LanceStore._filter_rows

    def __init__(self, folder: Path, core: Any, table: Any, version: int, spaces: dict[str, int],
                 lists: dict[str, Shortlist | Flat], rows: RowsSnapshot) -> None:
        self.path = folder
        self.uri = str(folder)
        self.version = version
        self.spaces = dict(spaces)
        self._core = core
        self._table = table
        self._lists = lists
        self._rows = rows
        self._positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._fts: bool | None = None
        self._full: LanceStore | None = None
        self._full_lock = threading.Lock()
        self._last_scores: dict[str, tuple[np.ndarray, OrderedDict[bytes, np.ndarray]]] = {}  # (LanceStore's)
        self._scores_lock = threading.Lock()
        self._filter_cache: dict[tuple, np.ndarray] = {}
        self._flat_cache: dict[str, tuple] = {}
        self._lance_only = False  # after a write through full() (stale snapshots) or a core it cannot use: full() answers
        self._reader: ColumnReader | Literal[False] | None = None  # the rows snapshot's columns (False: by pyarrow)

    # ---- what a reader derived from this version (kept beside the rows snapshot) --------------------------------
    def load_derived(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays :meth:`keep_derived` kept under ``name`` for this table version, or None (none kept, another
        version's, unreadable). They lie in the rows snapshot's folder, which the next ``optimize()`` replaces whole."""
        if self._lance_only:
            return None
        path = self._derived_path(name)
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            meta = json.loads(str(arrays.pop(DERIVED_META)))
        except Exception:  # noqa: BLE001 - none kept, or a damaged file (a bad zip, a cut-off array): drawn again
            return None
        if not isinstance(meta, dict) or meta.get("version") != self.version or meta.get("rows") != len(self._rows.ids):
            return None
        return arrays

    def keep_derived(self, name: str, arrays: dict[str, np.ndarray]) -> bool:
        """Keep ``arrays`` (numeric or string arrays; no objects) for the next command that reads this table version
        (written to a scratch file, then renamed into place); False when the folder is not writable."""
        if self._lance_only or DERIVED_META in arrays:
            return False
        path = self._derived_path(name)
        scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        meta = json.dumps({"version": self.version, "rows": len(self._rows.ids)})
        try:
            with open(scratch, "wb") as handle:
                np.savez(handle, **{**arrays, DERIVED_META: np.array(meta)})  # type: ignore[arg-type]  # (numpy's stub: keyword arrays)
            os.replace(scratch, path)
        except (OSError, ValueError) as exc:
            log.debug("cannot keep %s beside %s: %s", name, path.parent, exc)
            scratch.unlink(missing_ok=True)
            return False
        return True

    def _derived_path(self, name: str) -> Path:
        if not name.isidentifier():
            raise ValueError(f"not a name for derived arrays: {name!r}")
        return self.path / SHORTLIST_FOLDER / ROWS_FOLDER / f"derived-{name}.npz"

    def prepare(self) -> None:
        """Do now what each space's first search does first (a shortlist's scan input and kernel: ~30 ms at 100k
        rows), while the caller waits for something else (a cold command: its encoders loading)."""
        for snapshot in self._lists.values():
            if isinstance(snapshot, Shortlist):
                snapshot.prepare()

    def full(self) -> LanceStore:
        """The store opened as a ``LanceStore`` (imports lancedb): for what the snapshots do not hold."""
        with self._full_lock:
            if self._full is None:
                self._full = LanceStore(self.uri)
            return self._full

    def _writer(self) -> LanceStore:
        self._lance_only = True
        return self.full()

    # ---- reading --------------------------------------------------------------------------------------
    def search(self, space: str, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        if self._lance_only or (filters is not None and filters.path_glob):  # Lance filters paths (LIKE), a shortlist not
            return self.full().search(space, vector, k, filters)
        snapshot = self._lists.get(space)
        if snapshot is None:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if isinstance(snapshot, Flat):
            return LanceStore._flat_search(cast(Any, self), space, query, k, filters, self.version)
        return snapshot.search(query, k, filters)

    def _flat(self, space: str, version: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A space's flat snapshot as ``LanceStore._flat`` holds it (the matrix and its filter columns)."""
        cached = self._flat_cache.get(space)
        if cached is None:
            snapshot = self._lists[space]
            assert isinstance(snapshot, Flat)
            columns = {"id": snapshot.ids, "ext_vocab": np.asarray(snapshot.exts), "ext_code": snapshot.ext,
                       "modality_vocab": np.asarray(snapshot.modalities), "modality_code": snapshot.modality,
                       "date": snapshot.date}
            cached = self._flat_cache[space] = (version, snapshot.vectors.astype(np.float32, copy=False), columns)
        return cached[1], cached[2]

    def count(self) -> int:
        return self.full().count() if self._lance_only else len(self._rows.ids)

    def get(self, ids: Sequence[str]) -> list[Row]:
        if self._lance_only:
            return self.full().get(ids)
        if not ids:
            return []
        found: dict[str, Row] = {}
        unique = list(dict.fromkeys(ids))
        for rec in self._records(unique):
            found[rec["id"]] = Row(
                id=rec["id"], doc=rec["doc"], path=rec["path"], modality=rec["modality"],
                locator=json.loads(rec["locator"] or "{}"), text=rec["text"] or "",
                metadata=json.loads(rec["metadata"] or "{}"), date=rec["date"] or 0.0,
            )
        return [found[i] for i in ids if i in found]

    def _records(self, ids: list[str]) -> list[dict]:
        """The rows snapshot's records of ``ids`` (as ``RowsSnapshot.records`` gives them), read from the Arrow
        buffers (:class:`ColumnReader`, ~3 ms for 300 rows): ``Table.take`` imports pyarrow.compute, ~0.1 s of a cold
        command, and a slice per row converted by pyarrow took ~45 ms for the same rows."""
        snapshot = self._rows
        if not ids or not len(snapshot.ids):
            return []
        keys = np.array([i.encode("utf-8") for i in ids], dtype=bytes)
        at = np.minimum(np.searchsorted(snapshot.ids, keys), len(snapshot.ids) - 1)
        # compared at the stored width: a longer key may match its prefix here, which the id check below drops
        found = at[np.asarray(snapshot.ids[at]) == keys.astype(snapshot.ids.dtype)].tolist()
        if self._reader is None:
            self._reader = ColumnReader.of(snapshot.table) or False
        if isinstance(self._reader, ColumnReader):
            records = self._reader.records(found)
        else:  # a column kind the reader does not know: pyarrow's own conversion, row by row
            records = [record for position in found for record in snapshot.table.slice(position, 1).to_pylist()]
        wanted = set(ids)
        return [r for r in records if r["id"] in wanted]

    def get_vectors(self, space: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if self._lance_only:
            return self.full().get_vectors(space, ids)
        shortlist = self._lists.get(space)
        if shortlist is None or not ids:
            return {}
        held = self._positions.get(space)
        if held is None:
            stored = np.asarray(shortlist.ids)
            order = np.argsort(stored, kind="stable")
            held = self._positions[space] = (stored[order], order)
        ordered, order = held
        unique = list(dict.fromkeys(ids))
        if not len(ordered):
            return {}
        keys = np.array([i.encode("utf-8") for i in unique], dtype=bytes)
        at = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1).tolist()
        out: dict[str, np.ndarray] = {}
        for name, position in zip(unique, at):
            if ordered[position].decode("utf-8") == name:  # exact: fixed-width ids compare prefixes
                out[name] = np.array(shortlist.vectors[int(order[position])])
        return out

    def _has_fts(self) -> bool:
        """Whether the table has its full-text index (as ``LanceStore._has_fts`` decides it)."""
        if self._fts is None:
            async def listed() -> Any:  # the core's futures need the running loop they are made in
                return await self._table.list_indices()

            try:
                indices = _run(listed())
            except Exception as exc:  # noqa: BLE001 - an unknown core: LanceStore answers the text searches
                log.debug("lancedb core cannot list indexes (%s): LanceStore searches", exc)
                self._lance_only = True
                return False
            self._fts = any("text" in (getattr(ix, "columns", None) or []) and "fts" in str(getattr(ix, "index_type", "")).lower()
                            or getattr(ix, "name", "") == "text_idx" for ix in indices)
        return self._fts

    def _fts_rows(self, text: str, limit: int, expression: str | None, columns: list[str]) -> Any:
        """The BM25 query ``LanceStore.text_search`` runs before it maps row ids (``table.search(text, query_type="fts",
        fts_columns="text").select(columns).limit(limit).where(expression, prefilter=True)``), as lancedb's sync API
        hands it to the core."""
        import pyarrow as pa

        query = self._table.query()
        query.limit(limit)
        query.select_columns(columns)
        if expression:
            query.where(expression)
        fts = query.nearest_to_text({"query": text, "columns": ["text"]})

        async def collect() -> Any:
            stream = await fts.execute(max_batch_length=None, timeout=None)
            return pa.Table.from_batches([batch async for batch in stream], schema=stream.schema)

        return _run(collect())

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        if self._lance_only:
            return self.full().text_search(text, k, filters)
        return self.text_search_soon(text, k, filters)()

    def text_search_soon(self, text: str, k: int, filters: Filters | None = None) -> Callable[[], list[tuple[str, float]]]:
        """:meth:`text_search`, started on a thread now (the core runs the query without the GIL); the function
        returned waits for it and gives its hits."""
        if not text.strip():
            return list
        if not self._lance_only and not self._has_fts() and not self._lance_only:  # (an unknown core sets _wrote: Lance's turn)
            return list
        if self._lance_only:
            return lambda: self.full().text_search(text, k, filters)
        compiled = compile_filters(filters, LANCE)
        limit = k if compiled.post_glob is None else max(8 * k, 256)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["rows"] = self._fts_rows(text, limit, compiled.expression, lance_store.fts_columns(compiled.post_glob))
            except (AttributeError, TypeError) as exc:  # a core this code does not know: lancedb's own API runs it
                log.debug("lancedb core query unavailable (%s): LanceStore searches", exc)
                result["fallback"] = True
            except Exception as exc:  # noqa: BLE001 - lance raises ValueError/RuntimeError on odd query syntax
                log.debug("full-text search failed for %r: %s", text, exc)

        worker = threading.Thread(target=run, name="polyseek-bm25", daemon=True)
        worker.start()

        def hits() -> list[tuple[str, float]]:
            worker.join()
            if result.get("fallback"):
                return self.full().text_search(text, k, filters)
            rows = result.get("rows")
            if rows is None:
                return []
            return lance_store.fts_hits(rows, compiled.post_glob, k)

        return hits

    # ---- writing: a LanceStore's work ---------------------------------------------------------------------
    def create(self, spaces: dict[str, int]) -> None:
        self._writer().create(spaces)

    def upsert(self, rows: Sequence[Row]) -> None:
        self._writer().upsert(rows)

    def delete(self, *, ids: Sequence[str] = (), docs: Sequence[str] = ()) -> None:
        self._writer().delete(ids=ids, docs=docs)

    def optimize(self) -> None:
        self._writer().optimize()

    def refresh(self) -> None:
        self._writer().refresh()

    def close(self) -> None:
        if self._full is not None:
            self._full.close()
