"""Two small text encoders for upgrade tests: the old one (hashed words) and a new one related to it but not linearly.

``Rotated`` = normalize(old(x) @ R + 0.4 * other(x)): a fixed rotation of the old space plus word features the
old model does not have, so a projection NEW → OLD can be fitted but is not exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyseek.encoders.base import check_texts, normalize
from polyseek.encoders.deterministic import DeterministicEncoder

DIM = 64


class Rotated:
    """The "new" model of the tests."""

    name = "rotated"
    dim = DIM

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.rotation = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0].astype(np.float32)
        self.old = DeterministicEncoder(DIM)
        self.other = DeterministicEncoder(DIM)
        self.other._bucket = lambda word: (int.from_bytes(word.encode()[:3].ljust(3, b"_"), "little") * 2654435761) % DIM

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return normalize(self.old.encode_documents(texts) @ self.rotation + 0.4 * self.other.encode_documents(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


class Shifted(Rotated):
    """A "new" model on another score scale: every vector leans towards one shared direction (as real models'
    spaces are anisotropic), so its cosines crowd near 1 while the old model's spread from 0 to 1."""

    name = "shifted"

    def __init__(self) -> None:
        super().__init__()
        lean = np.random.default_rng(11).normal(size=DIM)
        self.lean = (lean / np.linalg.norm(lean)).astype(np.float32)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        base = super()._encode(texts)
        return normalize(base + 1.5 * self.lean) if len(base) else base


class Threaded(Rotated):
    """``Rotated`` that can be told its thread count (as the aligner's image runtime can) and records each call's."""

    name = "threaded"
    threads: int | None = None
    calls: list[int | None] = []

    def with_threads(self, threads: int | None) -> Threaded:
        other = Threaded()
        other.threads = threads
        return other

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        Threaded.calls.append(self.threads)
        return super().encode_documents(texts)
