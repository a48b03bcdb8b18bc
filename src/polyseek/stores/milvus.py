"""Milvus store: a cluster (``milvus://host:19530/collection``) or a Milvus Lite file (``milvus+lite:///path/index.db``).

One collection holds everything, with the same fields as the LanceDB store: ``id`` (primary key), ``doc``, ``path``,
``ext``, ``modality``, ``date``, ``locator``/``metadata`` (JSON text), ``text``, and per vector space a
``vec_<space>`` FLOAT_VECTOR (inner product) plus a ``has_<space>`` flag. Lexical search uses Milvus's own BM25
function (a sparse ``text_sparse`` field fed by an analyzer on ``text``; Milvus 2.5+ and Milvus Lite 3.x), or with
``?lexical=scan`` an O(n) BM25 over the texts fetched with the filter, for servers without it.

The index's description (schema version, and per space its encoder, dimension and weights revision) is also kept
with the collection, in its ``polyseek.index`` property (:meth:`MilvusStore.read_description`), so a machine that
only knows the URI can search and check its encoders (docs/scale.md). The catalog (file manifest and the write
journal that makes indexing kill-safe) is the writer's local SQLite file, so the store names a local folder in
``path``: next to the ``.db`` file for Lite, under the user data directory for a cluster. See docs/stores.md.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from polyseek.errors import InvalidInputError, StoreError, StoreURIError, require
from polyseek.stores.base import Row, check_vector, dumps, stores
from polyseek.stores.filters import MILVUS, compile_filters
from polyseek.stores.filters import milvus_quote as quote
from polyseek.stores.memory import STOP_WORDS, bm25_scores, tokenize
from polyseek.types import Filters

log = logging.getLogger(__name__)

DEFAULT_PORT = 19530
DEFAULT_COLLECTION = "polyseek"
TOKEN_ENV = "POLYSEEK_MILVUS_TOKEN"
SPARSE = "text_sparse"
MAX_TOPK = 16_384  # Milvus refuses limit (topk) above this
CHUNK = 500  # ids per `in [...]` expression
BATCH_BYTES = 8 << 20  # stay well under gRPC's 64 MiB message limit
# a refused connection worth another try (matched in lower case); a server that is really down costs 1.5 s more
TRANSIENT_MARKS = ("unavailable", "too many pings", "too_many_pings", "fail connecting")
# VARCHAR limits (Milvus caps max_length at 65,535 by default)
LIMITS = {"id": 512, "doc": 4096, "path": 4096, "ext": 64, "modality": 32, "locator": 8192, "metadata": 65_535,
          "text": 65_535}
BASE_FIELDS = ("id", "doc", "path", "ext", "modality", "date", "locator", "metadata", "text")
SCHEMES = {"milvus": "http", "milvus+https": "https", "milvus+lite": "lite"}  # routed here by stores.base.SCHEMES
_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
DESCRIPTION_PROPERTY = "polyseek.index"  # collection property holding the index description (JSON)


@dataclass(frozen=True)
class MilvusTarget:
    """Where a ``milvus*://`` URI points: what to connect to and where the local catalog lives."""

    uri: str  # what the user gave, without credentials
    connect: str  # what pymilvus connects to: http(s)://host:port or /abs/path/file.db
    collection: str
    local_dir: Path
    lite: bool = False
    db_name: str = ""
    token: str = ""
    index_type: str = "AUTOINDEX"
    lexical: str = "bm25"  # "bm25" (Milvus function) or "scan" (O(n) BM25 in Python)
    timeout: float = 30.0


