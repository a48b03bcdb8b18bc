"""The facade: every feature is a verb here, and the CLI and HTTP server only call these verbs."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek import __version__
from polyseek.catalog import Catalog
from polyseek.config import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, SCHEMA_VERSION, resolve_store_uri
from polyseek.encoders.base import TextEncoder, load_encoder, normalize
from polyseek.errors import IndexMismatchError, InvalidInputError, NotFoundError
from polyseek.indexer import Indexer, ProgressCallback
from polyseek.ingest.base import Chunk
from polyseek.inputs import parse_input
from polyseek.search.fusion import FUSERS
from polyseek.stores.base import Store, open_store
from polyseek.types import Filters, Hit, IndexSummary, Query, QueryPart

IMAGE_SPACE = "image"
TEXT_SPACE = "text"
LEXICAL = "lexical"
SIGNALS = (IMAGE_SPACE, TEXT_SPACE, LEXICAL)


class _QueryRows:
    """The store as seen by one query: rows fetched once and reused by every later stage."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: dict[str, Any] = {}

    def get(self, ids: Sequence[str]) -> list:
        missing = [i for i in dict.fromkeys(ids) if i not in self._rows]
        if missing:
            self._rows.update((row.id, row) for row in self._store.get(missing))
        return [self._rows[i] for i in ids if i in self._rows]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Engine:
    """Index, search and manage one collection.

    >>> engine = Engine("memory://", image_encoder="deterministic", text_encoder="deterministic")  # doctest: +SKIP
    >>> engine.index(["photos/"])                                                              # doctest: +SKIP
    >>> engine.search("a dog running on grass", k=5)                                           # doctest: +SKIP
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        image_encoder: str | None = None,
        text_encoder: str | None = None,
        weights: dict[str, float] | None = None,
        fusion: str = "rrf",
    ) -> None:
        self.store_uri = resolve_store_uri(store)
        self.store: Store = open_store(self.store_uri)
        local_dir = getattr(self.store, "path", None)
        self.catalog = Catalog(Path(local_dir) / "catalog.sqlite" if local_dir else None)
        self._requested = {IMAGE_SPACE: image_encoder, TEXT_SPACE: text_encoder}
        self._encoders: dict[str, TextEncoder] = {}
        self._lock = threading.RLock()
        self.weights = {IMAGE_SPACE: 1.0, TEXT_SPACE: 1.0, LEXICAL: 0.5, **(weights or {})}
        if fusion not in FUSERS:
            raise InvalidInputError(f"unknown fusion {fusion!r}", hint="accepted: " + ", ".join(FUSERS))
        self.fusion = fusion
        self.reranker = "cross-encoder"  # used when a query asks for reranking (search.rerank registry)
        # queries that leave rerank unset (None) get it when PDF pages lead the results (tuned in docs/documents.md)
        self.rerank_documents = True
        # signals that rank PDF pages and regions when the query has text (tuned in docs/documents.md)
        self.document_signals: tuple[str, ...] = (TEXT_SPACE, LEXICAL)
        self._check_meta()
        self.indexer = Indexer(self.store, self.catalog, self._encode_chunks)
        self.indexer.recover()

    # ---- description and encoders -------------------------------------------------------------
    def _check_meta(self) -> None:
        meta = self.catalog.get_meta("index")
        if meta is None:
            return
        if meta.get("schema_version", 0) > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"index at {self.store_uri} has schema {meta['schema_version']}, newer than this polyseek ({SCHEMA_VERSION})",
                hint="upgrade polyseek, or index into a new store with --store",
            )
        for space, requested in self._requested.items():
            recorded = meta.get("spaces", {}).get(space, {}).get("encoder")
            if requested and recorded and requested != recorded:
                flag = "--image-encoder" if space == IMAGE_SPACE else "--text-encoder"
                raise IndexMismatchError(
                    f"index at {self.store_uri} was built with {space} encoder {recorded!r}, not {requested!r}",
                    hint=f"drop {flag} to use {recorded!r}, or index into a new store (--store) with {requested!r}",
                )

    def encoder_names(self) -> dict[str, str]:
        meta = self.catalog.get_meta("index") or {}
        recorded = {s: v["encoder"] for s, v in meta.get("spaces", {}).items()}
        defaults = {IMAGE_SPACE: DEFAULT_IMAGE_ENCODER, TEXT_SPACE: DEFAULT_TEXT_ENCODER}
        return {s: self._requested.get(s) or recorded.get(s) or defaults[s] for s in (IMAGE_SPACE, TEXT_SPACE)}

    def encoder(self, space: str) -> Any:
        loaded = self._encoders.get(space)
        if loaded is not None:  # no lock once loaded: searches must not wait for an index run holding it
            return loaded
        with self._lock:
            if space not in self._encoders:
                encoder = load_encoder(self.encoder_names()[space])
                self._check_revision(space, encoder)
                self._encoders[space] = encoder
            return self._encoders[space]

    def _check_revision(self, space: str, encoder: Any) -> None:
        """Refuse an encoder whose weights differ from the ones the index was built with, under the same name."""
        meta = self.catalog.get_meta("index")
        current = getattr(encoder, "revision", None)
        if meta is None or current is None or space not in meta.get("spaces", {}):
            return
        # an index built before revisions were recorded cannot show it has these weights: refused too
        recorded = meta["spaces"][space].get("revision") or "not recorded"
        if recorded != current:
            name = self.encoder_names()[space]
            raise IndexMismatchError(
                f"index at {self.store_uri} was built with other weights of {space} encoder {name!r} "
                f"(revision {recorded}; the installed one is {current}, e.g. after an upgrade or a retrain)",
                hint="index into a new store (--store) to embed everything with the installed weights, "
                     "or point --image-encoder aligner:DIR at the model the index was built with",
            )

    def _ensure_spaces(self) -> None:
        if self.catalog.get_meta("index") is not None:
            self.store.create({s: v["dim"] for s, v in self.catalog.get_meta("index")["spaces"].items()})
            return
        spaces = {}
        for space, name in self.encoder_names().items():
            encoder = self.encoder(space)
            spaces[space] = {"encoder": name, "dim": int(encoder.dim)}
            if getattr(encoder, "revision", None):
                spaces[space]["revision"] = encoder.revision
        self.store.create({s: v["dim"] for s, v in spaces.items()})
        self.catalog.set_meta("index", {"schema_version": SCHEMA_VERSION, "polyseek_version": __version__, "spaces": spaces})

    def _shares_text_side(self) -> bool:
        image = self.encoder(IMAGE_SPACE)
        return getattr(image, "text_encoder_name", None) == self.encoder(TEXT_SPACE).name

    def _encode_chunks(self, chunks: list[Chunk]) -> dict[str, list[np.ndarray | None]]:
        """Vectors for each chunk by space: images → image space; text → text space (and image space if no image)."""
        out: dict[str, list[np.ndarray | None]] = {IMAGE_SPACE: [None] * len(chunks), TEXT_SPACE: [None] * len(chunks)}
        image_at = [i for i, c in enumerate(chunks) if c.image is not None]
        text_at = [i for i, c in enumerate(chunks) if c.text.strip()]
        if image_at:
            vectors = self.encoder(IMAGE_SPACE).encode_images([chunks[i].image for i in image_at])
            for i, vector in zip(image_at, vectors):
                out[IMAGE_SPACE][i] = vector
                chunks[i].image = None  # free the pixels as soon as they are embedded
        if text_at:
            texts = [chunks[i].text for i in text_at]
            text_vectors = self.encoder(TEXT_SPACE).encode_documents(texts)
            for i, vector in zip(text_at, text_vectors):
                out[TEXT_SPACE][i] = vector
            textonly = [j for j, i in enumerate(text_at) if out[IMAGE_SPACE][i] is None]
            if textonly:
                if self._shares_text_side():
                    image_side = text_vectors[textonly]
                else:
                    image_side = self.encoder(IMAGE_SPACE).encode_documents([texts[j] for j in textonly])
                for j, vector in zip(textonly, image_side):
                    out[IMAGE_SPACE][text_at[j]] = vector
        return out

    # ---- verbs --------------------------------------------------------------------------------
    def index(self, paths: Sequence[str | os.PathLike[str]] | str, *, on_progress: ProgressCallback | None = None,
              remove_missing: bool = True) -> IndexSummary:
        """Index files and folders incrementally; returns what was added, updated, removed, unchanged, failed."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        with self._lock:
            self._ensure_spaces()
            return self.indexer.run(list(paths), on_progress=on_progress, remove_missing=remove_missing)

    def delete(self, targets: Sequence[str]) -> int:
        """Remove files (by path; folders remove everything under them) or single items (by id). Returns items removed."""
        with self._lock:
            files = self.catalog.files()
            doc_keys, ids = [], []
            for target in targets:
                absolute = str(Path(target).expanduser().absolute())
                matched = [k for k in files if k == absolute or k.startswith(absolute.rstrip(os.sep) + os.sep)]
                if matched:
                    doc_keys += matched
                elif self.store.get([target]):
                    ids.append(target)
                else:
                    raise NotFoundError(f"nothing indexed matches {target!r}", hint="give an indexed path or an item id")
            before = self.store.count()
            if doc_keys:
                self.catalog.mark_pending(doc_keys)
                self.store.delete(docs=doc_keys)
                self.catalog.commit_files([], removed=doc_keys)
            if ids:
                self.store.delete(ids=ids)
            return before - self.store.count()

    def build_query(self, query: Any = None, *, image: Any = None, k: int = 10, filters: Filters | None = None,
                    instruction: str | None = None, image_weight: float = 1.0, text_weight: float = 1.0,
                    spaces: Sequence[str] = (), rerank: bool | None = None) -> Query:
        """Make a :class:`Query` from loose inputs: a string (rclip syntax), a list of inputs, an image."""
        from polyseek.inputs import load_image
        from polyseek.search.query_syntax import parse_query_syntax

        if isinstance(query, Query):
            return query
        parts: list[QueryPart] = []
        if isinstance(query, str) and query.strip():
            for weight, kind, value in parse_query_syntax(query):
                part = QueryPart(weight=weight * text_weight, text=value) if kind == "text" else QueryPart(weight=weight * image_weight, image=load_image(value))
                parts.append(part)
        elif isinstance(query, (list, tuple)):
            parts += [parse_input(v) for v in query]
        elif query is not None and not (isinstance(query, str)):
            parts.append(parse_input(query, weight=image_weight))
        if image is not None:
            parts.append(QueryPart(weight=image_weight, image=load_image(image)))
        unknown = set(spaces) - set(SIGNALS)
        if unknown:
            raise InvalidInputError(f"unknown signal(s) {sorted(unknown)}", hint="accepted: " + ", ".join(SIGNALS))
        return Query(parts=tuple(parts), k=k, filters=filters or Filters(), instruction=instruction,
                     spaces=tuple(spaces), rerank=rerank)

    def query_vectors(self, query: Query) -> dict[str, np.ndarray]:
        """One vector per dense space: the weighted sum of the parts' embeddings (composed retrieval)."""
        vectors: dict[str, np.ndarray] = {}
        image_encoder = self.encoder(IMAGE_SPACE)
        texts = [p for p in query.parts if p.text]
        images = [p for p in query.parts if p.image is not None]
        prefix = f"{query.instruction.strip()} " if query.instruction else ""
        total = np.zeros(image_encoder.dim, dtype=np.float32)
        image_vectors = image_encoder.encode_images([p.image for p in images]) if images else None
        # personal concepts named in the text or matching an image: their reference embedding joins the query
        concepts = self.concept_memory.compose(query, image_vectors)
        text_queries = [prefix + concepts.expand(p.text) for p in texts]
        text_encoded = None
        if texts:
            encoded = image_encoder.encode_queries(text_queries)
            if self._shares_text_side():  # the aligner's text side is the text encoder: encode once
                text_encoded = encoded
            total += sum(p.weight * v for p, v in zip(texts, encoded))
        if images:
            total += sum(p.weight * v for p, v in zip(images, image_vectors))
        if concepts.vector is not None and concepts.vector.shape == total.shape:
            total += concepts.vector
        if np.linalg.norm(total) > 1e-6:
            vectors[IMAGE_SPACE] = normalize(total)[0]
        if texts:
            encoded = text_encoded if text_encoded is not None else self.encoder(TEXT_SPACE).encode_queries(text_queries)
            combined = sum(p.weight * v for p, v in zip(texts, encoded))
            if np.linalg.norm(combined) > 1e-6:
                vectors[TEXT_SPACE] = normalize(combined)[0]
        return vectors

    def search(self, query: Any = None, *, k: int = 10, image: Any = None, filters: Filters | None = None,
               instruction: str | None = None, image_weight: float = 1.0, text_weight: float = 1.0,
               spaces: Sequence[str] = (), rerank: bool | None = None, weights: dict[str, float] | None = None) -> list[Hit]:
        """Search with text, an image, or both; returns hits best first."""
        q = self.build_query(query, image=image, k=k, filters=filters, instruction=instruction,
                             image_weight=image_weight, text_weight=text_weight, spaces=spaces, rerank=rerank)
        return self.run_query(q, weights=weights)

    def run_query(self, query: Query, weights: dict[str, float] | None = None) -> list[Hit]:
        if self.catalog.get_meta("index") is None:
            return []
        active = set(query.spaces or SIGNALS)
        depth = max(50, query.k * 4)
        lists: dict[str, list[tuple[str, float]]] = {}
        for space, vector in self.query_vectors(query).items():
            if space in active:
                lists[space] = self.store.search(space, vector, depth, query.filters)
        if LEXICAL in active and query.text:
            lists[LEXICAL] = self.store.text_search(query.text, depth, query.filters)
        lists = {s: l for s, l in lists.items() if l}
        if not lists:
            return []
        has_text = {i for s in (TEXT_SPACE, LEXICAL) for i, _ in lists.get(s, [])}
        store = _QueryRows(self.store)  # the stages below share one fetch of each row
        documents: set[str] = set()
        if IMAGE_SPACE in lists and len(lists) > 1 and IMAGE_SPACE not in self.document_signals:
            # with a text query, PDF pages and regions are ranked by the text signals: their renders in the
            # image-text space rank evidence worse than text does and cost accuracy at any fusion weight
            # (docs/documents.md); a query by image alone still finds them by their picture
            candidates = list(dict.fromkeys(i for ranked in lists.values() for i, _ in ranked))
            documents = {row.id for row in store.get(candidates) if row.modality in ("page", "region")}
            lists[IMAGE_SPACE] = [(i, s) for i, s in lists[IMAGE_SPACE] if i not in documents]
            lists = {s: l for s, l in lists.items() if l}
        if IMAGE_SPACE in lists and len(lists) > 1:
            # found by the image space alone but holding text (a PDF region, a passage ranked low by text):
            # it could have matched the text signals, so it must not be normalised like a photo
            unseen = [i for i, _ in lists[IMAGE_SPACE] if i not in has_text]
            if unseen:
                has_text |= {row.id for row in store.get(unseen) if row.text.strip()}
        eligible = lambda item_id, signal: item_id not in documents if signal == IMAGE_SPACE else item_id in has_text  # noqa: E731
        fused = FUSERS[self.fusion](lists, {**self.weights, **(weights or {})}, eligible)
        if len(lists) == 1:  # one signal: keep its own scores, they are meaningful to users
            fused = list(next(iter(lists.values())))
        per_signal = {s: dict(l) for s, l in lists.items()}
        # PDF pages absorb their region hits (a page hit names its best region); then the optional rerank
        from polyseek.search.aggregate import build_hits
        from polyseek.search.rerank import load_reranker

        reranker = load_reranker(self.reranker) if query.rerank else None
        auto = (lambda: load_reranker(self.reranker)) if query.rerank is None and self.rerank_documents else None
        from polyseek.search.moments import merge_moments  # adjacent matching moments of a file → one span

        merged = merge_moments(fused, lists, store.get, query.k, weights={**self.weights, **(weights or {})})
        return merged.apply(build_hits(store, query, merged.ranking, per_signal, reranker=reranker, document_reranker=auto))

    def get(self, item_id: str):
        rows = self.store.get([item_id])
        if not rows:
            raise NotFoundError(f"no item with id {item_id!r}")
        return rows[0].to_item()

    def files(self) -> list[dict[str, Any]]:
        """Indexed files (browsing): path, size, mtime, items, status and the reason a file failed."""
        return [{"path": r.key, "size": r.size, "mtime": r.mtime, "items": r.items, "status": r.status,
                 "reason": r.reason} for r in self.catalog.files().values()]

    def file_items(self, path: str) -> list[Any]:
        """The items of one indexed file, in file order."""
        from polyseek.indexer import item_id

        record = self.catalog.file(path)
        if record is None:
            raise NotFoundError(f"file not indexed: {path}")
        ids = [item_id(record.key, index) for index in range(record.items)]
        return [row.to_item() for row in self.store.get(ids)]

    # ---- grounded answers and personal concepts (logic in polyseek.rag and polyseek.concepts) -------
    def ask(self, question: str, *, image: Any = None, k: int | None = None, generator: str | None = None,
            adaptive: bool = True, model_rerank: bool = False):
        """Answer from the index with citations: retrieve → rerank → select context → generate → cite."""
        from polyseek.rag.pipeline import ask

        return ask(self, question, image=image, k=k, generator=generator, adaptive=adaptive, model_rerank=model_rerank)

    def ask_stream(self, question: str, *, image: Any = None, k: int | None = None, generator: str | None = None,
                   adaptive: bool = True, model_rerank: bool = False):
        """Like :meth:`ask`, as events: ``context``, then ``token`` pieces, then ``done`` (or ``error``)."""
        from polyseek.rag.pipeline import ask_stream

        return ask_stream(self, question, image=image, k=k, generator=generator, adaptive=adaptive, model_rerank=model_rerank)

    @property
    def concept_memory(self):
        from polyseek.concepts import ConceptMemory

        if getattr(self, "_concept_memory", None) is None:
            self._concept_memory = ConceptMemory(self)
        return self._concept_memory

    def concepts(self):
        return self.concept_memory.list()

    def get_concept(self, name: str):
        return self.concept_memory.get(name)

    def add_concept(self, name: str, description: str = "", attributes: dict[str, str] | None = None, images: Sequence[str] = ()):
        return self.concept_memory.add(name, description, attributes, images)

    def update_concept(self, name: str, *, description: str | None = None, attributes: dict[str, str] | None = None,
                       images: Sequence[str] | None = None):
        return self.concept_memory.update(name, description=description, attributes=attributes, images=images)

    def remove_concept(self, name: str) -> None:
        self.concept_memory.remove(name)

    def export_concepts(self) -> list[dict[str, Any]]:
        return self.concept_memory.export()

    def import_concepts(self, items: list[dict[str, Any]], replace: bool = False) -> int:
        return self.concept_memory.import_(items, replace=replace)

    def status(self) -> dict[str, Any]:
        meta = self.catalog.get_meta("index") or {}
        files = self.catalog.files()
        return {
            "store": self.store_uri,
            "items": self.store.count(),
            "files": sum(1 for f in files.values() if f.status == "ok"),
            "failed_files": sum(1 for f in files.values() if f.status != "ok"),
            "encoders": {s: v["encoder"] for s, v in meta.get("spaces", {}).items()} or self.encoder_names(),
            "schema_version": meta.get("schema_version", SCHEMA_VERSION),
            "polyseek_version": __version__,
        }

    def close(self) -> None:
        self.store.close()
        self.catalog.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
