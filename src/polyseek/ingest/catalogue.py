"""Catalogues: a JSONL or CSV file whose records (a product, a film, a note with a photo) each become one item.

A record is ``{"id", "image": a path relative to the catalogue file (or absolute), "text" and/or named text
fields, "metadata": {...}}``; a CSV file has a header row with the same column names (``metadata`` as a JSON
object string). Each record becomes one item holding both vectors: its picture in the image space and its text
in the text space (:meth:`polyseek.spaces.Spaces.encode_chunks`).

Incremental per record: an item's id derives from the catalogue's path and the record id
(:func:`record_item_id`), so an unchanged record keeps its id when the file is indexed again, and
:class:`ReuseRecordVectors` (the indexer's encode step) copies its stored vectors instead of encoding it
again when its content hash (record fields + image bytes) is unchanged. A bad record never stops the file:
it is skipped and reported as one line with its line number (:func:`take_problems`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import CorruptFileError, FileTooLargeError, InvalidInputError, PolyseekError
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.types import Locator, Modality

log = logging.getLogger(__name__)
MAX_BYTES = 200_000_000
MAX_DEPTH = 32  # lists/objects nested deeper than this in a record are refused (metadata is flat in practice)
RESERVED = ("id", "image", "text", "metadata")
PLAIN_FIELDS = ("title", "name")  # named fields whose value opens the text as is; others read "field: value"
ACCEPTED = ('each record needs "id" and at least one of "image" (a path relative to the catalogue) or text '
            '("text" or named text fields); "metadata" must be an object')

_problems: dict[str, list[dict[str, str]]] = {}
_problems_lock = threading.Lock()


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/objects nest more than ``limit`` levels (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)
    return False


class BadRecord(InvalidInputError):
    """One catalogue record that cannot become an item (the rest of the file is indexed)."""

    code = "bad_record"


def record_item_id(doc_key: str, record_id: str) -> str:
    """The stable item id of a catalogue record: the same for the same catalogue path and record id.

    >>> len(record_item_id("/data/films.jsonl", "1"))
    20
    """
    return hashlib.blake2b(f"{doc_key}#record:{record_id}".encode(errors="surrogateescape"), digest_size=10).hexdigest()


def take_problems(keys: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Bad records reported since the last call, as the indexer's ``failed`` entries (``path``, ``reason``)."""
    with _problems_lock:
        wanted = list(_problems) if keys is None else [k for k in keys if k in _problems]
        return [entry for key in wanted for entry in _problems.pop(key)]


