"""The index's own bookkeeping in SQLite: its description (meta), the files it holds, and a write journal.

The journal makes indexing survive ``kill -9``: a batch of files is marked pending before its items
are written and unmarked in the same transaction that records the files as indexed. Before the next
write (under the store's writer lock, :mod:`polyseek.locking`), any file still pending has its items
removed and is forgotten, so the next run indexes it again.

A long file (a 1,000-page PDF) is written in parts instead: ``partial`` records how many of its items
are committed (and where its reader resumes). It is not in ``files`` until its last part is in, so
no half file ever counts as indexed, and a later run of the same content resumes after the last part.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY, size INTEGER, mtime REAL, hash TEXT, items INTEGER,
    status TEXT, reason TEXT, indexed_at REAL
);
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS partial (key TEXT PRIMARY KEY, hash TEXT, items INTEGER, resume TEXT, updated_at REAL);
CREATE TABLE IF NOT EXISTS concepts (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL);
CREATE TABLE IF NOT EXISTS upgrade_done (space TEXT NOT NULL, key TEXT NOT NULL, items INTEGER, done_at REAL,
                                         PRIMARY KEY (space, key));
"""



def file_key(path: str | os.PathLike[str]) -> str:
    """How the catalog names a file: absolute, with "~" expanded and "." and ".." folded, so that "../x/a.jpg" and
    "/w/x/a.jpg" are one file whichever way it was given. Symbolic links are kept as given."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))

@dataclass(frozen=True)
class PartialFile:
    """A long file whose first ``items`` items are committed; ``resume`` tells its ingestor where to go on."""

    key: str
    hash: str
    items: int = 0
    resume: dict[str, Any] | None = None


@dataclass(frozen=True)
class FileRecord:
    key: str
    size: int
    mtime: float
    hash: str
    items: int = 0
    status: str = "ok"  # "ok" or "failed"
    reason: str = ""


class Catalog:
    """SQLite file beside the store (or in memory for ``memory://``)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = str(path) if path else ":memory:"
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    # meta
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # files
    def files(self) -> dict[str, FileRecord]:
        rows = self.db.execute("SELECT key, size, mtime, hash, items, status, reason FROM files").fetchall()
        return {r[0]: FileRecord(*r) for r in rows}

    def files_version(self) -> tuple[int, int]:
        """Changes whenever the catalog may have changed (a commit by any connection): a cache key for ``files()``."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes

    def file(self, key: str) -> FileRecord | None:
        row = self.db.execute("SELECT key, size, mtime, hash, items, status, reason FROM files WHERE key = ?", (key,)).fetchone()
        return FileRecord(*row) if row else None

    def keys_with_hash(self, hashes: Sequence[str]) -> list[FileRecord]:
        """Indexed files whose content hash is one of ``hashes`` (the same photo under any name)."""
        if not hashes:
            return []
        marks = ", ".join("?" for _ in hashes)
        rows = self.db.execute(f"SELECT key, size, mtime, hash, items, status, reason FROM files WHERE hash IN ({marks})",
                               list(hashes)).fetchall()
        return [FileRecord(*r) for r in rows]

    def mark_pending(self, keys: Iterable[str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(k,) for k in keys])

    def pending(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT key FROM pending")]

    def commit_files(self, records: Sequence[FileRecord], removed: Sequence[str] = ()) -> None:
        """Record indexed files and clear them from the journal, in one transaction."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.size, r.mtime, r.hash, r.items, r.status, r.reason, now) for r in records],
            )
            keys = [(r.key,) for r in records] + [(k,) for k in removed]
            self.db.executemany("DELETE FROM files WHERE key = ?", [(k,) for k in removed])
            self.db.executemany("DELETE FROM pending WHERE key = ?", keys)
            self.db.executemany("DELETE FROM partial WHERE key = ?", keys)

    def forget(self, keys: Sequence[str]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM files WHERE key = ?", [(k,) for k in keys])
            self.db.executemany("DELETE FROM pending WHERE key = ?", [(k,) for k in keys])
            self.db.executemany("DELETE FROM partial WHERE key = ?", [(k,) for k in keys])

    # long files written in parts
    def partial(self) -> dict[str, PartialFile]:
        rows = self.db.execute("SELECT key, hash, items, resume FROM partial").fetchall()
        return {r[0]: PartialFile(r[0], r[1], r[2], json.loads(r[3]) if r[3] else None) for r in rows}

    def begin_parts(self, key: str, digest: str) -> None:
        """Start writing ``key`` in parts: it stops counting as indexed (its old items are deleted next)."""
        with self.db:
            self.db.execute("DELETE FROM files WHERE key = ?", (key,))
            self.db.execute("DELETE FROM pending WHERE key = ?", (key,))
            self.db.execute("INSERT OR REPLACE INTO partial VALUES (?, ?, 0, NULL, ?)", (key, digest, time.time()))

    def commit_part(self, key: str, items: int, resume: dict[str, Any] | None) -> None:
        """The first ``items`` items of ``key`` are in the store; a later run resumes at ``resume``."""
        with self.db:
            self.db.execute("UPDATE partial SET items = ?, resume = ?, updated_at = ? WHERE key = ?",
                            (items, json.dumps(resume) if resume else None, time.time(), key))

    # concepts (the personal memory lives beside the index)
    def concepts(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT name, value FROM concepts ORDER BY name")}

    def put_concept(self, name: str, value: dict[str, Any]) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO concepts VALUES (?, ?, ?)", (name, json.dumps(value), time.time()))

    # an upgrade's backfill journal: files whose items already hold the new model's vectors (polyseek.upgrade)
    def mark_upgraded(self, space: str, items: dict[str, int]) -> None:
        now = time.time()
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO upgrade_done VALUES (?, ?, ?, ?)",
                                [(space, key, count, now) for key, count in items.items()])

    def upgraded(self, space: str) -> dict[str, int]:
        return {key: count for key, count in self.db.execute("SELECT key, items FROM upgrade_done WHERE space = ?", (space,))}

    def clear_upgraded(self, space: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM upgrade_done WHERE space = ?", (space,))

    def has_concepts(self) -> bool:
        return self.db.execute("SELECT 1 FROM concepts LIMIT 1").fetchone() is not None

    def write_concepts(self, records: dict[str, dict[str, Any]], remove: Iterable[str] = ()) -> None:
        """Put several concepts and remove others in one transaction: all land or none."""
        now = time.time()
        with self.db:
            self.db.executemany("DELETE FROM concepts WHERE name = ?", [(name,) for name in remove])
            self.db.executemany("INSERT OR REPLACE INTO concepts VALUES (?, ?, ?)",
                                [(name, json.dumps(value), now) for name, value in records.items()])

    def delete_concept(self, name: str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM concepts WHERE name = ?", (name,)).rowcount > 0

    def close(self) -> None:
        self.db.close()
