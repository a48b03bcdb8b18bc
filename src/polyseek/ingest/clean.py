"""One normalisation for every string that enters the index: joined surrogates, no control characters, NFKC.

Extracted text is dirty in ways tokenizers and stores refuse: PDFium hands out UTF-16 code units, so a
math letter such as 𝑥 (U+1D465) arrives as two surrogate halves (``"\\ud835\\udc65"``), which the
``tokenizers`` library rejects and SQLite cannot store as UTF-8; text layers carry NULs and other
control characters; OCR and PDFs use ligatures (ﬁ), full-width and mathematical alphabets that never
match what people type. :func:`clean_text` makes every such string safe and comparable:

- a surrogate pair becomes the character it encodes; a lone surrogate is dropped;
- control characters are dropped, except tab and newline; vertical tab, form feed, NEL and the Unicode
  line and paragraph separators become newlines, ``\\r\\n`` and ``\\r`` become ``\\n``;
- noncharacters (U+FFFE, U+FFFF, ...), the replacement character U+FFFD and invisible format marks that
  split words (soft hyphen, zero-width space, word joiner, byte-order mark) are dropped; zero-width
  (non-)joiners stay, since Indic and Persian spelling needs them;
- the result is NFKC-normalised: 𝑥 → x, ﬁ → fi, ＡＢＣ → ABC, so lexical search and the encoders see the
  letters a user types; superscript and subscript digits are kept (NFKC would turn 10² into 102).

>>> clean_text("e\\ud835\\udc65p\\x00 \\ufb01le")
'exp file'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 controls but tab and newline, DEL, soft hyphen, zero-width space, word joiner, BOM, U+FFFD and
# the noncharacters (U+FDD0..U+FDEF and the last two code points of every plane)
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff\ufffd\ufdd0-\ufdef"
    + "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(17))
    + "]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# superscript and subscript digits and signs stay as they are: NFKC would glue them to their base
# ("10²" -> "102", "Revenue¹" -> "Revenue1"), changing numbers; they cross NFKC as lone-surrogate stand-ins (none is left in the text by then)
_SCRIPTS = "\u00b9\u00b2\u00b3\u2070\u2071" + "".join(chr(c) for c in range(0x2074, 0x209D))
_HIDE = str.maketrans({c: chr(0xDC80 + i) for i, c in enumerate(_SCRIPTS)})
_SHOW = str.maketrans({chr(0xDC80 + i): c for i, c in enumerate(_SCRIPTS)})
# a quick test: ASCII that needs no work has no C0 control other than tab/newline and no DEL
_NEEDS_WORK = re.compile(r"[^\t\n\x20-\x7e]")


def join_surrogates(text: str) -> str:
    """Pairs of UTF-16 surrogate halves become the character they encode; lone halves are dropped."""
    if not _SURROGATE.search(text):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        code = ord(text[i])
        if 0xD800 <= code <= 0xDBFF and i + 1 < n and 0xDC00 <= ord(text[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((code - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00)))
            i += 2
            continue
        if not 0xD800 <= code <= 0xDFFF:
            out.append(text[i])
        i += 1
    return "".join(out)


def clean_text(text: str) -> str:
    """``text`` made safe to tokenize and store, NFKC-normalised (see the module docstring)."""
    if not text or not _NEEDS_WORK.search(text):
        return text
    text = _DROPPED.sub("", _NEWLINES.sub("\n", join_surrogates(text)))
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text.translate(_HIDE)).translate(_SHOW)


def clean_value(value: Any) -> Any:
    """A metadata value with its strings cleaned (strings, and strings inside lists, tuples and dicts)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_value(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean_value(v) for v in value)
    return value
