"""From a generated answer to citations: read its ``[n]`` markers, drop ones that point nowhere, and attribute
uncited sentences to the context block whose words support them best."""

from __future__ import annotations

import re
from collections.abc import Sequence

from polyseek.rag.base import Citation, ContextBlock
from polyseek.rag.context import split_sentences

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
            body, end = (stripped[:-1], stripped[-1]) if stripped[-1:] in ".!?" else (stripped, "")
            out.append(f"{body} [{number}]{end}" + sentence[len(stripped):])
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


def finish(text: str, blocks: Sequence[ContextBlock]) -> tuple[str, list[Citation]]:
    """Final answer text and the citations its markers resolve to, in the order they are first cited.

    A citation's snippet is the quoted sentence when the answer quotes its block, else the block's opening.
    """
    by_number = {b.number: b for b in blocks}
    text = clean_markers(text.strip(), set(by_number))
    text = _TRAILING.sub(lambda m: f" {m.group(2)}{m.group(1)}", text)  # "claim. [1]" → "claim [1]."
    text = attribute(text, blocks)
    snippets = quoted_snippets(text, blocks)
    citations = []
    for number in markers(text):
        block = by_number[number]
        snippet = snippets.get(number) or " ".join(block.text.split())[:300]
        citations.append(Citation.from_hit(block.hit, number, snippet))
    return text, citations
