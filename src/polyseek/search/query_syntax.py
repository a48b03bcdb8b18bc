"""rclip-style query syntax: ``"2:golden retriever" + ./pool.jpg - "fruit"``.

Terms are joined by ``+`` (add) or ``-`` (subtract); a term may start with ``WEIGHT:``; a term that
names an existing image file is an image, anything else is text.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from polyseek.errors import InvalidInputError

_WEIGHT = re.compile(r"^(-?\d+(?:\.\d+)?):(.+)$", re.S)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


def parse_query_syntax(text: str) -> list[tuple[float, str, str]]:
    """Return ``[(weight, kind, value)]`` with kind ``"text"`` or ``"image"`` (value = path)."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InvalidInputError(f"cannot parse query {text!r}: {exc}", hint='close your quotes, e.g. "red car" + ./car.jpg') from exc
    terms: list[tuple[float, list[str]]] = []
    sign = 1.0
    current: list[str] = []
    for token in tokens:
        if token in {"+", "-"}:
            if current:
                terms.append((sign, current))
                current = []
            elif terms or token == "+":
                raise InvalidInputError(f"query {text!r} has an operator with nothing before it")
            sign = 1.0 if token == "+" else -1.0
            continue
        current.append(token)
    if current:
        terms.append((sign, current))
    elif tokens:
        raise InvalidInputError(f"query {text!r} ends with an operator", hint='e.g. "cat" + ./photo.jpg')
    out = []
    for sign, words in terms:
        term = " ".join(words)
        weight = 1.0
        match = _WEIGHT.match(term)
        if match:
            weight, term = float(match.group(1)), match.group(2).strip()
        path = Path(term).expanduser()
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            out.append((sign * weight, "image", str(path)))
        elif path.suffix.lower() in IMAGE_SUFFIXES and ("/" in term or term.startswith(".")):
            raise InvalidInputError(f"image file not found: {term}")
        else:
            out.append((sign * weight, "text", term))
    if not out:
        raise InvalidInputError("empty query", hint='give text, an image path, or "text" + ./image.jpg')
    return out
