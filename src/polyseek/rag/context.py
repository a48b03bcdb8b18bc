"""Choosing the context of an answer: rerank candidates, then keep those whose relevance clears a threshold
relative to the best (adaptive) or the first k (fixed), within an item and character budget.

Text is judged by the cross-encoder passage by passage (a page is longer than its 512-token window), so an
item's relevance is its best passage's probability. Items with no text (photos, silent video moments) cannot
be judged by a text cross-encoder: they form their own pool, judged by their retrieval score relative to the
best such item, and only those the retriever ranked within the budget are eligible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from polyseek.rag.sentences import split_sentence_spans  # abbreviations, initials and decimals end no sentence
from polyseek.types import Hit

# keep text whose probability is at least this share of the best one's. On MMLongBench-Doc (docs/ask.md) it is
# more precise than fixed top-k (0.40 vs 0.30 evidence pages) but recalls a little less at the same size
ADAPTIVE_RATIO = 0.5
RELEVANCE_TEMPERATURE = 1.0  # divides cross-encoder logits before the sigmoid (tuned with ADAPTIVE_RATIO)
VISUAL_RATIO = 0.9  # keep pictures whose retrieval score is at least this share of the best picture's
MAX_VISUAL = 3
DEFAULT_MAX_ITEMS = 8
DEFAULT_FIXED_K = 5
DEFAULT_MAX_CHARS = 6000
PASSAGE_CHARS = 600


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences (and of list items and paragraphs) in ``text``."""
    out = []
    for begin, end in split_sentence_spans(text):  # strip and cut run-on "sentences" (tables, OCR) so none outgrows a passage
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        while end - begin > PASSAGE_CHARS:
            cut = text.rfind(" ", begin + PASSAGE_CHARS // 2, begin + PASSAGE_CHARS)
            cut = cut if cut > begin else begin + PASSAGE_CHARS
            out.append((begin, cut))
            begin = cut + 1
        if end > begin:
            out.append((begin, end))
    return out


def split_passages(text: str, max_chars: int = PASSAGE_CHARS) -> list[str]:
    """Consecutive sentences grouped into passages of about ``max_chars``, one sentence per paragraph
    (so a later split finds the same sentences)."""
    text = text.strip()
    if not text:
        return []
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for begin, end in split_sentences(text):
        sentence = " ".join(text[begin:end].split())
        if current and size + len(sentence) > max_chars:
            passages.append("\n\n".join(current))
            current, size = [], 0
        current.append(sentence)
        size += len(sentence) + 1
    if current:
        passages.append("\n\n".join(current))
    return passages


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(values, dtype=np.float64), -30, 30)))


@dataclass
class Candidate:
    """A retrieved hit with what the reranker thought of it."""

    hit: Hit
    rank: int  # 0-based position in the retriever's list
    passages: list[str] = field(default_factory=list)
    passage_scores: list[float] = field(default_factory=list)  # probabilities, one per passage
    relevance: float = 0.0

    @property
    def textless(self) -> bool:
        return not self.passages

    def text(self, max_chars: int) -> str:
        """The item's best passages, kept in document order, up to ``max_chars``."""
        if not self.passages:
            return ""
        order = np.argsort(-np.asarray(self.passage_scores)) if self.passage_scores else range(len(self.passages))
        chosen: list[int] = []
        size = 0
        for index in order:
            if chosen and size + len(self.passages[index]) > max_chars:
                break
            chosen.append(int(index))
            size += len(self.passages[index]) + 1
        return "\n\n".join(self.passages[i] for i in sorted(chosen))[: max(max_chars, 1)]


def score_candidates(question: str, hits: Sequence[Hit], reranker, max_passages: int = 12,
                     temperature: float | None = None) -> list[Candidate]:
    """Split each hit's text into passages and score every (question, passage) pair in one batch.

    Relevance is ``sigmoid(logit / temperature)``: a temperature above 1 softens the cross-encoder's
    near-binary probabilities, so "relative to the best" keeps second-tier evidence too.
    """
    temperature = RELEVANCE_TEMPERATURE if temperature is None else float(temperature)
    candidates = [Candidate(hit=h, rank=i, passages=split_passages(h.item.text)[:max_passages]) for i, h in enumerate(hits)]
    pairs = [(c, p) for c in candidates for p in c.passages]
    if pairs and reranker is not None:
        scores = sigmoid(np.asarray(reranker.score(question, [p for _, p in pairs]), dtype=np.float64) / temperature)
        for (candidate, _), score in zip(pairs, scores):
            candidate.passage_scores.append(float(score))
    for candidate in candidates:
        if candidate.passage_scores:
            candidate.relevance = max(candidate.passage_scores)
        elif candidate.passages:  # no reranker: keep the retriever's order
            candidate.passage_scores = [1.0 / (1 + candidate.rank)] * len(candidate.passages)
            candidate.relevance = 1.0 / (1 + candidate.rank)
        else:
            candidate.relevance = float(candidate.hit.score)
    return candidates


def select_fixed(candidates: Sequence[Candidate], k: int = DEFAULT_FIXED_K) -> list[Candidate]:
    """The baseline: the ``k`` most relevant texts, sharing the ``k`` slots with pictures the retriever ranked in its top k."""
    text = sorted((c for c in candidates if not c.textless), key=lambda c: (-c.relevance, c.rank))
    visual = [c for c in candidates if c.textless and c.rank < k][:MAX_VISUAL]
    text_slots = max(k - len(visual), 1 if text else 0)
    return (text[:text_slots] + visual)[:k] if text else visual[:k]


def select_adaptive(candidates: Sequence[Candidate], *, max_items: int = DEFAULT_MAX_ITEMS,
                    ratio: float = ADAPTIVE_RATIO, max_chars: int = DEFAULT_MAX_CHARS,
                    visual_ratio: float = VISUAL_RATIO, passage_chars: int = 1200) -> list[Candidate]:
    """Keep what clears ``ratio`` × the best relevance, best first, until ``max_items`` or ``max_chars``.

    At least one candidate is always kept, so an answer can say what the best match was.
    """
    text = sorted((c for c in candidates if not c.textless), key=lambda c: (-c.relevance, c.rank))
    chosen: list[Candidate] = []
    size = 0
    if text:
        best = text[0].relevance
        for candidate in text:
            if len(chosen) >= max_items:
                break
            if chosen and candidate.relevance < ratio * best:
                break
            length = len(candidate.text(passage_chars))
            if chosen and size + length > max_chars:
                break
            chosen.append(candidate)
            size += length
    visual = [c for c in candidates if c.textless and c.rank < max_items]
    if visual:
        best_visual = max(c.relevance for c in visual)
        keep = [c for c in visual if best_visual > 0 and c.relevance >= visual_ratio * best_visual] or visual[:1]
        room = max(0, max_items - len(chosen))
        chosen += sorted(keep, key=lambda c: c.rank)[: min(MAX_VISUAL, room)]
    return chosen or list(candidates[:1])
