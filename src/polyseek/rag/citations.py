"""From a generated answer to citations: read its ``[n]`` markers, drop ones that point nowhere, attribute
uncited sentences to the context block whose words support them best, and number citations 1, 2, 3… in the
order the answer first uses them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from polyseek.rag.base import Citation, ContextBlock
from polyseek.rag.context import split_sentences
from polyseek.rag.sentences import ends_with_abbreviation

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
STOP = frozenset("a an the and or of to in on at for by with from is are was were be been it its this that these those "
                 "as not no yes i you he she we they what which who how when where why does do did can could there "
                 "their his her our your my me about into than then so if".split())
_TRAILING = re.compile(r"(?<!\s)([.!?])[ \t]*((?:\[\d{1,3}\])+)")
MIN_SUPPORT = 0.34  # share of a sentence's content words that must appear in a block to cite it


def markers(text: str) -> list[int]:
    """Numbers cited in ``text`` in order of first appearance: ``"a [2] b [1, 3]"`` → ``[2, 1, 3]``."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            if int(number) not in seen:
                seen.append(int(number))
    return seen


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1 or w.isdigit()}


def clean_markers(text: str, valid: set[int]) -> str:
    """Rewrite ``[1, 9]`` as ``[1]`` when only 1 exists; drop markers that cite nothing real."""
    def fix(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(2))]
        kept = [n for n in dict.fromkeys(numbers) if n in valid]
        return match.group(1) + "".join(f"[{n}]" for n in kept) if kept else ""

    return re.sub(r"([ \t]*)" + _MARKER.pattern, fix, text)


def attribute(text: str, blocks: Sequence[ContextBlock]) -> str:
    """Append ``[n]`` to each sentence that has none, citing the block that shares most of its content words,
    when that share reaches :data:`MIN_SUPPORT`; sentences no block supports are left uncited."""
    vocab = {b.number: content_words(b.text + " " + b.hit.item.path.rsplit("/", 1)[-1]) for b in blocks}
    out, last = [], 0
    for begin, end in split_sentences(text):
        sentence = text[begin:end]
        out.append(text[last:begin])
        last = end
        words = content_words(_MARKER.sub(" ", sentence))
        if _MARKER.search(sentence) or not words or not vocab:
            out.append(sentence)
            continue
        number, support = max(((n, len(words & v) / len(words)) for n, v in vocab.items()), key=lambda t: (t[1], -t[0]))
        if support >= MIN_SUPPORT:
            stripped = sentence.rstrip()
            if ends_with_abbreviation(stripped):  # "in the U.S." → "in the U.S. [1]." (the stop is the abbreviation's)
                body, stop = stripped, "."
            else:
                body, stop = (stripped[:-1], stripped[-1]) if stripped[-1:] in ".!?" else (stripped, "")
            out.append(f"{body} [{number}]{stop}" + sentence[len(stripped):])
        else:
            out.append(sentence)
    out.append(text[last:])
    return "".join(out)


def quoted_snippets(text: str, blocks: Sequence[ContextBlock]) -> dict[int, str]:
    """For each cited block, the answer's sentence citing it when that sentence is quoted from the block."""
    by_number = {b.number: " ".join(b.text.split()).lower() for b in blocks}
    out: dict[int, str] = {}
    for begin, end in split_sentences(text):
        sentence = text[begin:end]
        plain = " ".join(_MARKER.sub(" ", sentence).split()).rstrip(".!?").strip()
        for number in markers(sentence):
            if number not in out and plain and plain.lower() in by_number.get(number, ""):
                out[number] = plain
    return out


def _move_marker(match: re.Match[str]) -> str:
    """``"claim. [1]"`` → ``"claim [1]."``, unless the stop belongs to an abbreviation (``"the U.S. [1]"``)."""
    before = match.string[:match.start() + 1]
    if match.group(1) == "." and ends_with_abbreviation(before):
        return match.group(0)
    return f" {match.group(2)}{match.group(1)}"


def renumber(text: str) -> tuple[str, dict[int, int]]:
    """Markers renumbered 1, 2, 3… in order of first use (``"a [3] b [1] c [3]"`` → ``"a [1] b [2] c [1]"``).

    Returns the new text and ``{old number: new number}``.
    """
    mapping = {old: new for new, old in enumerate(markers(text), 1)}

    def fix(match: re.Match[str]) -> str:
        numbers = [mapping[int(n)] for n in re.split(r"\s*[,;]\s*", match.group(1))]
        return "[" + ", ".join(str(n) for n in dict.fromkeys(numbers)) + "]"

    return _MARKER.sub(fix, text), mapping


def finish(text: str, blocks: Sequence[ContextBlock]) -> tuple[str, list[Citation]]:
    """Final answer text and the citations its markers resolve to, numbered densely in the order first cited.

    A citation's snippet is the quoted sentence when the answer quotes its block, else the block's opening.
    """
    by_number = {b.number: b for b in blocks}
    text = clean_markers(text.strip(), set(by_number))
    text = _TRAILING.sub(_move_marker, text)
    text = attribute(text, blocks)
    snippets = quoted_snippets(text, blocks)
    text, mapping = renumber(text)
    citations = []
    for old, new in mapping.items():
        block = by_number[old]
        snippet = snippets.get(old) or " ".join(block.text.split())[:300]
        citations.append(Citation.from_hit(block.hit, new, snippet))
    return text, citations


class StreamRenumberer:
    """Renumbers ``[n]`` markers of a streamed answer as it is written, so the reader sees [1], [2], [3]… in order
    of first use; text that may be the start of a marker ("[1" at a piece's end) is held back until it is complete.

    Numbers that name no block are left alone (:func:`finish` drops them); they never collide with the new ones,
    which run from 1 to the number of blocks.

    >>> renumber = StreamRenumberer({1, 2, 3})
    >>> renumber.feed("Paid [3") + renumber.feed("] on time [1].") + renumber.flush()
    'Paid [1] on time [2].'
    """

    HOLD = 16  # the longest text held back while waiting for a "]"

    def __init__(self, valid: set[int]) -> None:
        self.valid = set(valid)
        self.mapping: dict[int, int] = {}
        self._pending = ""

    def _number(self, old: int) -> int:
        if old not in self.valid:
            return old
        if old not in self.mapping:
            self.mapping[old] = len(self.mapping) + 1
        return self.mapping[old]

    def _rewrite(self, text: str) -> str:
        def fix(match: re.Match[str]) -> str:
            numbers = [self._number(int(n)) for n in re.split(r"\s*[,;]\s*", match.group(1))]
            return "[" + ", ".join(str(n) for n in dict.fromkeys(numbers)) + "]"

        return _MARKER.sub(fix, text)

    def feed(self, piece: str) -> str:
        """The part of the text so far that can be shown, renumbered."""
        text = self._pending + piece
        cut = text.rfind("[")
        if cut >= 0 and "]" not in text[cut:] and len(text) - cut <= self.HOLD:
            text, self._pending = text[:cut], text[cut:]
        else:
            self._pending = ""
        return self._rewrite(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._rewrite(text)

    def blocks(self, blocks: Sequence[ContextBlock]) -> list[ContextBlock]:
        """The blocks under their new numbers; blocks not cited yet follow, numbered after the cited ones."""
        uncited = [b for b in blocks if b.number not in self.mapping]
        numbers = dict(self.mapping)
        for offset, block in enumerate(uncited, len(numbers) + 1):
            numbers[block.number] = offset
        return sorted((dataclasses.replace(b, number=numbers[b.number]) for b in blocks), key=lambda b: b.number)
