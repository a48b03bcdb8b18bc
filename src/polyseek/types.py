"""Core data types: modalities, locators, items, queries, filters and hits."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any

from polyseek.errors import InvalidInputError


class Signal(StrEnum):
    """A ranked list a query is scored by: the image-text space, the text space, or BM25 over item text."""

    IMAGE = "image"
    TEXT = "text"
    LEXICAL = "lexical"

    @classmethod
    def parse(cls, value: str | Signal) -> Signal:
        try:
            return cls(value)
        except ValueError:
            raise InvalidInputError(
                f"unknown signal {value!r}", hint="accepted: " + ", ".join(s.value for s in cls)
            ) from None


DENSE_SIGNALS = (Signal.IMAGE, Signal.TEXT)  # the signals that are vector spaces in the store


def item_id(doc_key: str, index: int) -> str:
    """The stable id of the ``index``-th item of an indexed file (its key is the absolute path)."""
    return hashlib.blake2b(f"{doc_key}#{index}".encode(errors="surrogateescape"), digest_size=10).hexdigest()


class Modality(str, Enum):
    """What an indexed item is; stored as its value."""

    TEXT = "text"
    IMAGE = "image"
    PAGE = "page"
    REGION = "region"
    VIDEO_MOMENT = "video_moment"
    AUDIO_SEGMENT = "audio_segment"

    @property
    def is_document(self) -> bool:
        """PDF pages and the regions on them."""
        return self in (Modality.PAGE, Modality.REGION)

    @property
    def is_moment(self) -> bool:
        """Timed pieces of a recording: video moments and audio segments."""
        return self in (Modality.VIDEO_MOMENT, Modality.AUDIO_SEGMENT)

    @classmethod
    def parse(cls, value: str | Modality) -> Modality:
        """A modality by its value or a word people type for it ("photos", "pdf", "video", "audio", "notes")."""
        if isinstance(value, Modality):
            return value
        word = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(MODALITY_WORDS.get(word, word))
        except ValueError:
            raise InvalidInputError(
                f"unknown modality {value!r}", hint="accepted: " + ", ".join(m.value for m in cls)
                + "; also photo, pdf, video, audio, note"
            ) from None


# words people type for a modality (plural forms and everyday names), read by Modality.parse
MODALITY_WORDS = {
    "texts": "text", "note": "text", "notes": "text",
    "images": "image", "photo": "image", "photos": "image", "picture": "image", "pictures": "image",
    "pages": "page", "pdf": "page", "pdfs": "page", "document": "page", "documents": "page",
    "regions": "region",
    "video": "video_moment", "videos": "video_moment", "moment": "video_moment", "moments": "video_moment",
    "audio": "audio_segment", "speech": "audio_segment", "segment": "audio_segment", "segments": "audio_segment",
}


def _locator_field(value: Any, name: str, *, integer: bool = False) -> Any:
    """A locator number as stored: None, or a finite number (an integer for pages and lines)."""
    if value is None:
        return None
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise InvalidInputError(f"a locator's {name} must be a finite {'integer' if integer else 'number'}, got {value!r}")
    return value if integer else float(value)


@dataclass(frozen=True)
class Locator:
    """Where inside a file an item lives. Only the fields that apply are set.

    ``page`` is 1-based; ``bbox`` is ``(x0, y0, x1, y1)`` in PDF points from the page's top-left;
    ``start``/``end`` are seconds; ``line_start``/``line_end`` are 1-based inclusive line numbers.
    """

    page: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    start: float | None = None
    end: float | None = None
    line_start: int | None = None
    line_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.page is not None:
            out["page"] = self.page
            out["bbox"] = list(self.bbox) if self.bbox is not None else None
        elif self.bbox is not None:
            out["bbox"] = list(self.bbox)
        if self.start is not None:
            out["start"] = float(self.start)
            out["end"] = float(self.end if self.end is not None else self.start)
        if self.line_start is not None:
            out["line_start"] = self.line_start
            out["line_end"] = self.line_end if self.line_end is not None else self.line_start
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Locator:
        """The inverse of :meth:`to_dict`; anything else (a damaged index, a hand-made request) is refused."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInputError(f"a locator must be an object, got {type(data).__name__}")
        bbox = data.get("bbox")
        if bbox is not None and (not isinstance(bbox, (list, tuple)) or len(bbox) not in (0, 4)):
            raise InvalidInputError(f"a locator's bbox must be 4 numbers (x0, y0, x1, y1), got {bbox!r}")
        return cls(
            page=_locator_field(data.get("page"), "page", integer=True),
            bbox=tuple(_locator_field(v, "bbox") for v in bbox) if bbox else None,  # type: ignore[arg-type]
            start=_locator_field(data.get("start"), "start"),
            end=_locator_field(data.get("end"), "end"),
            line_start=_locator_field(data.get("line_start"), "line_start", integer=True),
            line_end=_locator_field(data.get("line_end"), "line_end", integer=True),
        )

    def key(self) -> str:
        """A short stable string used in item ids."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def describe(self) -> str:
        """Human form: ``p. 3``, ``12:31–12:45``, ``lines 4–9``."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
            if self.bbox is not None:
                parts.append("[" + ", ".join(f"{v:.0f}" for v in self.bbox) + "]")
        if self.start is not None:
            parts.append(f"{format_time(self.start)}–{format_time(self.end or self.start)}")
        if self.line_start is not None:
            parts.append(f"lines {self.line_start}–{self.line_end or self.line_start}")
        return " ".join(parts)


