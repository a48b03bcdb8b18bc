"""rclip-style composed queries (``"2:golden retriever" + ./pool.jpg - "fruit"``) that never fail on ordinary text.

The rule: a query is *composed* only when all of these hold, otherwise the whole text is one text query, as typed:

1. it splits at operators, ``+`` or ``-`` standing alone with whitespace on both sides, into non-empty terms
   (no operator first, last or twice in a row);
2. every quote that opens a token (``"`` or ``'`` at the start of a word) closes at the end of a word;
3. at least one term is *explicit*: a whole quoted phrase (``"golden retriever"``, ``2:"golden retriever"``) or
   an image path (a single word ending in an image extension that names an existing file, or that looks like a
   path: it contains ``/`` or starts with ``.`` or ``~``).

So ``a dog's toy``, ``2:30 pm meeting``, ``covid-19 - 2020``, ``"unbalanced`` and ``cats + dogs`` are text, while
``"red car" - "blue"``, ``sunset + ./beach.jpg`` and ``"2:golden retriever" + ./pool.jpg - fruit`` are composed.
Inside a composed query a term may start with ``WEIGHT:`` (a number followed by a colon and a non-digit, so that
``2:30`` stays a time); a term naming an image file is an image, anything else is text. An image path that looks
like a path but does not exist is an error (the user clearly meant a file). Apostrophes are never quotes inside a
word, and nothing here is shell syntax (no ``shlex``).

The CLI joins its arguments with :func:`join_arguments`, which quotes an argument holding spaces when the
arguments also hold a lone operator, so ``polyseek search "red car" - blue`` means what the shell showed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from polyseek.errors import InvalidInputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
OPERATORS = {"+": 1.0, "-": -1.0}
QUOTES = "\"'"
MAX_QUERY_CHARS = 10_000  # longer text is refused: no encoder reads that far
_WEIGHT = re.compile(r"^(-?\d{1,6}(?:\.\d{1,6})?):(?=\D)(.*)$", re.S)


@dataclass(frozen=True)
class _Token:
    text: str  # the word as typed
    quoted: str | None = None  # the phrase inside the quotes, when the token is a whole quoted phrase
    weight: float | None = None  # a WEIGHT: prefix of a quoted phrase


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _looks_like_path(word: str) -> bool:
    return "/" in word or "\\" in word or word.startswith((".", "~"))


def _image_suffix(word: str) -> bool:
    dot = word.rfind(".")
    return dot > 0 and word[dot:].lower() in IMAGE_SUFFIXES and "/" not in word[dot:]


def _tokens(text: str) -> list[_Token] | None:
    """Whitespace-separated words, with quoted phrases kept whole; None when a quote opens and never closes."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            i += 1
        word = text[start:i]
        weight_match = _WEIGHT.match(word)
        prefix = len(word) - len(weight_match.group(2)) if weight_match else 0
        if start + prefix < n and text[start + prefix] in QUOTES:
            quote = text[start + prefix]
            close = start + prefix + 1
            while True:  # the closing quote must end a word
                close = text.find(quote, close)
                if close < 0:
                    return None
                if close + 1 == n or text[close + 1].isspace():
                    break
                close += 1
            phrase = text[start + prefix + 1:close]
            weight = float(weight_match.group(1)) if weight_match else None
            tokens.append(_Token(text[start:close + 1], quoted=phrase, weight=weight))
            i = close + 1
            continue
        tokens.append(_Token(word))
    return tokens


def _groups(tokens: Sequence[_Token]) -> list[tuple[float, list[_Token]]] | None:
    """Terms between lone operators with their signs; None when an operator has nothing on one side."""
    groups: list[tuple[float, list[_Token]]] = []
    sign = 1.0
    current: list[_Token] = []
    for token in tokens:
        if token.quoted is None and token.text in OPERATORS:
            if not current:
                return None
            groups.append((sign, current))
            sign, current = OPERATORS[token.text], []
            continue
        current.append(token)
    if not current:
        return None
    groups.append((sign, current))
    return groups


def _explicit(group: Sequence[_Token], is_image_file: Callable[[Path], bool]) -> bool:
    if len(group) != 1:
        return False
    token = group[0]
    if token.quoted is not None:
        return bool(token.quoted.strip())
    word = _WEIGHT.sub(r"\2", token.text)
    return _image_suffix(word) and (_looks_like_path(word) or is_image_file(_expand(word)))


def _expand(value: str) -> Path:
    try:
        return Path(value).expanduser()
    except RuntimeError:  # "~nobody/x.jpg": no such user, so no such home folder
        return Path(value)


def _term(sign: float, group: Sequence[_Token], is_image_file: Callable[[Path], bool]) -> tuple[float, str, str]:
    quoted = len(group) == 1 and group[0].quoted is not None
    if quoted:
        weight, value = group[0].weight, group[0].quoted or ""
    else:
        weight, value = None, " ".join(token.text for token in group)
    if weight is None:
        match = _WEIGHT.match(value)
        if match and match.group(2).strip():
            weight, value = float(match.group(1)), match.group(2)
    value = value.strip()
    weight = 1.0 if weight is None else weight
    if _image_suffix(value):
        path = _expand(value)
        if is_image_file(path):
            return sign * weight, "image", str(path)
        if not quoted and len(group) == 1 and _looks_like_path(value):
            raise InvalidInputError(f"image file not found: {value}",
                                    hint="give the path of an existing image, or quote the words to search them as text")
    value = " ".join(value.split())  # text terms are compared and embedded as words: runs of spaces are one
    if not value:
        raise InvalidInputError("a composed query has an empty term", hint='e.g. "red car" + ./car.jpg - "blue"')
    return sign * weight, "text", value


def parse_query_syntax(text: str, *, is_image_file: Callable[[Path], bool] | None = None) -> list[tuple[float, str, str]]:
    """Return ``[(weight, kind, value)]`` with kind ``"text"`` or ``"image"`` (value = the image's path).

    ``is_image_file`` decides whether a word names an image the caller may read (default: an existing file); a
    server passes one that admits only files inside its roots, so other files are never probed.

    >>> parse_query_syntax("a dog's toy")
    [(1.0, 'text', "a dog's toy")]
    >>> parse_query_syntax('"red car" - "blue"')
    [(1.0, 'text', 'red car'), (-1.0, 'text', 'blue')]
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"a query must be text, got {type(text).__name__}")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"the query is {len(text):,} characters long; at most {MAX_QUERY_CHARS:,} are accepted")
    plain = " ".join(text.split())
    if not plain:
        raise InvalidInputError("empty query", hint='give text, an image path, or "text" + ./image.jpg')
    checker = is_image_file or _is_file
    tokens = _tokens(text)
    groups = _groups(tokens) if tokens else None
    if groups and any(_explicit(group, checker) for _, group in groups):
        return [_term(sign, group, checker) for sign, group in groups]
    return [(1.0, "text", plain)]


def join_arguments(arguments: Sequence[str]) -> str:
    """Command-line words as one query: when they hold a lone ``+``/``-``, an argument with spaces in it was quoted
    in the shell, so it is quoted again (``["red car", "-", "blue"]`` → ``"red car" - blue``)."""
    words = [a for a in arguments if a is not None]
    if not any(a.strip() in OPERATORS for a in words):
        return " ".join(words)
    out = []
    for word in words:
        if any(c.isspace() for c in word.strip()) and word.strip()[:1] not in QUOTES:
            quote = '"' if '"' not in word else "'" if "'" not in word else None
            out.append(f"{quote}{word.strip()}{quote}" if quote else word)
        else:
            out.append(word)
    return " ".join(out)
