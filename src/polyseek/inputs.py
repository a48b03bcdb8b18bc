"""One parser for query inputs: dispatches on type and refuses what it does not understand."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from polyseek.errors import InvalidInputError
from polyseek.types import QueryPart

ACCEPTED = "text (str), an image (PIL.Image, a path to an image file, or its bytes), or a dict {'text'|'image': ..., 'weight': w}"


def load_image(source: Any):
    """An image from a PIL image, a path or raw bytes, refusing bombs and damaged files."""
    from PIL import Image

    from polyseek.ingest.images import open_image, shrink

    if isinstance(source, Image.Image):  # reduced like a decoded file: the encoders work at 224-512 px
        reduced = shrink(source)
        return reduced if reduced is not source else source.copy()
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not source:
            raise InvalidInputError("empty image bytes")
        buffer = io.BytesIO(bytes(source))
        buffer.name = "image bytes"  # how messages name it (a bare BytesIO shows as <_io.BytesIO object at 0x…>)
        return open_image(buffer)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"image file not found: {path}")
        return open_image(path)
    raise InvalidInputError(f"cannot read an image from {type(source).__name__}", hint="accepted: PIL.Image, path, bytes")


def parse_input(value: Any, weight: float = 1.0) -> QueryPart:
    """Turn one query input into a :class:`QueryPart`.

    >>> parse_input("a dog on grass").text
    'a dog on grass'
    """
    from PIL import Image

    if isinstance(value, QueryPart):
        return value
    if isinstance(value, bool) or value is None:
        raise InvalidInputError(f"cannot search with {value!r}", hint="accepted: " + ACCEPTED)
    if isinstance(value, str):
        if not value.strip():
            raise InvalidInputError("empty text query", hint="accepted: " + ACCEPTED)
        return QueryPart(weight=weight, text=value.strip())
    if isinstance(value, (Image.Image, bytes, bytearray, memoryview, Path)):
        return QueryPart(weight=weight, image=load_image(value))
    if isinstance(value, dict):
        unknown = set(value) - {"text", "image", "weight"}
        if unknown or ("text" in value) == ("image" in value):
            raise InvalidInputError(
                f"a query dict needs exactly one of 'text' or 'image' (and optionally 'weight'), got keys {sorted(value)}"
            )
        try:
            part_weight = float(value.get("weight", weight))
        except (TypeError, ValueError):
            raise InvalidInputError(f"query weight must be a number, got {value.get('weight')!r}") from None
        if "text" in value:
            if not isinstance(value["text"], str):
                raise InvalidInputError(f"'text' must be a string, got {type(value['text']).__name__}")
            return parse_input(value["text"], part_weight)
        return QueryPart(weight=part_weight, image=load_image(value["image"]))
    raise InvalidInputError(f"cannot search with a {type(value).__name__}", hint="accepted: " + ACCEPTED)
