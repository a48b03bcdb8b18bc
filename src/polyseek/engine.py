"""The facade: opens the store and catalog, loads encoders, builds the search pipeline and delegates each verb.

The CLI, the HTTP server and the MCP server only call these verbs; the work is done in the packages below
(``indexer``, ``search``, ``concepts``, ``rag``). How a query is ranked: :mod:`polyseek.search.pipeline`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from polyseek import upgrade as upgrades
from polyseek.catalog import Catalog
from polyseek.concepts import ConceptMemory
from polyseek.config import SCHEMA_VERSION, resolve_store_uri
from polyseek.distributed.shared import open_catalog, publish_description
from polyseek.errors import NotFoundError
from polyseek.indexer import Indexer, ProgressCallback
from polyseek.search.calibration import ModalityBackgrounds, keep_for_cold_searches
from polyseek.search.config import SearchConfig
from polyseek.search.context import SearchContext
from polyseek.search.pipeline import SearchPipeline
from polyseek.search.policies.calibration import CalibrationPolicy
from polyseek.search.policies.composed import ComposedPolicy
from polyseek.search.policies.concepts import ConceptsPolicy
from polyseek.search.policies.document_names import DocumentNamesPolicy
from polyseek.search.policies.documents import DocumentsPolicy
from polyseek.search.policies.english_gloss import EnglishGlossPolicy
from polyseek.search.policies.exclusion import ExclusionPolicy
from polyseek.search.policies.expansion import ExpansionPolicy
from polyseek.search.policies.file_names import FileNamesPolicy
from polyseek.search.policies.kind_prior import KindPriorPolicy
from polyseek.search.policies.moments import MomentsPolicy
from polyseek.search.policies.sentences import SentencesPolicy
from polyseek.search.policies.statements import StatementsPolicy
from polyseek.search.policies.tiles import TilesPolicy
from polyseek.search.policies.times import TimesPolicy
from polyseek.search.query import build_query
from polyseek.search.rows import RowCache
from polyseek.spaces import Spaces
from polyseek.stores.base import Store, open_store
from polyseek.types import Filters, Hit, IndexSummary, Item, Query, Signal
from polyseek.version import __version__

if TYPE_CHECKING:
    from polyseek.distributed.ray_ingest import RayOptions
    from polyseek.rag.base import Answer


def _expander(spec: str | None):
    """The query rewriter ``--expand`` uses (polyseek.rag.expansion), loaded when a search first asks for it."""
    from polyseek.rag.expansion import expander_for

    return expander_for(spec)


class Engine:
    """Index, search and manage one collection.

    >>> engine = Engine("memory://", image_encoder="deterministic", text_encoder="deterministic")  # doctest: +SKIP
    >>> engine.index(["photos/"])                                                              # doctest: +SKIP
    >>> engine.search("a dog running on grass", k=5)                                           # doctest: +SKIP

    ``read_only``: a reader. It writes nothing to the index (``index``, ``delete``, concept changes and ``upgrade``
    raise :class:`polyseek.errors.InvalidInputError`), and on a shared collection (Milvus) with no catalog on this
    machine it keeps the collection's description in memory instead of creating a catalog.
    """

    def __init__(self, store: str | os.PathLike[str] | Store | None = None, *, image_encoder: str | None = None,
                 text_encoder: str | None = None, config: SearchConfig | None = None, read_only: bool = False) -> None:
        if isinstance(store, (str, os.PathLike)) or store is None:
            self.store_uri = resolve_store_uri(store)
            self.store: Store = open_store(self.store_uri)
        else:  # a store opened already (the cold command's snapshot reader: polyseek.stores.snapshot)
            self.store_uri, self.store = store.uri, store
        try:  # a reader of a shared collection (Milvus) needs no catalog here: the collection describes itself
            self.catalog: Catalog = open_catalog(self.store, read_only=read_only)
        except BaseException:
            self.store.close()
            raise
        self.spaces = Spaces(self.catalog, self.store_uri, {Signal.IMAGE: image_encoder, Signal.TEXT: text_encoder})
        self.spaces.check()
        self.config = config or SearchConfig()
        self.indexer = Indexer(self.store, self.catalog, self.spaces.encode_chunks)
        self.indexer.read_only = read_only
        self.concepts = ConceptMemory(self.catalog, lambda: self.spaces.encoder(Signal.IMAGE), writing=self.indexer.writing)
        backgrounds = ModalityBackgrounds(self.store)  # each kind's score background, shared by two policies
        policies = [ExpansionPolicy(_expander), ExclusionPolicy(self.catalog), ConceptsPolicy(self.concepts, backgrounds), ComposedPolicy(),
                    SentencesPolicy(), TilesPolicy(), CalibrationPolicy(backgrounds), KindPriorPolicy(), FileNamesPolicy(self.catalog), DocumentNamesPolicy(self.catalog), MomentsPolicy(), TimesPolicy(self.catalog), StatementsPolicy(self.catalog), DocumentsPolicy(), EnglishGlossPolicy()]
        self.pipeline = SearchPipeline(self.store, self.spaces, policies)
        if upgrades.needs_attach(self.catalog):  # an upgrade in progress: projected queries, backfill mix
            upgrades.attach(self)
        self._write_lock = threading.Lock()

    # ---- encoders ---------------------------------------------------------------------------------
    def encoder_names(self) -> dict[str, str]:
        return {s.value: name for s, name in self.spaces.names().items()}

    def encoder(self, space: Signal | str) -> Any:
        return self.spaces.encoder(space)

    # ---- writing ----------------------------------------------------------------------------------
    def index(self, paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], *,
              on_progress: ProgressCallback | None = None, remove_missing: bool = True,
              ray: RayOptions | bool | None = None) -> IndexSummary:
        """Index files and folders incrementally; returns what was added, updated, removed, unchanged, failed.
        ``ray`` (True, or :class:`polyseek.distributed.ray_ingest.RayOptions`) decodes and embeds on a Ray cluster."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        with self._write_lock, self.indexer.writing(on_progress):  # one writer per store, across processes
            self.spaces.ensure(self.store)
            publish_description(self.store, self.catalog)  # readers on other machines open the collection from it
            if ray:
                from polyseek.distributed.ray_ingest import RayOptions, index_on_ray

                options = ray if isinstance(ray, RayOptions) else RayOptions()
                summary = index_on_ray(self.indexer, self.spaces, list(paths), options, remove_missing=remove_missing,
                                       on_progress=on_progress)
            else:
                summary = self.indexer.run(list(paths), on_progress=on_progress, remove_missing=remove_missing)
        folder = getattr(self.store, "path", None)
        if self.config.calibrate and folder is not None:
            keep_for_cold_searches(folder)  # the calibration's samples, for the cold searches of this version
        return summary

    def delete(self, targets: Sequence[str]) -> int:
        """Remove files (by path; folders remove everything under them) or single items (by id). Returns items removed."""
        with self._write_lock:
            return self.indexer.delete(targets)

    # ---- searching --------------------------------------------------------------------------------
    def build_query(self, query: Any = None, **options: Any) -> Query:
        """A :class:`Query` from loose inputs (see :func:`polyseek.search.query.build_query`)."""
        return build_query(query, **options)

    def search(self, query: Any = None, *, k: int = 10, image: Any = None, filters: Filters | None = None,
               instruction: str | None = None, image_weight: float = 1.0, text_weight: float = 1.0,
               spaces: Sequence[str] = (), rerank: bool | None = None, weights: dict[str, float] | None = None,
               config: SearchConfig | None = None, like: str | None = None) -> list[Hit]:
        """Search with text, an image, or both (or a ready :class:`Query`), or for more like an indexed item
        (``like``: its id); returns hits best first."""
        return self.trace(query, k=k, image=image, filters=filters, instruction=instruction, image_weight=image_weight,
                          text_weight=text_weight, spaces=spaces, rerank=rerank, weights=weights, config=config,
                          like=like).hits

    def trace(self, query: Any = None, *, weights: dict[str, float] | None = None, config: SearchConfig | None = None,
              **options: Any) -> SearchContext:
        """Like :meth:`search`, returning the whole :class:`SearchContext` (hits, per-signal lists, stage timings)."""
        q = build_query(query, **options)
        chosen = (config or self.config).with_weights(weights)
        if self.catalog.get_meta("index") is None:
            return SearchContext(query=q, config=chosen, rows=RowCache(self.store), encoders=self.spaces)
        return self.pipeline.run(q, chosen)

    def with_config(self, **changes: Any) -> SearchConfig:
        """This engine's search config with some fields changed (for evaluation): ``engine.with_config(fusion="zscore")``."""
        return replace(self.config, **changes)

    # ---- reading ----------------------------------------------------------------------------------
    def get(self, item: str) -> Item:
        rows = self.store.get([item])
        if not rows:
            raise NotFoundError(f"no item with id {item!r}")
        return rows[0].to_item()

    def files(self) -> list[dict[str, Any]]:
        """Indexed files (browsing): path, size, mtime, items, status and the reason a file failed."""
        return [{"path": r.key, "size": r.size, "mtime": r.mtime, "items": r.items, "status": r.status,
                 "reason": r.reason} for r in self.catalog.files().values()]

    def file_items(self, path: str) -> list[Item]:
        """The items of one indexed file, in file order."""
        record = self.catalog.file(path)
        if record is None:
            raise NotFoundError(f"file not indexed: {path}")
        return [row.to_item() for row in self.store.get(self.indexer.file_item_ids(record))]

    # ---- grounded answers (polyseek.rag) ------------------------------------------------------------
    def ask(self, question: str, **options: Any) -> Answer:
        """Answer from the index with citations: retrieve → rerank → select context → generate → cite."""
        from polyseek.rag.pipeline import ask  # imported on first use: a cold search skips rag and recommend (~30 ms)

        return ask(self, question, **options)

    def ask_stream(self, question: str, **options: Any):
        """Like :meth:`ask`, as events: ``context``, then ``token`` pieces, then ``done`` (or ``error``)."""
        from polyseek.rag.pipeline import ask_stream

        return ask_stream(self, question, **options)

    def recommend(self, **options: Any) -> list[Hit]:
        """More like these examples (and unlike others), or what comes next after a history; see
        :func:`polyseek.recommend.recommend` for the options (``positive``, ``negative``, ``history``, ``method``, ``k``...)."""
        from polyseek.recommend import recommend

        return recommend(self, **options)

    def upgrade(self, **options: Any) -> Any:
        """Start serving a space with a new encoder at once, through a projection; see :mod:`polyseek.upgrade`."""
        with self.indexer.writing():
            return upgrades.upgrade(self, **options)

    def status(self) -> dict[str, Any]:
        meta = self.catalog.get_meta("index") or {}
        files = self.catalog.files()
        upgrading = upgrades.status(self)  # shown only while a space is being upgraded
        return {
            **({"upgrade": upgrading} if upgrading else {}),
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
