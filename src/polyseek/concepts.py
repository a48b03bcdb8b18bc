"""Personal concept memory ("my dog Rex"): an editable key-value store beside the index, pulled into queries
that name a concept or whose image matches its reference images.

Each concept keeps its reference images' embeddings (computed with the engine's image-text encoder when the
concept is added or edited) in the catalog's ``concepts`` table, so searching with a concept needs no
re-indexing and an edit takes effect on the next query.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.catalog import Catalog
from polyseek.encoders.base import normalize
from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.inputs import load_image
from polyseek.types import Query

log = logging.getLogger(__name__)
NAME = re.compile(r"^[\w][\w .'\-]{0,63}$", re.UNICODE)
MAX_IMAGES = 32
MAX_TEXT = 2000
IMAGE_MATCH = 0.85  # cosine between a query image and a reference image that pulls the concept in
CONCEPT_WEIGHT = 1.0  # weight of a concept's reference embedding relative to the query part naming it
SINGLE_IMAGE_LIKENESS = 0.7  # a concept with one reference photo: similarity at which a photo counts as showing it


@dataclass(frozen=True)
class Concept:
    """A named thing the user cares about: a description, facts as key-value attributes, and reference images."""

    name: str
    description: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "attributes": dict(self.attributes),
                "images": list(self.images)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Concept:
        """Validate and build; unknown keys other than the stored ``embedding`` are refused."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"a concept must be an object, got {type(data).__name__}")
        unknown = set(data) - {"name", "description", "attributes", "images", "embedding"}
        if unknown:
            raise InvalidInputError(f"unknown concept field(s) {sorted(unknown)}",
                                    hint="accepted: name, description, attributes, images")
        return make_concept(data.get("name"), data.get("description") or "", data.get("attributes") or {},
                            data.get("images") or [])

    def facts(self) -> str:
        """One line for an answer's prompt: ``Rex: my golden retriever; age: 4``."""
        parts = [self.description.strip()] if self.description.strip() else []
        parts += [f"{key}: {value}" for key, value in self.attributes.items()]
        return f"{self.name}: " + "; ".join(parts) if parts else self.name

    def pattern(self) -> re.Pattern[str]:
        return re.compile(r"(?<!\w)" + re.escape(self.name) + r"(?!\w)", re.IGNORECASE)


def make_concept(name: Any, description: Any = "", attributes: Any = None, images: Any = ()) -> Concept:
    """A validated :class:`Concept`; image paths are made absolute (they are checked when embedded)."""
    if not isinstance(name, str) or not NAME.match(name.strip()) or name != name.strip():
        raise InvalidInputError(f"bad concept name {name!r}",
                                hint="1-64 characters: letters, digits, spaces, . ' - _, starting with a letter or digit")
    if not isinstance(description, str) or len(description) > MAX_TEXT:
        raise InvalidInputError(f"concept description must be text of at most {MAX_TEXT} characters")
    attributes = dict(attributes or {})
    for key, value in attributes.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InvalidInputError(f"concept attribute {key!r}={value!r} must be a non-empty text key with a text value",
                                    hint="e.g. --attr breed='golden retriever'")
    attributes = {k.strip(): str(v) for k, v in attributes.items()}
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    images = [str(Path(p).expanduser().absolute()) for p in images]
    if len(images) > MAX_IMAGES:
        raise InvalidInputError(f"a concept takes at most {MAX_IMAGES} reference images, got {len(images)}")
    if not images and not description.strip() and not attributes:
        raise InvalidInputError(f"concept {name!r} has no images, description or attributes: nothing to remember",
                                hint="give --image FILE (to find it in pictures) or --description / --attr (facts)")
    return Concept(name=name, description=description.strip(), attributes=attributes, images=list(dict.fromkeys(images)))


@dataclass
class Composition:
    """What the concepts add to one query: expanded text, a reference vector for the image space, who matched."""

    matched: list[Concept] = field(default_factory=list)
    vector: np.ndarray | None = None
    # per matched concept with reference images: (weight, normalised mean, how alike its own photos are)
    references: list[tuple[float, np.ndarray, float]] = field(default_factory=list)
    _expansions: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    def expand(self, text: str) -> str:
        """``"Rex on the beach"`` → ``"Rex (my golden retriever) on the beach"`` for the encoders."""
        for pattern, replacement in self._expansions:
            text = pattern.sub(lambda m: f"{m.group(0)} ({replacement})", text, count=1)
        return text


def likeness(per_image: np.ndarray) -> float:
    """How alike a concept's own reference photos are: the median cosine of each to the mean of the others.

    A photo of Rex is "fully Rex" at this similarity; a reference photo itself (cosine ~1 to the mean) is no
    more Rex than that, so the rest of the query decides among photos of Rex. One photo alone gives no
    estimate: ``SINGLE_IMAGE_LIKENESS`` stands in.
    """
    vectors = normalize(np.asarray(per_image, dtype=np.float32))
    if len(vectors) < 2:
        return SINGLE_IMAGE_LIKENESS
    total = vectors.sum(0)
    others = normalize(total[None, :] - vectors)
    return float(np.median(np.einsum("ij,ij->i", vectors, others)))


