"""The contract every encoder must meet (shapes, float32, unit norm, determinism, batching, empty and bad input).

One helper, so a new encoder's test is one line: ``from tests.encoders.encoder_contract import assert_encoder_contract``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polyseek.errors import InvalidInputError


def sample_images() -> list[Image.Image]:
    """Three distinct small images in different sizes and modes (RGB, L, RGBA)."""
    gradient = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))
    checker = ((np.indices((30, 30)).sum(0) // 5) % 2 * 255).astype(np.uint8)
    return [
        Image.new("RGB", (64, 48), (220, 20, 20)),
        Image.fromarray(gradient, "L"),
        Image.fromarray(np.dstack([checker, 255 - checker, checker, np.full_like(checker, 255)]), "RGBA"),
    ]


def assert_encoder_contract(encoder, *, images: bool) -> None:
    """Checks every encoder must pass: shapes, float32, unit norm, determinism, batching, empty input, bad input."""
    assert isinstance(encoder.name, str) and encoder.name
    assert isinstance(encoder.dim, int) and encoder.dim > 0
    texts = ["a dog running on grass", "a red car", "revenue went up in the third quarter", ""]
    methods = [encoder.encode_queries, encoder.encode_documents]
    for encode in methods:
        vectors = encode(texts)
        _assert_unit_rows(vectors, len(texts), encoder.dim)
        assert np.array_equal(vectors, encode(texts)), "same input, same output"
        alone = np.concatenate([encode([t]) for t in texts])
        np.testing.assert_allclose(vectors, alone, atol=1e-4, err_msg="a text's vector depends on its batch")
        assert not np.allclose(vectors[0], vectors[1]), "different texts, identical vectors"
        empty = encode([])
        assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32
        for bad in ("one string", None, 42, [b"bytes"], ["ok", 3]):
            with pytest.raises(InvalidInputError):
                encode(bad)
    if hasattr(encoder, "batch_size"):  # several batches must come back in order
        saved, encoder.batch_size = encoder.batch_size, 1
        try:
            np.testing.assert_allclose(encoder.encode_documents(texts), methods[1](texts), atol=1e-4)
        finally:
            encoder.batch_size = saved
    if not images:
        return
    pictures = sample_images()
    vectors = encoder.encode_images(pictures)
    _assert_unit_rows(vectors, len(pictures), encoder.dim)
    assert np.array_equal(vectors, encoder.encode_images(pictures))
    alone = np.concatenate([encoder.encode_images([p]) for p in pictures])
    np.testing.assert_allclose(vectors, alone, atol=1e-4, err_msg="an image's vector depends on its batch")
    assert not np.allclose(vectors[0], vectors[1]), "different images, identical vectors"
    empty = encoder.encode_images([])
    assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32
    for bad in (pictures[0], "photo.jpg", None, ["photo.jpg"], [b"\x89PNG"], [pictures[0], 7]):
        with pytest.raises(InvalidInputError):
            encoder.encode_images(bad)


def _assert_unit_rows(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
