"""What runs on the Ray workers: read and decode one file into chunk rows (a task), embed rows in batches (an actor).

Rows are ``{"key", "pos", "n", "payload"}``: a chunk row has ``n = -1`` and its pickled :class:`Chunk` (after
the actor: ``(chunk, vectors)``, pixels dropped); each file ends with one marker row, ``pos = n =`` its chunk
count and ``payload`` the pickled ``(status, reason)``. The coordinator (:mod:`.ray_ingest`) writes a file only
once its marker and every chunk before it have arrived, so a retried task (a killed worker) never half-writes one.
This module does not import Ray: the coordinator hands these callables to Ray Data.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.catalog import Catalog
from polyseek.errors import PolyseekError
from polyseek.ingest.base import ingestor_for
from polyseek.spaces import Spaces
from polyseek.types import Signal

CHUNK_ROW = -1


def _quiet(done: float, total: float, unit: str) -> None:
    """Per-file progress is not reported from the workers."""


def decode_file(row: dict[str, Any], file_items: int = 100_000) -> Iterator[dict[str, Any]]:
    """Read one file on a worker into chunk rows, then its end marker (``failed`` with the reason if it broke)."""
    key = str(row["key"])
    path = Path(key)
    count, status, reason = 0, "ok", ""
    try:
        for chunk in ingestor_for(path).ingest(path, _quiet):
            if count >= file_items:
                reason = f"only its first {file_items:,} items are indexed (the limit per file)"
                break
            yield {"key": key, "pos": count, "n": CHUNK_ROW, "payload": pickle.dumps(chunk)}
            count += 1
    except Exception as exc:  # noqa: BLE001 - a broken file must never stop the run
        status = "failed"
        reason = exc.message if isinstance(exc, PolyseekError) else f"{path.name}: {type(exc).__name__}: {exc}"
        if isinstance(exc, MemoryError):
            reason = f"{path.name}: ran out of memory while reading it"
    if status == "failed":
        count = 0  # a failed file keeps no items, as in the single-process indexer
    yield {"key": key, "pos": count, "n": count, "payload": pickle.dumps((status, reason))}


class EmbedWorker:
    """A Ray Data actor: loads each encoder it needs once (checking its weights against the index description),
    then embeds batches of chunk rows; marker rows pass through."""

    def __init__(self, store_uri: str, description: dict[str, Any], names: dict[str, str], threads: int = 1) -> None:
        # ONNX Runtime sizes its pool by the machine's cores, not by Ray's share: actors would oversubscribe them
        os.environ.setdefault("POLYSEEK_THREADS", str(max(1, threads)))
        catalog = Catalog(None)
        catalog.set_meta("index", description)
        self.spaces = Spaces(catalog, store_uri, {Signal(space): name for space, name in names.items()})
        self.spaces.check()  # each encoder loads on first use, once per actor (photos never load the text one), and
        # is refused there if its weights are not the revision the index records

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        chunk_rows = [i for i, n in enumerate(batch["n"]) if int(n) == CHUNK_ROW]
        chunks = [pickle.loads(batch["payload"][i]) for i in chunk_rows]
        vectors = self.spaces.encode_chunks(chunks) if chunks else {}
        payload = np.empty(len(batch["n"]), dtype=object)
        payload[:] = list(batch["payload"])
        for j, i in enumerate(chunk_rows):
            row_vectors = {space: np.asarray(values[j], dtype=np.float32) for space, values in vectors.items()
                           if values[j] is not None}
            payload[i] = pickle.dumps((chunks[j], row_vectors))
        return {"key": batch["key"], "pos": batch["pos"], "n": batch["n"], "payload": payload}