class ConceptMemory:
    """CRUD over the catalog's concepts plus query composition, for one index.

    ``image_encoder()`` returns the index's image-text encoder (loaded on first use), which embeds the
    reference images. Reached as ``engine.concepts``: ``engine.concepts.add("Rex", images=[...])``.
    """

    def __init__(self, catalog: Catalog, image_encoder: Callable[[], Any],
                 writing: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        self.catalog = catalog
        self._image_encoder = image_encoder
        self._writing = writing  # the store's writer lock: concept edits are writes like indexing

    # ---- storage ---------------------------------------------------------------------------------
    def _records(self) -> dict[str, dict[str, Any]]:
        return self.catalog.concepts()

    def _write(self, records: dict[str, dict[str, Any]], remove: Iterable[str] = ()) -> None:
        """Write several concepts (and remove others) in one transaction: all land or none."""
        with self._writing():
            self.catalog.write_concepts(records, remove=remove)

    def _embed(self, concept: Concept, known: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Reference embeddings of the concept's images; a missing or damaged new image is a clear error.

        ``known`` is a stored embedding: images it already covers (same encoder) are not read again.
        """
        if not concept.images:
            return None
        encoder = self._image_encoder()
        reuse: dict[str, list[float]] = {}
        if isinstance(known, dict) and known.get("encoder") == encoder.name:
            reuse = dict(zip(known.get("images", []), known.get("per_image", [])))
        pictures = {}
        for path in concept.images:
            if path in reuse:
                continue
            try:
                pictures[path] = load_image(path)
            except InvalidInputError as exc:
                raise InvalidInputError(f"concept {concept.name!r}: reference image {path}: {exc.message}",
                                        hint="give readable image files (JPEG, PNG, WebP, ...)") from None
        fresh = dict(zip(pictures, normalize(encoder.encode_images(list(pictures.values()))))) if pictures else {}
        vectors = np.stack([np.asarray(reuse[p], dtype=np.float32) if p in reuse else fresh[p] for p in concept.images])
        return {"encoder": encoder.name, "dim": int(vectors.shape[1]), "images": list(concept.images),
                "per_image": vectors.round(6).tolist(),
                "mean": normalize(vectors.mean(0))[0].round(6).tolist()}

    def _record(self, concept: Concept, embedding: dict[str, Any] | None) -> dict[str, Any]:
        return {**concept.to_dict(), "embedding": embedding}

    # ---- verbs -----------------------------------------------------------------------------------
    def list(self) -> list[Concept]:
        return [Concept.from_dict(value) for value in self._records().values()]

    def get(self, name: str) -> Concept:
        return Concept.from_dict(self._get_record(name))

    def _get_record(self, name: str) -> dict[str, Any]:
        records = self._records()
        if name in records:
            return records[name]
        folded = {k.casefold(): k for k in records}
        if isinstance(name, str) and name.casefold() in folded:
            return records[folded[name.casefold()]]
        raise NotFoundError(f"no concept named {name!r}", hint="known: " + (", ".join(records) or "none yet"))

    def add(self, name: str, description: str = "", attributes: dict[str, str] | None = None,
            images: Sequence[str] = ()) -> Concept:
        concept = make_concept(name, description, attributes, images)
        taken = {k.casefold() for k in self._records()}
        if concept.name.casefold() in taken:
            raise InvalidInputError(f"a concept named {name!r} exists", hint="edit it (update_concept / polyseek concept edit) or remove it first")
        self._write({concept.name: self._record(concept, self._embed(concept))})
        return concept

    def update(self, name: str, *, description: str | None = None, attributes: dict[str, str] | None = None,
               images: Sequence[str] | None = None) -> Concept:
        """Change the given fields; ``attributes`` replaces the whole mapping, ``images`` the whole list."""
        record = self._get_record(name)
        old = Concept.from_dict(record)
        concept = make_concept(old.name, old.description if description is None else description,
                               old.attributes if attributes is None else attributes,
                               old.images if images is None else images)
        embedding = record.get("embedding") if images is None else self._embed(concept, record.get("embedding"))
        self._write({concept.name: self._record(concept, embedding)})
        return concept

    def remove(self, name: str) -> None:
        record = self._get_record(name)
        self._write({}, remove=[record["name"]])

    def export(self) -> builtins.list[dict[str, Any]]:
        """Concepts as JSON-ready dicts, with their embeddings so an import elsewhere needs no image files."""
        return [dict(value) for value in self._records().values()]

    def import_(self, items: builtins.list[dict[str, Any]], replace: bool = False) -> int:
        """Add or overwrite concepts from exported dicts; ``replace`` removes every concept not in ``items``.

        Everything is validated and embedded before anything is written.
        """
        if not isinstance(items, list):
            raise InvalidInputError(f"concepts to import must be a list of objects, got {type(items).__name__}")
        encoder_name = self._image_encoder().name if any(isinstance(i, dict) and i.get("images") for i in items) else None
        records: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            try:
                concept = Concept.from_dict(item)
            except InvalidInputError as exc:
                raise InvalidInputError(f"concept #{index + 1}: {exc.message}", hint=exc.hint) from None
            if concept.name.casefold() in {k.casefold() for k in records}:
                raise InvalidInputError(f"concept {concept.name!r} appears twice in the import")
            stored = item.get("embedding")
            if concept.images and all(Path(p).is_file() for p in concept.images):
                embedding = self._embed(concept)
            elif concept.images and isinstance(stored, dict) and stored.get("encoder") == encoder_name:
                embedding = stored  # files not here, but the embedding was made by this encoder
            elif concept.images:
                missing = [p for p in concept.images if not Path(p).is_file()]
                raise InvalidInputError(f"concept {concept.name!r}: reference images not found: {missing[:3]}",
                                        hint=f"and its stored embedding was not made by this index's encoder ({encoder_name})")
            else:
                embedding = None
            records[concept.name] = self._record(concept, embedding)
        existing = self._records()
        folded = {k.casefold(): k for k in existing}
        remove = [k for k in existing if k not in records] if replace else []
        remove += [folded[k.casefold()] for k in records if k.casefold() in folded and folded[k.casefold()] != k]
        self._write(records, remove=remove)
        return len(records)

    # ---- queries ---------------------------------------------------------------------------------
    def _vectors(self, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, per-image) reference vectors for this index's encoder, re-embedding if it changed."""
        embedding = record.get("embedding")
        if not record.get("images"):
            return None
        encoder = self._image_encoder()
        if not isinstance(embedding, dict) or embedding.get("encoder") != encoder.name:
            try:
                embedding = self._embed(Concept.from_dict(record))
            except InvalidInputError as exc:
                log.warning("concept %r left out of the query: %s", record.get("name"), exc)
                return None
            self._write({record["name"]: {**record, "embedding": embedding}})
        if embedding is None:
            return None
        return np.asarray(embedding["mean"], dtype=np.float32), np.asarray(embedding["per_image"], dtype=np.float32)

    def match(self, texts: Sequence[str] = (), image_vectors: np.ndarray | None = None) -> builtins.list[Concept]:
        """Concepts named in ``texts`` or whose reference images resemble an image (cosine ≥ IMAGE_MATCH)."""
        return [Concept.from_dict(r) for r, _ in self._matches(texts, image_vectors, [1.0] * len(texts))]

    def _matches(self, texts: Sequence[str], image_vectors: np.ndarray | None,
                 weights: Sequence[float]) -> builtins.list[tuple[dict[str, Any], float]]:
        records = self._records()
        out: builtins.list[tuple[dict[str, Any], float]] = []
        for record in records.values():
            concept = Concept.from_dict(record)
            pattern = concept.pattern()
            weight = sum(w for t, w in zip(texts, weights) if w > 0 and pattern.search(t))
            if not weight and image_vectors is not None and len(image_vectors) and record.get("images"):
                vectors = self._vectors(record)
                if vectors is not None and (np.asarray(image_vectors) @ vectors[1].T).max() >= IMAGE_MATCH:
                    weight = 1.0
            if weight:
                out.append((record, weight))
        return out

    def compose(self, query: Query, image_vectors: np.ndarray | None = None) -> Composition:
        """The concepts' share of a query: reference embeddings to add in the image space, text expansions."""
        composition = Composition()
        if not self.catalog.has_concepts():
            return composition
        text_parts = [p for p in query.parts if p.text]
        image_weights = [p.weight for p in query.parts if p.image is not None]
        if image_vectors is not None and len(image_weights):  # only positive images pull a concept in
            image_vectors = np.asarray(image_vectors)[[i for i, w in enumerate(image_weights) if w > 0]]
        texts = [p.text or "" for p in text_parts]
        for record, weight in self._matches(texts, image_vectors, [p.weight for p in text_parts]):
            concept = Concept.from_dict(record)
            composition.matched.append(concept)
            if concept.description:
                composition._expansions.append((concept.pattern(), concept.description))
            vectors = self._vectors(record)
            if vectors is not None:
                add = CONCEPT_WEIGHT * weight * vectors[0]
                composition.vector = add if composition.vector is None else composition.vector + add
                composition.references.append((CONCEPT_WEIGHT * weight, normalize(vectors[0])[0], likeness(vectors[1])))
        return composition
