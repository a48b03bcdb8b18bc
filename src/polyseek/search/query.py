"""From loose inputs (a string in rclip syntax, a list of inputs, an image) to a :class:`~polyseek.types.Query`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyseek.inputs import load_image, parse_input
from polyseek.search.query_syntax import parse_query_syntax
from polyseek.types import Filters, Query, QueryPart, Signal


def content_hash(source: Any) -> str | None:
    """The indexer's content hash of an image given as a path or bytes (``None`` for a decoded image)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            data = Path(source).expanduser().read_bytes()
        except OSError:
            return None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        return None
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def build_query(query: Any = None, *, image: Any = None, k: int = 10, filters: Filters | None = None,
                instruction: str | None = None, image_weight: float = 1.0, text_weight: float = 1.0,
                spaces: Sequence[str] = (), rerank: bool | None = None, like: str | None = None) -> Query:
    """A :class:`Query` from what a person typed or passed.

    ``query``: a string (rclip-style syntax: ``"2:golden retriever" + ./pool.jpg``), a list of inputs
    (strings, images, ``{"text"|"image": …, "weight": w}``), an image, or a ready ``Query`` (returned as is).
    ``image`` adds an image part (composed retrieval: the text modifies it, and the query's own image, the same
    file content under any name, is never a result). ``like`` asks for more like an indexed item.

    >>> build_query("a dog's toy").text
    "a dog's toy"
    """
    if isinstance(query, Query):
        return query
    parts: list[QueryPart] = []
    sources: list[Any] = []  # where the query's images came from, for self-exclusion
    if isinstance(query, str) and query.strip():
        for weight, kind, value in parse_query_syntax(query):
            if kind == "text":
                parts.append(QueryPart(weight=weight * text_weight, text=value))
            else:
                parts.append(QueryPart(weight=weight * image_weight, image=load_image(value)))
                sources.append(value)
    elif isinstance(query, (list, tuple)):
        for value in query:
            parts.append(parse_input(value))
            if parts[-1].image is not None:
                sources.append(value.get("image") if isinstance(value, dict) else value)
    elif query is not None and not isinstance(query, str):
        parts.append(parse_input(query, weight=image_weight))
        sources.append(query)
    if image is not None:
        parts.append(QueryPart(weight=image_weight, image=load_image(image)))
        sources.append(image)
    composed = any(p.text for p in parts) and any(p.image is not None for p in parts)
    hashes = tuple(h for h in map(content_hash, sources) if h) if composed else ()
    return Query(parts=tuple(parts), k=k, filters=filters or Filters(), instruction=instruction,
                 spaces=tuple(Signal.parse(s) for s in spaces), rerank=rerank, like=like, exclude_hashes=hashes)