def _report(path: Path, line: int, reason: str) -> None:
    with _problems_lock:
        _problems.setdefault(str(path), []).append({"path": f"{path}:{line}", "reason": f"line {line}: {reason}"})


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """``(line number, record or None, why not)`` for each record of a JSONL or CSV file."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FileTooLargeError(f"{path.name}: {size:,} bytes, over the catalogue limit of {MAX_BYTES:,}")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise CorruptFileError(f"{path.name}: looks binary, not a catalogue (accepted: UTF-8 JSON lines or CSV)")
    text = data.decode("utf-8-sig", errors="replace")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
            raise CorruptFileError(f"{path.name}: the CSV header has no 'id' column", hint=ACCEPTED)
        for row in reader:
            line = reader.line_num
            if None in row:
                yield line, None, f"{len(row[None]) + len(reader.fieldnames)} fields, the header has {len(reader.fieldnames)}"
                continue
            record: dict[str, Any] = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
            if "metadata" in record:
                try:
                    record["metadata"] = json.loads(record["metadata"])
                except json.JSONDecodeError as exc:
                    yield line, None, f"'metadata' is not a JSON object ({exc.msg})"
                    continue
                except RecursionError:
                    yield line, None, "'metadata' is nested too deeply"
                    continue
            yield line, record, ""
        return
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except RecursionError:  # "[[[[…" thousands deep: refused like any other bad line
            yield line, None, "JSON nested too deeply"
            continue
        if not isinstance(record, dict):
            yield line, None, f"a JSON {type(record).__name__}, not an object"
            continue
        yield line, record, ""


def _field_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def record_text(record: dict[str, Any]) -> str:
    """The text a record is searched by: ``text``, then named fields (title first, then ``field: value``)."""
    lines = [str(record[name]).strip() for name in PLAIN_FIELDS if _field_text(record.get(name))]
    if isinstance(record.get("text"), str) and record["text"].strip():
        lines.append(record["text"].strip())
    for key, value in record.items():
        if key in RESERVED or key in PLAIN_FIELDS:
            continue
        rendered = _field_text(value).strip()
        if rendered:
            lines.append(f"{key}: {rendered}")
    return "\n".join(lines)


@ingestors.register("catalogue")
class CatalogueIngestor:
    """JSON lines (``.jsonl``) or CSV with a header: one item per record (see the module docstring)."""

    name = "catalogue"
    extensions = frozenset({"jsonl", "csv"})
    own_ids = True  # a record's item id comes from its record id

    def item_ids(self, path: Path) -> list[str] | None:
        """This file's item ids in file order (records carry their own ids: they are not numbered); None for a
        table that is not a catalogue (its passages are numbered like any text file's)."""
        return catalogue_item_ids(str(path)) if is_catalogue(path) else None

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
        from polyseek.ingest.images import open_image

        if not is_catalogue(path):  # a data export or a log in a notes folder: searchable as text, not refused
            yield from table_passages(path)
            return
        with _problems_lock:
            _problems.pop(str(path), None)
        doc_key = str(path)
        seen: dict[str, int] = {}
        records = list(read_records(path))
        for done, (line, record, why) in enumerate(records, start=1):
            if progress and done % 100 == 0:
                progress(done, len(records), "records")
            if record is None:
                _report(path, line, why)
                continue
            try:
                chunk = self._chunk(path, doc_key, line, record, seen, open_image)
            except PolyseekError as exc:
                _report(path, line, exc.message)
                continue
            yield chunk

    def _chunk(self, path: Path, doc_key: str, line: int, record: dict[str, Any], seen: dict[str, int],
               open_image: Callable[[Path], Any]) -> Chunk:
        record_id = record.get("id")
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or not str(record_id).strip():
            raise BadRecord("missing 'id' (a non-empty string or integer)" if record_id in (None, "") else
                            f"'id' must be a string or integer, got {type(record_id).__name__}", hint=ACCEPTED)
        record_id = str(record_id).strip()
        if record_id in seen:
            raise BadRecord(f"duplicate id {record_id!r} (first on line {seen[record_id]})")
        metadata = record.get("metadata", {})
        if not isinstance(metadata, dict):
            raise BadRecord(f"'metadata' must be an object, got {type(metadata).__name__}")
        if _deeper_than(record, MAX_DEPTH):
            raise BadRecord(f"the record is nested more than {MAX_DEPTH} levels deep")
        text = record_text(record)
        digest = hashlib.blake2b(json.dumps(record, sort_keys=True, default=str).encode(), digest_size=12)
        image = None
        image_path = None
        if record.get("image") not in (None, ""):
            if not isinstance(record["image"], str):
                raise BadRecord(f"'image' must be a path string, got {type(record['image']).__name__}")
            image_path = (path.parent / record["image"]).expanduser()
            if not image_path.is_file():
                raise BadRecord(f"image not found: {record['image']} (paths are relative to {path.name})")
            try:
                digest.update(image_path.read_bytes())
                image = open_image(image_path)
            except OSError as exc:
                raise BadRecord(f"cannot read image {record['image']}: {exc.strerror}") from None
            except PolyseekError as exc:
                raise BadRecord(f"image {record['image']}: {exc.message}") from None
        elif not text.strip():
            raise BadRecord("neither an image nor any text", hint=ACCEPTED)
        seen[record_id] = line
        fields = {k: v for k, v in record.items() if k not in RESERVED and _field_text(v)}
        meta = {**fields, **metadata, "record_id": record_id, "record_hash": digest.hexdigest()}
        if image_path is not None:
            meta["image"] = str(image_path.absolute())
        chunk = Chunk(modality=Modality.IMAGE if image is not None else Modality.TEXT, locator=Locator(line_start=line),
                      text=text, image=image, metadata=meta)
        chunk.item_id = record_item_id(doc_key, record_id)
        return chunk


class ReuseRecordVectors:
    """The indexer's encode step, wrapped: catalogue records whose content hash is unchanged since the last run
    get their stored vectors back instead of being encoded again; everything else goes to ``encode``.
    """

    def __init__(self, store: Any, encode: Callable[[list[Chunk]], dict[str, list[np.ndarray | None]]]) -> None:
        self.store = store
        self.encode = encode

    def __call__(self, chunks: list[Chunk]) -> dict[str, list[np.ndarray | None]]:
        keyed = [i for i, c in enumerate(chunks) if getattr(c, "item_id", None) and "record_hash" in c.metadata]
        reused: dict[int, dict[str, np.ndarray]] = {}
        if keyed:
            try:
                reused = self._stored(chunks, keyed)
            except Exception:  # noqa: BLE001 - a store without the rows or spaces just means encoding again
                log.debug("no stored vectors to reuse", exc_info=True)
        todo = [i for i in range(len(chunks)) if i not in reused]
        encoded = self.encode([chunks[i] for i in todo]) if todo else {}
        spaces = set(encoded) | {s for v in reused.values() for s in v}
        out: dict[str, list[np.ndarray | None]] = {s: [None] * len(chunks) for s in spaces}
        for position, i in enumerate(todo):
            for space, values in encoded.items():
                out[space][i] = values[position]
        for i, vectors in reused.items():
            chunks[i].image = None  # not needed: its vectors are back
            for space, vector in vectors.items():
                out[space][i] = vector
        return out

    def _stored(self, chunks: list[Chunk], keyed: list[int]) -> dict[int, dict[str, np.ndarray]]:
        ids = [chunks[i].item_id for i in keyed]
        rows = {row.id: row for row in self.store.get(ids)}
        same = [i for i in keyed if chunks[i].item_id in rows
                and rows[chunks[i].item_id].metadata.get("record_hash") == chunks[i].metadata["record_hash"]]
        if not same:
            return {}
        wanted = [chunks[i].item_id for i in same]
        by_space = {space: self.store.get_vectors(space, wanted) for space in ("image", "text")}
        out: dict[int, dict[str, np.ndarray]] = {}
        for i in same:
            vectors = {s: v[chunks[i].item_id] for s, v in by_space.items() if chunks[i].item_id in v}
            if vectors:
                out[i] = vectors
        return out


def is_catalogue(path: Path) -> bool:
    """Whether a ``.csv``/``.jsonl`` file is a catalogue: a CSV header with an ``id`` column, or JSON lines whose
    first record is an object with an ``id``. Anything else with these extensions is indexed as text."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(65_536)
    except OSError:
        return True  # let the catalogue reader raise its own clear error
    if b"\x00" in raw[:8192]:
        return True  # binary: the catalogue reader says so
    head = raw.decode("utf-8-sig", errors="replace")
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines:
        return True
    if path.suffix.lower() == ".csv":
        header = next(csv.reader([lines[0]]), [])
        return "id" in [name.strip() for name in header]
    try:
        first = json.loads(lines[0])
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(first, dict) and "id" in first


def table_passages(path: Path) -> Iterator[Chunk]:
    """A CSV or JSON-lines file that is not a catalogue, as text passages: each CSV row reads
    ``column: value; …`` (so a cell is found with its header), JSON lines as written; lines keep their numbers."""
    from polyseek.ingest.text import PASSAGE_CHARS, read_text

    text = read_text(path)
    rows: list[tuple[int, str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [name.strip() for name in next(reader, [])]
        for row in reader:
            cells = [f"{name}: {value.strip()}" if name else value.strip()
                     for name, value in zip(header + [""] * max(0, len(row) - len(header)), row) if value.strip()]
            if cells:
                rows.append((reader.line_num, "; ".join(cells)))
        if header and not rows:
            rows.append((1, "; ".join(header)))
    else:
        rows = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    start = 0
    while start < len(rows):
        stop, size = start, 0
        while stop < len(rows) and (stop == start or size + len(rows[stop][1]) <= PASSAGE_CHARS):
            size += len(rows[stop][1]) + 1
            stop += 1
        body = "\n".join(line for _number, line in rows[start:stop])[: PASSAGE_CHARS * 2]
        yield Chunk(modality=Modality.TEXT, locator=Locator(line_start=rows[start][0], line_end=rows[stop - 1][0]),
                    text=body)
        start = stop


def catalogue_item_ids(doc_key: str) -> list[str]:
    """Item ids of a catalogue file's records, in file order (for listing a file's items: they are not numbered).

    Reads the file as it is now; records that were bad when indexed are simply not found in the store.
    """
    path = Path(doc_key)
    ids = []
    for _line, record, _why in read_records(path):
        if record is not None and isinstance(record.get("id"), (str, int)) and str(record["id"]).strip():
            ids.append(record_item_id(doc_key, str(record["id"]).strip()))
    return list(dict.fromkeys(ids))
