"""The offline default answerer: no LLM, it quotes the context sentences the cross-encoder finds most supportive,
each with its citation; for pictures with no text it names the best-matching items."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from polyseek.rag.base import ContextBlock, generators
from polyseek.rag.context import sigmoid, split_sentences
from polyseek.rag.sentences import ends_with_abbreviation

MAX_SENTENCES = 3
RELATIVE = 0.5  # quote sentences scoring at least this share of the best one
LOW_CONFIDENCE = 0.1  # below this probability the best sentence is offered as "closest", not as the answer
MIN_CHARS = 12  # fragments shorter than this (page numbers, headers) are not quoted
RUN_ON_CHARS = 200  # a "sentence" longer than this that spans MIN_LINES lines of its page is quoted line by line
MIN_LINES = 3
_VALUE_END = re.compile(r"(?:\d|%|\)|—|–|-)$")


def load_cross_encoder():
    """The shared cross-encoder (``polyseek.search.rerank``), loaded once."""
    global _cross_encoder
    if _cross_encoder is None:
        from polyseek.search.rerank import load_reranker

        _cross_encoder = load_reranker("cross-encoder")
    return _cross_encoder


_cross_encoder = None


def line_breaks(source: str) -> tuple[str, list[int]]:
    """``source`` with its whitespace collapsed, and the positions in it of the spaces that were line breaks."""
    collapsed: list[str] = []
    breaks: list[int] = []
    size = 0
    for line in source.splitlines():
        words = " ".join(line.split())
        if not words:
            continue
        if collapsed:
            breaks.append(size)
            size += 1
        collapsed.append(words)
        size += len(words)
    return " ".join(collapsed), breaks


def quote_units(sentence: str, source: tuple[str, list[int]] | None) -> list[str]:
    """What the answerer may quote from one context sentence: the sentence itself, or, for a run-on "sentence"
    that spans several lines of its page (a table, a list, OCR text), those lines, so a table row is quoted
    instead of the whole table."""
    if len(sentence) <= RUN_ON_CHARS or source is None:
        return [sentence]
    collapsed, breaks = source
    start = collapsed.find(sentence)
    if start < 0:
        return [sentence]
    cuts = [b - start for b in breaks if start < b < start + len(sentence)]
    if len(cuts) < MIN_LINES - 1:
        return [sentence]
    edges = [0, *cuts, len(sentence)]
    lines = [sentence[a:b].strip() for a, b in zip(edges, edges[1:]) if sentence[a:b].strip()]
    # table rows end in a value; prose wrapped over lines (narrow columns too) mostly does not: keep it whole
    valued = sum(1 for line in lines if _VALUE_END.search(line))
    return lines if valued * 2 >= len(lines) else [sentence]


def best_sentences(question: str, blocks: Sequence[ContextBlock], reranker=None,
                   max_sentences: int = MAX_SENTENCES) -> list[tuple[float, int, str]]:
    """``[(probability, block number, sentence)]``, best first, deduplicated. Run-on text (tables, lists) is
    judged line by line (:func:`quote_units`)."""
    pool: list[tuple[int, str]] = []
    for block in blocks:
        text = block.text
        source = line_breaks(block.hit.item.text) if "\n" in block.hit.item.text else None
        for begin, end in split_sentences(text):
            sentence = " ".join(text[begin:end].split()).strip(" …")
            for unit in quote_units(sentence, source):
                if len(unit) >= MIN_CHARS:
                    pool.append((block.number, unit))
    if not pool:
        return []
    reranker = reranker or load_cross_encoder()
    scores = sigmoid(np.asarray(reranker.score(question, [s for _, s in pool]), dtype=np.float64))
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
    best = float(scores[order[0]])
    chosen: list[tuple[float, int, str]] = []
    seen: set[str] = set()
    for i in order:
        number, sentence = pool[i]
        if len(chosen) >= max_sentences or (chosen and scores[i] < RELATIVE * best):
            break
        key = sentence.lower()
        if key in seen:
            continue
        seen.add(key)
        chosen.append((float(scores[i]), number, sentence))
    return chosen


@generators.register("extractive")
class ExtractiveAnswerer:
    """Quotes, never invents: the answer is the best-supported context sentences with their ``[n]`` citations."""

    name = "extractive"
    accepts_images = False
    context_window = 1_000_000  # no model window; the context budget alone bounds it

    def __init__(self, reranker=None) -> None:
        self.reranker = reranker

    def stream(self, question: str, blocks: Sequence[ContextBlock], facts: Sequence[str] = ()) -> Iterator[str]:
        for fact in facts:
            yield f"(Your concept) {fact.rstrip('.')}.\n"
        chosen = best_sentences(question, blocks, self.reranker)
        if not chosen:
            pictures = [b for b in blocks if not b.text.strip()]
            if not pictures:
                yield "Nothing in the indexed files matches this question."
                return
            yield "No indexed text answers this; the best-matching items are: "
            yield "; ".join(f"{b.label.split('] ', 1)[1]} [{b.number}]" for b in pictures) + "."
            return
        if chosen[0][0] < LOW_CONFIDENCE:
            yield "No passage clearly answers this. Closest match: "
            chosen = chosen[:1]
        for index, (_, number, sentence) in enumerate(chosen):
            yield ("" if index == 0 else " ") + cite(sentence, number)


def cite(sentence: str, number: int) -> str:
    """``"Revenue grew."`` → ``"Revenue grew [1]."``; a final abbreviation keeps its dot: ``"in the U.S. [1]."``."""
    if ends_with_abbreviation(sentence):
        return f"{sentence} [{number}]."
    body, ending = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (sentence, ".")
    return f"{body} [{number}]{ending}"
