"""A tiny deterministic encoder for plumbing tests: hashed words for text, colour statistics for images.

It carries no meaning beyond word overlap and colour, so it is never used for a quality claim.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from polyseek.encoders.base import check_images, check_texts, encoders, normalize

_WORD = re.compile(r"[a-z0-9]+")


@encoders.register("deterministic")
class DeterministicEncoder:
    """Hashes words into buckets (text) and maps mean RGB into the colour-word buckets (images)."""

    def __init__(self, dim: int | str = 64) -> None:
        self.dim = int(dim)
        self.name = f"deterministic:{self.dim}"

    def _bucket(self, word: str) -> int:
        return int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self.dim

    def _text(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            vec[self._bucket(word)] += 1.0
        if not vec.any():
            vec[0] = 1e-3
        return vec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        return normalize(np.stack([self._text(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    encode_documents = encode_queries

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        rows = []
        for image in check_images(images):
            rgb = np.asarray(image.convert("RGB").resize((16, 16)), dtype=np.float32).reshape(-1, 3).mean(0)
            vec = np.full(self.dim, 1e-3, dtype=np.float32)
            for word, weight in zip(("red", "green", "blue"), rgb / 255.0):
                vec[self._bucket(word)] += float(weight)
            rows.append(vec)
        return normalize(np.stack(rows)) if rows else np.zeros((0, self.dim), np.float32)
