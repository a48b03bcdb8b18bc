"""Where sentences end: a full stop after an abbreviation ("U.S.", "Dr.", "e.g."), an initial ("J. Smith") or
inside a number ("3.14") is not the end of a sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator

# a candidate end: ./!/? then whitespace then something that can open a sentence; a blank line; a list item
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{2,}|(?<=\S)\n(?=[-•*\d]|[A-Z][^a-z]{0,3}\s)")

# lower-cased, without their final dot. "etc." is left out on purpose: it ends sentences as often as not
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft rev gen col lt sgt capt cmdr gov sen rep pres hon "
    "vs cf al ca approx est dept univ assn bros inc ltd co corp plc "
    "fig figs eq eqs sec ch chap art vol vols pp ed eds tab ref refs "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun "
    "e.g i.e a.m p.m u.s u.k u.n e.u u.s.a ph.d m.d b.a m.a b.sc m.sc".split()
)
NUMBERED = frozenset({"no", "nos", "p", "nr"})  # abbreviations only when a number follows: "No. 5", "p. 12"
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$")  # "U.S", "J", "e.g", "A.B.C"
TITLES = frozenset("mr mrs ms dr prof sr jr st mt rev gen col lt sgt capt cmdr gov sen rep pres hon".split())
# after "U.S." or "5 p.m." these words open a new sentence ("… moved to the U.S. In 2015 …"); a title never ends one
STARTERS = frozenset("the in it this that he she they we i a an but and however on at after before then there these "
                     "those his her its our their when while as for if so yet our my".split())
_LEADING = "\"'([{“‘«"


def _last_word(text: str, end: int) -> str:
    """The word before position ``end`` (which follows a full stop), without the stop and opening punctuation."""
    start = end - 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end - 1].lstrip(_LEADING)


def _next_word(text: str, start: int) -> str:
    match = re.match(r"[\"'(\[]?([^\s.,;:!?)\]]*)", text[start:start + 40])
    return match.group(1) if match else ""


def is_abbreviation(word: str, following: str = "") -> bool:
    """Whether ``word`` followed by a full stop and then ``following`` (the next word) is an abbreviation or an
    initial, e.g. ``"U.S"``, ``"Dr"``, ``"J"``, rather than the end of a sentence.

    >>> is_abbreviation("U.S"), is_abbreviation("Dr"), is_abbreviation("J"), is_abbreviation("dog")
    (True, True, True, False)
    """
    if not word:
        return False
    lowered = word.lower()
    if lowered in ABBREVIATIONS:
        if lowered in TITLES or len(word) == 1:
            return True
        return following.lower() not in STARTERS  # "the U.S. Army" continues; "the U.S. In 2015" starts anew
    if lowered in NUMBERED:
        return following[:1].isdigit()
    if len(word) == 1:
        return word.isupper()  # an initial: "J. R. R. Tolkien"; a lone lower-case letter ends "plan b." sentences
    return bool(_INITIALS.match(word)) and following.lower() not in STARTERS


def ends_with_abbreviation(sentence: str) -> bool:
    """Whether the full stop ending ``sentence`` belongs to an abbreviation ("… in the U.S.")."""
    stripped = sentence.rstrip()
    if not stripped.endswith("."):
        return False
    word = _last_word(stripped, len(stripped))
    return bool(word) and (word.lower() in ABBREVIATIONS or bool(_INITIALS.match(word)) and len(word) > 1)


def sentence_ends(text: str) -> Iterator[re.Match[str]]:
    """Matches of :data:`SENTENCE_END` that really end a sentence."""
    for match in SENTENCE_END.finditer(text):
        begin = match.start()
        if begin > 0 and text[begin - 1] == "." and "\n\n" not in match.group(0):
            if is_abbreviation(_last_word(text, begin), _next_word(text, match.end())):
                continue
        yield match


def split_sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences, abbreviations kept inside them (not yet stripped or length-capped)."""
    spans, start = [], 0
    for match in sentence_ends(text):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans
