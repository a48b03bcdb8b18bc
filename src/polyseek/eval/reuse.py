"""Assemble an eval pool from indexes built before: copy the items of files another index already holds.

``import_files(engine, source, paths)`` looks each file of ``paths`` up in the index at ``source`` (a store folder,
the one that holds ``catalog.sqlite``, or a workdir with a ``store/`` folder). A file is copied when the source
indexed exactly this content (same path, same content hash, status ok, all its items present): its rows (text,
locator, metadata, date) and, per dense space, its vectors, when the source's encoder for that space is the
pool's (same name, dimension and recorded weights revision). A space whose encoder differs is refused: its vectors
are made again from the file with the pool's encoder, as ``polyseek upgrade``'s backfill does, and the copy is
dropped unless they cover exactly the items that held vectors in the source. Files the source lacks, or holds in
another version, are left to the normal ``engine.index`` run that must follow: it finds the copies unchanged,
indexes the rest and builds the lexical index over everything (the copies leave the index marked dirty until then).

The source is only read: its catalog through a read-only SQLite connection, its rows through the store API, so an
index another process is still writing can serve (files it lists as indexed are complete).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.catalog import FileRecord
from polyseek.errors import InvalidInputError
from polyseek.stores.base import Row, open_store
from polyseek.types import item_id

CATALOG = "catalog.sqlite"
ProgressFn = Callable[[str, int, int], None]


def source_folder(source: str | Path) -> Path:
    """The store folder of ``source``: the folder itself when it holds a catalog, else its ``store/`` subfolder."""
    folder = Path(source).expanduser().absolute()
    for candidate in (folder, folder / "store"):
        if (candidate / CATALOG).is_file():
            return candidate
    raise InvalidInputError(f"{source} holds no polyseek index (no {CATALOG} in it or in its store/ folder)",
                            hint="give a store folder built by polyseek index, or an eval --workdir")


def read_source(folder: Path) -> tuple[dict[str, Any], dict[str, FileRecord]]:
    """The source index's description (``meta['index']``) and its completely indexed files, read-only."""
    import json

    path = folder / CATALOG
    # a catalog without a write-ahead log has no writer: read it as immutable, which creates no -wal/-shm beside it;
    # with one, a writer may be at work (a long index run): read-only, through its log, like any concurrent reader
    live = path.with_name(CATALOG + "-wal").exists()
    db = sqlite3.connect(f"file:{path}?{'mode=ro' if live else 'immutable=1'}", uri=True, timeout=30)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'index'").fetchone()
        rows = db.execute("SELECT key, size, mtime, hash, items, status, reason FROM files").fetchall()
    except sqlite3.Error as exc:
        raise InvalidInputError(f"cannot read the index at {folder}: {exc}") from exc
    finally:
        db.close()
    if row is None:
        raise InvalidInputError(f"the index at {folder} has no description (never written to)")
    return json.loads(row[0]), {r[0]: FileRecord(*r) for r in rows}


def same_encoder(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two recorded space descriptions name the same vectors: encoder, dimension and weights revision.

    >>> same_encoder({"encoder": "aligner", "dim": 384, "revision": "ab"}, {"encoder": "aligner", "dim": 384, "revision": "ab"})
    True
    >>> same_encoder({"encoder": "deterministic", "dim": 64}, {"encoder": "aligner", "dim": 384, "revision": "ab"})
    False
    """
    if not a or not b:
        return False
    return all(a.get(key) == b.get(key) for key in ("encoder", "dim", "revision"))


def import_files(engine, source: str | Path, paths: Sequence[str], *, progress: ProgressFn | None = None,
                 stage: str = "import") -> dict[str, Any]:
    """Copy into ``engine``'s index the files of ``paths`` (files or folders) that the index at ``source`` holds
    unchanged; returns what was copied, which spaces were copied or made again, and which files were skipped why."""
    from polyseek.upgrade.core import encode_file

    folder = source_folder(source)
    if folder == Path(getattr(engine.store, "path", "")).expanduser().absolute():
        raise InvalidInputError(f"{source} is the pool's own index", hint="give another index to import from")
    meta, known = read_source(folder)
    started = time.perf_counter()
    copied_files = copied_items = 0
    skipped: dict[str, str] = {}
    indexer = engine.indexer
    with indexer.writing():
        engine.spaces.ensure(engine.store)
        own = (engine.spaces.meta() or {}).get("spaces", {})
        theirs = meta.get("spaces", {})
        copy = [s for s in own if same_encoder(own[s], theirs.get(s))]
        remake = [s for s in own if s not in copy]
        plan = indexer.plan(list(paths), remove_missing=False)
        todo = [(path, record) for path, record, _kind in plan.todo]
        src = open_store(str(folder))
        try:
            for done, (path, record) in enumerate(todo, 1):
                rows, reason = _file_rows(src, known.get(record.key), record, copy, remake, engine, encode_file)
                if rows is None:
                    skipped[record.key] = reason
                else:
                    copied_items += indexer.write_files([(record, rows)])
                    copied_files += 1
                if progress:
                    progress(stage, done, len(todo))
        finally:
            src.close()
    return {"source": str(folder), "files": copied_files, "items": copied_items, "unchanged": plan.counts["unchanged"],
            "left_to_index": len(skipped), "copied_spaces": copy,
            "remade_spaces": {s: {"source": theirs.get(s), "pool": own[s]} for s in remake},
            "skipped": dict(list(skipped.items())[:20]), "seconds": round(time.perf_counter() - started, 3)}


def _file_rows(src, theirs: FileRecord | None, record: FileRecord, copy: list[str], remake: list[str], engine,
               encode_file) -> tuple[list[Row] | None, str]:
    """The rows to write for one file, or None and why not."""
    if theirs is None:
        return None, "not in the source index"
    if theirs.status != "ok" or theirs.items <= 0:
        return None, f"source status {theirs.status} with {theirs.items} items"
    if theirs.hash != record.hash:
        return None, "the source indexed another version of the file"
    ids = [item_id(record.key, index) for index in range(theirs.items)]
    rows = src.get(ids)
    if len(rows) != len(ids):
        named = engine.indexer.file_item_ids(theirs)  # an ingestor that names its items (catalogue records)
        rows = src.get(named)
        if len(rows) != len(named):
            return None, f"the source holds {len(rows)} of the file's {theirs.items} items"
        ids = named
    vectors: dict[str, dict[str, np.ndarray]] = {s: src.get_vectors(s, ids) for s in copy}
    for space in remake:
        held = src.get_vectors(space, ids) if space in getattr(src, "spaces", {space: 0}) else {}
        try:
            made = encode_file(record.key, engine.spaces.encoder(space), space)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is left to the index run, which reports it
            return None, f"re-encoding {space} failed: {exc}"
        if set(made) != set(held):
            return None, f"re-encoding {space} gave {len(made)} vectors for the source's {len(held)}"
        vectors[space] = made
    for row in rows:
        row.vectors = {s: v[row.id] for s, v in vectors.items() if row.id in v}
    return rows, ""