def parse_uri(uri: str) -> MilvusTarget:
    """Read a Milvus store URI (no connection made).

    >>> parse_uri("milvus+lite:///tmp/idx.db").local_dir
    PosixPath('/tmp/idx.polyseek')
    """
    scheme, sep, _ = uri.partition("://")
    kind = SCHEMES.get(scheme.lower())
    if not sep or kind is None:
        raise StoreURIError(f"not a Milvus URI: {uri!r}", hint="use milvus://host:port[/collection] or "
                            "milvus+lite:///path/to/index.db")
    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"collection", "index", "lexical", "timeout", "db"}
    if unknown:
        raise StoreURIError(f"unknown option(s) {sorted(unknown)} in {uri!r}",
                            hint="accepted: collection, db, index, lexical=bm25|scan, timeout")
    lexical = query.get("lexical", "bm25")
    if lexical not in ("bm25", "scan"):
        raise StoreURIError(f"lexical={lexical!r} in {uri!r}", hint="accepted: lexical=bm25 (Milvus BM25 function) "
                            "or lexical=scan (BM25 in Python over fetched texts, for Milvus < 2.5)")
    try:
        timeout = float(query.get("timeout", 30))
    except ValueError as exc:
        raise StoreURIError(f"timeout must be seconds, got {query['timeout']!r}") from exc
    options: dict[str, Any] = {"lexical": lexical, "timeout": timeout}
    if kind == "lite":
        # everything after "://" is the path: milvus+lite:///abs/idx.db, milvus+lite://rel/idx.db, ~/idx.db
        raw = unquote(uri.split("://", 1)[1].split("?", 1)[0])
        if not raw.endswith(".db"):
            raise StoreURIError(f"Milvus Lite needs a file name ending in .db, got {raw!r}",
                                hint="e.g. milvus+lite:///home/me/polyseek/index.db")
        db_file = Path(raw).expanduser().absolute()
        collection = query.get("collection", DEFAULT_COLLECTION)
        local_dir = db_file.with_name(db_file.stem + ".polyseek")
        target = MilvusTarget(uri=uri.split("?", 1)[0], connect=str(db_file), collection=collection,
                              local_dir=local_dir, lite=True, index_type=query.get("index", "FLAT"), **options)
    else:
        if not parts.hostname:
            raise StoreURIError(f"no host in {uri!r}", hint="use milvus://host:port[/collection]")
        try:
            port = parts.port or (443 if kind == "https" else DEFAULT_PORT)
        except ValueError as exc:
            raise StoreURIError(f"bad port in {uri!r}") from exc
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if len(segments) > 2:
            raise StoreURIError(f"too many path parts in {uri!r}", hint="milvus://host:port/[database/]collection")
        db_name = query.get("db", segments[0] if len(segments) == 2 else "")
        collection = query.get("collection", segments[-1] if segments else DEFAULT_COLLECTION)
        token = ""
        if parts.username:
            token = unquote(parts.username) + (":" + unquote(parts.password) if parts.password else "")
        token = token or os.environ.get(TOKEN_ENV, "")
        host = parts.hostname
        clean = f"{scheme.lower()}://{host}:{port}/{db_name + '/' if db_name else ''}{collection}"
        target = MilvusTarget(uri=clean, connect=f"{kind}://{host}:{port}", collection=collection,
                              local_dir=remote_catalog_dir(clean), db_name=db_name, token=token,
                              index_type=query.get("index", "AUTOINDEX"), **options)
    if not _COLLECTION_NAME.match(target.collection):
        raise StoreURIError(f"invalid Milvus collection name {target.collection!r}",
                            hint="letters, digits and underscores, starting with a letter or underscore")
    return target


def remote_catalog_dir(clean_uri: str) -> Path:
    """Local folder for a cluster collection's catalog: readable name plus a hash of the URI."""
    from platformdirs import user_data_dir

    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", clean_uri.split("://", 1)[1]).strip("_")[:80]
    digest = hashlib.sha1(clean_uri.encode()).hexdigest()[:10]
    return Path(user_data_dir("polyseek")) / "milvus" / f"{readable}-{digest}"


def filter_expr(filters: Filters | None, space: str | None = None) -> tuple[str, str | None]:
    """A Milvus boolean expression for ``filters``, and the glob still to check exactly (None when ``like`` is exact)."""
    compiled = compile_filters(filters, MILVUS, space)
    return compiled.expression or "", compiled.post_glob


def _fit(value: str, limit: int) -> str:
    data = value.encode("utf-8")
    return value if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


