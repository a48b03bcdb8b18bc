"""Ingestion protocol: a file becomes chunks (text and/or an image to embed, with a locator)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from polyseek.errors import UnsupportedFileError
from polyseek.ingest.clean import clean_text, clean_value
from polyseek.registry import Registry
from polyseek.types import Locator, Modality

ProgressFn = Callable[[float, float, str], None]  # (done, total, unit) inside one file


@dataclass
class Chunk:
    """One future item. ``image`` is embedded in the image-text space, ``text`` in the text space and lexically.

    ``text_for_image_space`` (defaults to ``text`` when there is no image) is what the image-text
    encoder's text side embeds, so images can find text items and vice versa.

    Every ingestor's text passes through here, so ``text`` and the strings of ``metadata`` are cleaned
    (:func:`polyseek.ingest.clean.clean_text`) whenever they are set, at construction or later.
    """

    modality: Modality
    locator: Locator = field(default_factory=Locator)
    text: str = ""
    image: Any = None  # PIL.Image.Image, dropped right after encoding
    metadata: dict[str, Any] = field(default_factory=dict)
    date: float | None = None
    item_id: str | None = None  # a stable id the ingestor assigns (catalogue records); else the indexer numbers chunks

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "text" and isinstance(value, str):
            value = clean_text(value)
        elif name == "metadata" and isinstance(value, dict):
            value = clean_value(value)
        object.__setattr__(self, name, value)


class Ingestor(Protocol):
    """Turns one file into chunks; raises :class:`polyseek.errors.InvalidInputError` subclasses for bad files."""

    name: str
    extensions: frozenset[str]  # lower case, without the dot
    # Optional, read with getattr (plugins may leave them out): ``pictures = False`` where no chunk ever holds an
    # image (its items are words only), ``own_ids = True`` where chunks carry the ingestor's own ``item_id``s.
    # An upgrade's backfill reads them to know which files it must read again (upgrade/core.py decode_files).

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]: ...


ingestors: Registry[Ingestor] = Registry(
    "ingestor",
    lazy={
        "image": "polyseek.ingest.images",
        "text": "polyseek.ingest.text",
        "pdf": "polyseek.ingest.pdf",
        "video": "polyseek.ingest.video",
        "audio": "polyseek.ingest.audio",
        "catalogue": "polyseek.ingest.catalogue",
    },
)

_by_extension: dict[str, Ingestor] = {}
unavailable: dict[str, str] = {}  # ingestor name → why it could not load (a missing dependency, a broken plugin)
log = logging.getLogger(__name__)


def _load_all() -> None:
    if _by_extension or unavailable:
        return
    for name in ingestors.names():
        try:
            ingestor = ingestors.create(name)
        except Exception as exc:  # noqa: BLE001 - an optional backend whose dependency is missing
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            log.warning("ingestor %r is unavailable: %s", name, unavailable[name])
            continue
        for ext in ingestor.extensions:
            _by_extension.setdefault(ext, ingestor)


def supported_extensions() -> list[str]:
    _load_all()
    return sorted(_by_extension)


def ingestor_for(path: Path) -> Ingestor:
    _load_all()
    ext = path.suffix.lower().lstrip(".")
    if ext not in _by_extension:
        broken = "; ".join(f"{name}: {reason}" for name, reason in unavailable.items())
        raise UnsupportedFileError(
            f"unsupported file type {path.suffix or '(none)'!r}", hint="supported: " + ", ".join(supported_extensions())
            + (f" (not loaded: {broken})" if broken else "")
        )
    return _by_extension[ext]