def format_time(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss`` past an hour)."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@dataclass(frozen=True)
class Item:
    """One searchable unit: an image, a text passage, a PDF page or region, a moment, a segment."""

    id: str
    path: str
    modality: Modality
    locator: Locator = field(default_factory=Locator)
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "modality": self.modality.value,
            "locator": self.locator.to_dict(),
            "text": self.text,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class Filters:
    """Metadata filters applied inside the store. Dates are POSIX timestamps."""

    path_glob: str | None = None
    file_types: tuple[str, ...] = ()  # extensions without dot, lower case: ("jpg", "pdf")
    modalities: tuple[Modality, ...] = ()
    date_from: float | None = None
    date_to: float | None = None

    def __post_init__(self) -> None:
        if self.path_glob is not None and not isinstance(self.path_glob, str):
            raise InvalidInputError(f"path_glob must be text such as '*/2024/*', got {type(self.path_glob).__name__}")
        if not isinstance(self.file_types, (list, tuple)) or not all(isinstance(t, str) for t in self.file_types):
            raise InvalidInputError(f"file_types must be a list of extensions such as ['jpg', 'pdf'], got {self.file_types!r}")
        object.__setattr__(self, "file_types", tuple(self.file_types))
        if not isinstance(self.modalities, (list, tuple)):
            raise InvalidInputError(f"modalities must be a list such as ['image', 'page'], got {self.modalities!r}")
        object.__setattr__(self, "modalities", tuple(Modality.parse(m) for m in self.modalities))
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                raise InvalidInputError(f"{name} must be a finite POSIX timestamp (seconds), got {value!r}")

    def is_empty(self) -> bool:
        return not (self.path_glob or self.file_types or self.modalities) and (
            self.date_from is None and self.date_to is None
        )


@dataclass(frozen=True)
class QueryPart:
    """One weighted term of a composed query: text or an image (a negative weight subtracts)."""

    weight: float = 1.0
    text: str | None = None
    image: Any = None  # PIL.Image.Image

    def __post_init__(self) -> None:
        if (self.text is None) == (self.image is None):
            raise InvalidInputError("a query part needs exactly one of text or image")
        if not math.isfinite(self.weight):
            raise InvalidInputError(f"query weight must be a finite number, got {self.weight!r}")


@dataclass(frozen=True)
class Query:
    """A search request: weighted text/image parts, an optional instruction, filters and k."""

    parts: tuple[QueryPart, ...]
    k: int = 10
    filters: Filters = field(default_factory=Filters)
    instruction: str | None = None
    spaces: tuple[Signal, ...] = ()  # restrict to these signals; empty = all
    rerank: bool | None = False  # None: the engine decides (on when the results are PDF pages)
    like: str | None = None  # "more like this": an indexed item's id; the item itself is never a result
    exclude_hashes: tuple[str, ...] = ()  # content hashes of the query's own images: never results (composed queries)

    def __post_init__(self) -> None:
        if not self.parts and not self.like:
            raise InvalidInputError("empty query", hint="give text, an image, both, or an item to find more like")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or not 1 <= self.k <= 10_000:
            raise InvalidInputError(f"k must be an integer from 1 to 10000, got {self.k!r}")
        object.__setattr__(self, "spaces", tuple(Signal.parse(s) for s in self.spaces))

    @property
    def text(self) -> str:
        """All positive text parts joined: what lexical search and rerankers see."""
        return " ".join(p.text for p in self.parts if p.text and p.weight > 0)

    @property
    def has_image(self) -> bool:
        return any(p.image is not None for p in self.parts)

    @property
    def has_text(self) -> bool:
        return any(p.text for p in self.parts)


@dataclass(frozen=True)
class Hit:
    """One search result: the item, its final score and the score of each stage that saw it."""

    item: Item
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    best_region: Item | None = None

    @property
    def id(self) -> str:
        return self.item.id

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        """The inverse of :meth:`to_dict` (a hit that came over HTTP); text is as long as it was sent."""
        item = Item(id=data["id"], path=data["path"], modality=Modality.parse(data["modality"]),
                    locator=Locator.from_dict(data.get("locator")), text=data.get("text") or "",
                    metadata=dict(data.get("metadata") or {}))
        region = data.get("best_region")
        best = None
        if isinstance(region, dict):
            best = Item(id=region["id"], path=item.path, modality=Modality.REGION, locator=Locator.from_dict(region.get("locator")),
                        text=region.get("text") or "", metadata={"kind": region.get("kind")})
        return cls(item=item, score=float(data["score"]), scores=dict(data.get("scores") or {}), best_region=best)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.item.id,
            "score": float(self.score),
            "modality": self.item.modality.value,
            "path": self.item.path,
            "locator": self.item.locator.to_dict(),
            "text": self.item.text[:500],
            "scores": {k: float(v) for k, v in self.scores.items()},
            "metadata": self.item.metadata,
        }
        if self.best_region is not None:
            out["best_region"] = {"id": self.best_region.id, "locator": self.best_region.locator.to_dict(),
                                  "kind": self.best_region.metadata.get("kind"), "text": self.best_region.text[:300]}
        return out


@dataclass(frozen=True)
class IndexSummary:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    items: int = 0
    failed: tuple[dict[str, str], ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failed"] = list(self.failed)
        return out