class _NoLiteTimestampWarning(logging.Filter):
    """Milvus Lite has no session timestamps, so pymilvus warns on every query iterator; the fallback it takes is fine."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


# Milvus Lite runs an in-process gRPC server per .db path and holds a lock on it; stop it once the last store
# using that path closes, so another process can open the file.
_LITE_USERS: Counter[str] = Counter()
_LITE_LOCK = threading.Lock()


@stores.register("milvus")
class MilvusStore:
    """A Milvus collection; every read uses Strong consistency so a search sees the writes before it."""

    def _connect(self, pymilvus: Any) -> Any:
        """A client of the target; a connection the server has just turned away (gRPC UNAVAILABLE, e.g. its
        "too many pings" GOAWAY to a kept-alive channel of this process) is tried again twice, 0.5 s then 1 s on."""
        for attempt in range(3):
            try:
                return pymilvus.MilvusClient(uri=self.target.connect, token=self.target.token,
                                             db_name=self.target.db_name, timeout=self.target.timeout)
            except self._exceptions as exc:
                if attempt == 2 or not any(m in str(exc).lower() for m in TRANSIENT_MARKS):
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def __init__(self, uri: str) -> None:
        self.target = parse_uri(uri)
        pymilvus = require("pymilvus", "milvus")
        if self.target.lite:
            require("milvus_lite", "milvus")
            iterator_log = logging.getLogger("pymilvus.client.iterator.query_iterator")
            if not any(isinstance(f, _NoLiteTimestampWarning) for f in iterator_log.filters):
                iterator_log.addFilter(_NoLiteTimestampWarning())
        self.uri = self.target.uri
        self.path = self.target.local_dir
        self.collection = self.target.collection
        self.spaces: dict[str, int] = {}
        self._lexical_native = self.target.lexical == "bm25"
        self._exceptions = (pymilvus.MilvusException,)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the local catalog folder {self.path}: {exc}") from exc
        if self.target.lite:
            with _LITE_LOCK:
                _LITE_USERS[self.target.connect] += 1
        try:
            self.client = self._connect(pymilvus)
        except self._exceptions as exc:
            self._release_lite()
            hint = ("Milvus Lite lets one process open a .db file at a time: close the other polyseek process"
                    if self.target.lite else f"check that Milvus is running at {self.target.connect}")
            raise StoreError(f"cannot open Milvus store {self.uri}: {exc}", hint=hint) from exc
        self._closed = False
        try:
            if self._call(self.client.has_collection, self.collection):
                self._adopt_existing()
        except StoreError:
            self.close()
            raise

    # ---- plumbing -----------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._exceptions as exc:
            raise StoreError(f"Milvus {getattr(fn, '__name__', 'call')} failed on {self.uri}: {exc}") from exc

    def _adopt_existing(self) -> None:
        description = self._call(self.client.describe_collection, self.collection)
        names = set()
        for field in description["fields"]:
            names.add(field["name"])
            if field["name"].startswith("vec_"):
                self.spaces[field["name"][4:]] = int(field["params"]["dim"])
        missing = set(BASE_FIELDS) - names
        if missing:
            raise StoreError(f"Milvus collection {self.collection!r} at {self.uri} was not made by polyseek "
                             f"(no {sorted(missing)} fields)", hint="name another collection: .../<collection>")
        if SPARSE not in names:
            self._lexical_native = False  # made with lexical=scan, or by a server without BM25
        state = self._call(self.client.get_load_state, self.collection).get("state")
        if "Loaded" not in str(state):
            self._call(self.client.load_collection, self.collection)

    def _release_lite(self) -> None:
        if not self.target.lite:
            return
        with _LITE_LOCK:
            _LITE_USERS[self.target.connect] -= 1
            last = _LITE_USERS[self.target.connect] <= 0
            if last:
                del _LITE_USERS[self.target.connect]
        if last:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.target.connect)

    def _require_collection(self) -> None:
        if not self.spaces:
            raise StoreError(f"store {self.uri} is empty", hint="index something first: polyseek index PATH")

    # ---- schema -------------------------------------------------------------------------------
    def create(self, spaces: dict[str, int]) -> None:
        for space, dim in spaces.items():
            if not space.isidentifier():
                raise StoreError(f"space names must be identifiers, got {space!r}")
            if space in self.spaces and self.spaces[space] != dim:
                raise StoreError(f"space {space!r} already holds {self.spaces[space]}-d vectors, not {dim}-d")
        missing = {s: d for s, d in spaces.items() if s not in self.spaces}
        if not missing:
            return
        if self.spaces:
            if self.count() > 0:
                # Milvus 2.5 and Milvus Lite cannot add a vector field to a collection that has data (2.6 can add a
                # nullable one, which polyseek does not do yet): refuse rather than copy a whole cluster collection.
                raise StoreError(
                    f"Milvus collection {self.collection!r} has spaces {sorted(self.spaces)}; adding "
                    f"{sorted(missing)} needs a new collection",
                    hint="index into another collection (milvus://host:port/<new_name>, or ?collection=<new_name> "
                         "for Lite), or drop this one and index again",
                )
            self._call(self.client.drop_collection, self.collection)  # empty: recreate with every space
        self._create_collection({**self.spaces, **spaces})

    def _create_collection(self, spaces: dict[str, int]) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=LIMITS["id"])
        for name in ("doc", "path", "ext", "modality", "locator", "metadata"):
            schema.add_field(name, DataType.VARCHAR, max_length=LIMITS[name])
        schema.add_field("date", DataType.DOUBLE)
        index = self.client.prepare_index_params()
        if self._lexical_native:
            # Same tokens as the memory store: \w+ words, lower-cased, English stop words removed
            analyzer = {"tokenizer": "standard",
                        "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOP_WORDS)}]}
            schema.add_field("text", DataType.VARCHAR, max_length=LIMITS["text"], enable_analyzer=True,
                             analyzer_params=analyzer)
            schema.add_field(SPARSE, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                         input_field_names=["text"], output_field_names=[SPARSE]))
            # k1/b as in the memory store and Lucene (Milvus defaults to k1=1.5). Nested under "params": the wire form
            # older clients used, which servers still read and milvus-lite 3.2 reads only (it drops flat keys).
            index.add_index(SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params={"params": {"bm25_k1": 1.2, "bm25_b": 0.75}})
        else:
            schema.add_field("text", DataType.VARCHAR, max_length=LIMITS["text"])
        for space, dim in sorted(spaces.items()):
            schema.add_field(f"vec_{space}", DataType.FLOAT_VECTOR, dim=int(dim))
            schema.add_field(f"has_{space}", DataType.BOOL)
            index.add_index(f"vec_{space}", index_type=self.target.index_type, metric_type="IP")
        try:
            self.client.create_collection(self.collection, schema=schema, consistency_level="Strong")
        except self._exceptions as exc:
            hint = ("Milvus 2.5+ is needed for BM25 full-text search; on an older server add ?lexical=scan"
                    if self._lexical_native and "bm25" in str(exc).lower() else None)
            raise StoreError(f"cannot create Milvus collection {self.collection!r} at {self.uri}: {exc}",
                             hint=hint) from exc
        try:
            # sync=False: the collection is empty, so there is nothing to wait for (pymilvus would poll every 0.5 s)
            self.client.create_index(self.collection, index, sync=False)
            self.client.load_collection(self.collection)
        except self._exceptions as exc:
            self._call(self.client.drop_collection, self.collection)  # no half-made collection left to adopt
            raise StoreError(f"cannot index Milvus collection {self.collection!r} at {self.uri}: {exc}") from exc
        self.spaces = dict(spaces)

    # ---- the index description, kept with the collection ------------------------------------------
    def read_description(self) -> dict[str, Any] | None:
        """The index description stored with the collection (None when it has none, or there is no collection)."""
        if not self.spaces:
            return None
        properties = self._call(self.client.describe_collection, self.collection).get("properties") or {}
        raw = properties.get(DESCRIPTION_PROPERTY)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise StoreError(f"Milvus collection {self.collection!r} at {self.uri} has an unreadable "
                             f"{DESCRIPTION_PROPERTY} property: {exc}") from exc
        return value if isinstance(value, dict) else None

    def write_description(self, description: dict[str, Any]) -> None:
        """Store the index description with the collection (the writer does it; readers on other machines use it)."""
        self._require_collection()
        text = json.dumps(description, sort_keys=True)
        if self.read_description() != json.loads(text):
            self._call(self.client.alter_collection_properties, self.collection,
                       properties={DESCRIPTION_PROPERTY: text})

    # ---- writes -------------------------------------------------------------------------------
    def _record(self, row: Row) -> dict[str, Any]:
        unknown = set(row.vectors) - set(self.spaces)
        if unknown:
            raise StoreError(f"unknown vector space(s) {sorted(unknown)} for {row.id!r}")
        record: dict[str, Any] = {"id": row.id, "doc": row.doc, "path": row.path, "ext": row.ext,
                                  "modality": row.modality, "date": float(row.date),
                                  "locator": dumps(row.locator), "metadata": dumps(row.metadata)}
        for name, value in record.items():
            if isinstance(value, str) and len(value.encode("utf-8")) > LIMITS[name]:
                raise InvalidInputError(f"{name} of {row.id!r} is {len(value.encode())} bytes; Milvus stores at most "
                                        f"{LIMITS[name]} in this field")
        if len(row.text.encode("utf-8")) > LIMITS["text"]:
            log.warning("text of %s cut to %d bytes for Milvus (its vectors saw the whole text)", row.id, LIMITS["text"])
        record["text"] = _fit(row.text, LIMITS["text"])
        for space, dim in self.spaces.items():
            vector = row.vectors.get(space)
            record[f"has_{space}"] = vector is not None
            # Milvus has no null vectors before 2.6: a zero vector plus has_<space>=false keeps the row out of that space
            record[f"vec_{space}"] = (check_vector(space, vector, dim, row.id) if vector is not None
                                      else np.zeros(dim, dtype=np.float32)).tolist()
        return record

    def upsert(self, rows: Sequence[Row]) -> None:
        """All rows are checked before anything is sent. A large batch goes in several requests, which Milvus does not
        make atomic together; the catalog's journal covers that (a half-written file is removed and indexed again)."""
        if not rows:
            return
        self._require_collection()
        records = [self._record(row) for row in rows]
        per_vector = 4 * sum(self.spaces.values())
        batch: list[dict[str, Any]] = []
        size = 0
        for record in records:
            batch.append(record)
            size += per_vector + len(record["text"]) + len(record["metadata"]) + 2 * len(record["path"]) + 256
            if size >= BATCH_BYTES:
                self._call(self.client.upsert, self.collection, batch)
                batch, size = [], 0
        if batch:
            self._call(self.client.upsert, self.collection, batch)

    def delete(self, *, ids: Sequence[str] = (), docs: Sequence[str] = ()) -> None:
        if not self.spaces:
            return
        for column, values in (("id", list(dict.fromkeys(ids))), ("doc", list(dict.fromkeys(docs)))):
            for start in range(0, len(values), CHUNK):
                chunk = values[start:start + CHUNK]
                self._call(self.client.delete, self.collection,
                           filter=f"{column} in [" + ", ".join(quote(v) for v in chunk) + "]")

    # ---- reads --------------------------------------------------------------------------------
    def _search(self, field: str, data: Any, k: int, expr: str, post_glob: str | None, params: dict) -> list[tuple[str, float, str]]:
        """Top ``k`` of one Milvus search; when ``like`` was looser than the glob, fetch more until ``k`` pass it."""
        limit = min(MAX_TOPK, k if post_glob is None else max(4 * k, 64))
        while True:
            result = self._call(self.client.search, self.collection, data=[data], anns_field=field, limit=limit,
                                filter=expr, output_fields=["path"], search_params=params, consistency_level="Strong")
            hits = [(str(h["id"]), float(h["distance"]), h["entity"].get("path", "")) for h in result[0]]
            if post_glob is None:
                return hits
            kept = [h for h in hits if fnmatch.fnmatchcase(h[2], post_glob)]
            if len(kept) >= k or len(hits) < limit or limit >= MAX_TOPK:
                return kept[:k]
            limit = min(MAX_TOPK, limit * 4)

    def search(self, space: str, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        if space not in self.spaces or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        expr, post_glob = filter_expr(filters, space)
        hits = self._search(f"vec_{space}", query, min(k, MAX_TOPK), expr, post_glob, {"metric_type": "IP"})
        # ties (equal scores up to float noise) are broken by id, as in the reference store
        return [(i, s) for i, s, _ in sorted(hits, key=lambda h: (-round(h[1], 6), h[0]))]

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        if not self.spaces or k <= 0 or not tokenize(text):
            return []
        expr, post_glob = filter_expr(filters)
        if not self._lexical_native:
            return self._scan_text_search(text, k, expr, post_glob)
        hits = self._search(SPARSE, text, min(k, MAX_TOPK), expr, post_glob, {"metric_type": "BM25"})
        # A Milvus server reports the BM25 score as the distance; Milvus Lite reports -score (smaller = closer).
        # BM25 is never negative, so the magnitude is the score on both.
        scored = [(i, abs(s)) for i, s, _ in hits if s != 0]
        return sorted(scored, key=lambda h: (-h[1], h[0]))

    def _scan_text_search(self, text: str, k: int, expr: str, post_glob: str | None) -> list[tuple[str, float]]:
        """BM25 over every row's text that passes the filter: O(n) per query, for servers without the BM25 function."""
        ids, texts = [], []
        for record in self._iterate(" and ".join(c for c in ('text != ""', expr) if c), ["id", "text", "path"]):
            if post_glob is None or fnmatch.fnmatchcase(record["path"], post_glob):
                ids.append(record["id"])
                texts.append(record["text"])
        scores = bm25_scores(text, texts)
        order = sorted((i for i in range(len(ids)) if scores[i] > 0), key=lambda i: (-scores[i], ids[i]))
        return [(ids[i], float(scores[i])) for i in order[:k]]

    def _iterate(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        iterator = self._call(self.client.query_iterator, self.collection, batch_size=1000, filter=expr,
                              output_fields=fields, consistency_level="Strong")
        try:
            while batch := self._call(iterator.next):
                yield from batch
        finally:
            iterator.close()

    def _query_ids(self, ids: Sequence[str], fields: list[str], extra: str = "") -> Iterator[dict[str, Any]]:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start:start + CHUNK]
            expr = extra + "id in [" + ", ".join(quote(v) for v in chunk) + "]"
            yield from self._call(self.client.query, self.collection, filter=expr, output_fields=fields,
                                  limit=len(chunk), consistency_level="Strong")

    def get(self, ids: Sequence[str]) -> list[Row]:
        if not self.spaces or not ids:
            return []
        found = {}
        for rec in self._query_ids(ids, list(BASE_FIELDS)):
            found[rec["id"]] = Row(
                id=rec["id"], doc=rec["doc"], path=rec["path"], modality=rec["modality"],
                locator=json.loads(rec["locator"] or "{}"), text=rec["text"] or "",
                metadata=json.loads(rec["metadata"] or "{}"), date=float(rec["date"] or 0.0),
            )
        return [found[i] for i in ids if i in found]

    def get_vectors(self, space: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if space not in self.spaces or not ids:
            return {}
        return {rec["id"]: np.asarray(rec[f"vec_{space}"], dtype=np.float32)
                for rec in self._query_ids(ids, ["id", f"vec_{space}"], extra=f"has_{space} == true and ")}

    def count(self) -> int:
        if not self.spaces:
            return 0
        result = self._call(self.client.query, self.collection, filter="", output_fields=["count(*)"],
                            consistency_level="Strong")
        return int(result[0]["count(*)"])

    def optimize(self) -> None:
        """Lite: flush the write buffer into indexed segments (and merge them, which also evens out BM25 statistics,
        kept per segment). A cluster seals, indexes and compacts segments itself; a manual flush there is
        rate-limited and discouraged, so nothing is done."""
        if self.spaces and self.target.lite:
            self._call(self.client.flush, self.collection)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.client.close()
        finally:
            self._release_lite()
