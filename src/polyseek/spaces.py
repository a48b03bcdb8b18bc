"""The index's dense spaces: which encoder serves each one, checked against the index's own description.

The catalog's ``index`` meta records, per space, the encoder's name, its dimension and (for the aligner) a
digest of its weights. An engine asked for other encoders, or holding other weights under the same name,
is refused with a message saying how to fix it, so vectors of two models are never compared.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import wait
from typing import Any

import numpy as np

from polyseek.catalog import Catalog
from polyseek.config import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, SCHEMA_VERSION
from polyseek.encoders.base import load_encoder
from polyseek.errors import IndexMismatchError
from polyseek.ingest.base import Chunk
from polyseek.pools import LazyPool
from polyseek.stores.base import Store
from polyseek.types import DENSE_SIGNALS, Modality, Signal
from polyseek.version import __version__

log = logging.getLogger(__name__)
DEFAULTS = {Signal.IMAGE: DEFAULT_IMAGE_ENCODER, Signal.TEXT: DEFAULT_TEXT_ENCODER}
FLAGS = {Signal.IMAGE: "--image-encoder", Signal.TEXT: "--text-encoder"}
_IMAGE_POOL = LazyPool(1, "encode-images")  # the image encoder's calls during indexing, beside the text encoder's
# A PDF page with regions: its text vector encodes its first 450 characters (~100 bge tokens, was up to 256);
# the regions hold all its words, whole. None: up to the encoder's limit. Paired, without rerank, against 401f950
# (issue 13, session 9): MMLongBench-Doc 8 short documents / 55 questions, within-document MRR@10 0.777 -> 0.831,
# corpus MRR@10 0.615 -> 0.632 (no significant loss); the page text cost 37% of the text encoder's time, now ~10%.
PAGE_TEXT_CHARS: int | None = 450
# (The mean of its regions' vectors instead, nothing encoded, lost the same way: within R@5 -0.044, p 0.03.)
TEXT_BATCH = 8  # passages of similar length per encoder call: a region's 30 word pieces are not padded to a page's 256


def passage_text(chunk: Chunk) -> str:
    """The words a chunk's text vector encodes: a PDF page with regions by the head of its text
    (:data:`PAGE_TEXT_CHARS`, cut at a word break), everything else whole. Indexing and an upgrade's backfill both
    read it (the backfill from the stored item: :func:`passage_words`), so a backfilled vector is the one a fresh
    index of the new model holds."""
    return passage_words(chunk.text, chunk.modality, chunk.metadata)


def passage_words(text: str, modality: Modality | str, metadata: dict[str, Any]) -> str:
    """:func:`passage_text` of an item given by its fields (a stored row's ``text``, ``modality``, ``metadata``)."""
    limit = PAGE_TEXT_CHARS
    if not limit or Modality(modality) != Modality.PAGE or not metadata.get("regions") or len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut if cut > limit // 2 else limit]


def encode_passages(encoder: Any, texts: list[str]) -> np.ndarray:
    """``encoder``'s document vectors for ``texts`` as indexing makes them: each distinct text once, in batches of
    :data:`TEXT_BATCH` of similar length (shortest first). An upgrade's backfill encodes through it too, so an encoder
    whose vectors depend on the batch (padding, dynamic quantisation) gives the backfill a fresh index's vectors."""
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    parts: list[np.ndarray] = []
    for start in range(0, len(order), TEXT_BATCH):
        parts.append(encoder.encode_documents([unique[i] for i in order[start:start + TEXT_BATCH]]))
    vectors = np.empty((len(unique), int(encoder.dim)), dtype=np.float32)
    if unique:
        vectors[order] = np.concatenate(parts)
    slot = {text: i for i, text in enumerate(unique)}
    return vectors[[slot[text] for text in texts]]


class Spaces:
    """Encoders by space for one index, loaded on first use and verified against what the index recorded."""

    def __init__(self, catalog: Catalog, store_uri: str, requested: dict[Signal, str | None]) -> None:
        self.catalog = catalog
        self.store_uri = store_uri
        self.requested = {Signal(s): name for s, name in requested.items()}
        self._encoders: dict[Signal, Any] = {}
        self._lock = threading.Lock()

    def meta(self) -> dict[str, Any] | None:
        return self.catalog.get_meta("index")

    def check(self) -> None:
        """Refuse an index of a newer schema, or encoders other than the ones it was built with."""
        meta = self.meta()
        if meta is None:
            return
        if meta.get("schema_version", 0) > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"index at {self.store_uri} has schema {meta['schema_version']}, newer than this polyseek ({SCHEMA_VERSION})",
                hint="upgrade polyseek, or index into a new store with --store",
            )
        for space, requested in self.requested.items():
            recorded = meta.get("spaces", {}).get(space.value, {}).get("encoder")
            if requested and recorded and requested != recorded:
                raise IndexMismatchError(
                    f"index at {self.store_uri} was built with {space.value} encoder {recorded!r}, not {requested!r}",
                    hint=f"drop {FLAGS[space]} to use {recorded!r}, or index into a new store (--store) with {requested!r}",
                )

    def names(self) -> dict[Signal, str]:
        """The encoder name of each space: asked for, else recorded by the index, else the default."""
        recorded = {Signal(s): v["encoder"] for s, v in (self.meta() or {}).get("spaces", {}).items()}
        return {s: self.requested.get(s) or recorded.get(s) or DEFAULTS[s] for s in DENSE_SIGNALS}

    def encoder(self, space: Signal | str) -> Any:
        space = Signal(space)
        loaded = self._encoders.get(space)
        if loaded is not None:  # no lock once loaded: searches must not wait for another thread's load
            return loaded
        with self._lock:
            if space not in self._encoders:
                encoder = load_encoder(self.names()[space])
                self._check_revision(space, encoder)
                self._encoders[space] = encoder
            return self._encoders[space]

    def install(self, space: Signal | str, encoder: Any) -> None:
        """Serve ``space``'s queries with ``encoder`` from now on (an upgrade's projected query encoder)."""
        with self._lock:
            self._encoders[Signal(space)] = encoder

    def reload(self, space: Signal | str, name: str | None = None) -> None:
        """Forget ``space``'s loaded encoder (asked for by ``name`` from now on, when given): the next use loads
        what the index now records, e.g. after an upgrade switched the space to a new model."""
        with self._lock:
            self._encoders.pop(Signal(space), None)
            if name and self.requested.get(Signal(space)):
                self.requested[Signal(space)] = name

    def _check_revision(self, space: Signal, encoder: Any) -> None:
        """Refuse an encoder whose weights differ from the ones the index was built with, under the same name."""
        meta = self.meta()
        current = getattr(encoder, "revision", None)
        if meta is None or current is None or space.value not in meta.get("spaces", {}):
            return
        # an index built before revisions were recorded cannot show it has these weights: refused too
        recorded = meta["spaces"][space.value].get("revision") or "not recorded"
        if recorded != current:
            raise IndexMismatchError(
                f"index at {self.store_uri} was built with other weights of {space.value} encoder {self.names()[space]!r} "
                f"(revision {recorded}; the installed one is {current}, e.g. after an upgrade or a retrain)",
                hint="index into a new store (--store) to embed everything with the installed weights, "
                     "or point --image-encoder aligner:DIR at the model the index was built with",
            )

    def ensure(self, store: Store) -> None:
        """Create the store's spaces, and record the index's description the first time it is written."""
        meta = self.meta()
        if meta is not None:
            store.create({s: v["dim"] for s, v in meta["spaces"].items()})
            return
        spaces: dict[str, dict[str, Any]] = {}
        for space, name in self.names().items():
            encoder = self.encoder(space)
            spaces[space.value] = {"encoder": name, "dim": int(encoder.dim)}
            if getattr(encoder, "revision", None):
                spaces[space.value]["revision"] = encoder.revision
        store.create({s: v["dim"] for s, v in spaces.items()})
        self.catalog.set_meta("index", {"schema_version": SCHEMA_VERSION, "polyseek_version": __version__, "spaces": spaces})

    def shares_text_side(self) -> bool:
        """Whether the image-text encoder's text side is the text encoder itself (then text is encoded once)."""
        image = self.encoder(Signal.IMAGE)
        return getattr(image, "text_encoder_name", None) == self.encoder(Signal.TEXT).name

    def _encodes(self, text: str) -> bool:
        """Whether the text encoder takes this passage (a failing one is logged and left without vectors)."""
        try:
            self.encoder(Signal.TEXT).encode_documents([text])
            return True
        except Exception as exc:  # noqa: BLE001
            log.warning("a passage could not be embedded and is kept for lexical search only: %s", exc)
            return False

    def _encode_passages(self, texts: list[str]) -> np.ndarray:
        """Text vectors for ``texts``: each distinct text once, in batches of similar length (shortest first)."""
        return encode_passages(self.encoder(Signal.TEXT), texts)

    def encode_chunks(self, chunks: list[Chunk]) -> dict[str, list[np.ndarray | None]]:
        """Vectors for each chunk by space: images → image space; text → text space (and image space if no image)."""
        out: dict[str, list[np.ndarray | None]] = {s.value: [None] * len(chunks) for s in DENSE_SIGNALS}
        image_at = [i for i, c in enumerate(chunks) if c.image is not None]
        text_at = [i for i, c in enumerate(chunks) if c.text.strip()]
        # pictures are embedded on a thread of their own while the passages are: the two runtimes share the cores
        pictures = _IMAGE_POOL.get().submit(self._encode_pictures, chunks, image_at) if image_at else None
        try:
            self._encode_texts(chunks, text_at, out)
        finally:
            if pictures is not None:
                wait([pictures])  # never return while the other thread still works on these chunks
        if pictures is not None:
            for i, vector in zip(image_at, pictures.result()):
                out[Signal.IMAGE][i] = vector
                chunks[i].image = None  # free the pixels as soon as they are embedded
        return out

    def _encode_pictures(self, chunks: list[Chunk], image_at: list[int]) -> np.ndarray:
        return self.encoder(Signal.IMAGE).encode_images([chunks[i].image for i in image_at])

    def _encode_texts(self, chunks: list[Chunk], text_at: list[int], out: dict[str, list[np.ndarray | None]]) -> None:
        """Text vectors into ``out``, and image-space ones for the chunks without a picture."""
        if text_at:
            texts = [passage_text(chunks[i]) for i in text_at]
            try:
                text_vectors = self._encode_passages(texts)
            except IndexMismatchError:
                raise
            except Exception:  # noqa: BLE001 - one bad passage must not cost the whole file: find it, keep the rest
                kept = [j for j, text in enumerate(texts) if self._encodes(text)]
                text_at, texts = [text_at[j] for j in kept], [texts[j] for j in kept]
                text_vectors = self.encoder(Signal.TEXT).encode_documents(texts) if texts else np.zeros((0, 1), np.float32)
            for i, vector in zip(text_at, text_vectors):
                out[Signal.TEXT][i] = vector
            textonly = [j for j, i in enumerate(text_at) if chunks[i].image is None]
            if textonly:
                if self.shares_text_side():
                    image_side = text_vectors[textonly]
                else:
                    image_side = self.encoder(Signal.IMAGE).encode_documents([texts[j] for j in textonly])
                for j, vector in zip(textonly, image_side):
                    out[Signal.IMAGE][text_at[j]] = vector
