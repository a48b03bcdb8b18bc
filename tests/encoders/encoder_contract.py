"""The contract every encoder must meet (shapes, float32, unit norm, determinism, batching, empty and bad input).

One helper, so a new encoder's test is one line:
``from tests.encoders.encoder_contract import assert_encoder_contract``.
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


def assert_encoder_contract(encoder, *, images: bool, batch_min_cosine: float | None = None) -> None:
    """Checks every encoder must pass: shapes, float32, unit norm, determinism, batching, empty input, bad input.

    A row's vector must not depend on the other rows in its batch (atol 1e-4). ``batch_min_cosine`` loosens that to
    a cosine bound, for models whose arithmetic does depend on the batch (dynamic INT8 quantisation scales each
    activation tensor by the whole batch's range); say why wherever it is used.
    """
    assert isinstance(encoder.name, str) and encoder.name
    assert isinstance(encoder.dim, int) and encoder.dim > 0
    texts = ["a dog running on grass", "a red car", "revenue went up in the third quarter", ""]
    methods = [encoder.encode_queries, encoder.encode_documents]
    for encode in methods:
        vectors = encode(texts)
        _assert_unit_rows(vectors, len(texts), encoder.dim)
        assert np.array_equal(vectors, encode(texts)), "same input, same output"
        _assert_batch_independent(vectors, np.concatenate([encode([t]) for t in texts]), batch_min_cosine)
        assert not np.allclose(vectors[0], vectors[1]), "different texts, identical vectors"
        empty = encode([])
        assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32
        for bad in ("one string", None, 42, [b"bytes"], ["ok", 3]):
            with pytest.raises(InvalidInputError):
                encode(bad)
    if hasattr(encoder, "batch_size"):  # several batches must come back complete and in order
        one_batch = encoder.encode_documents(texts)
        saved, encoder.batch_size = encoder.batch_size, 1
        try:
            _assert_batch_independent(one_batch, encoder.encode_documents(texts), batch_min_cosine)
        finally:
            encoder.batch_size = saved
    if not images:
        return
    pictures = sample_images()
    vectors = encoder.encode_images(pictures)
    _assert_unit_rows(vectors, len(pictures), encoder.dim)
    assert np.array_equal(vectors, encoder.encode_images(pictures))
    _assert_batch_independent(vectors, np.concatenate([encoder.encode_images([p]) for p in pictures]), None)
    assert not np.allclose(vectors[0], vectors[1]), "different images, identical vectors"
    empty = encoder.encode_images([])
    assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32
    for bad in (pictures[0], "photo.jpg", None, ["photo.jpg"], [b"\x89PNG"], [pictures[0], 7]):
        with pytest.raises(InvalidInputError):
            encoder.encode_images(bad)


def _assert_batch_independent(batched: np.ndarray, alone: np.ndarray, min_cosine: float | None) -> None:
    if min_cosine is None:
        np.testing.assert_allclose(batched, alone, atol=1e-4, err_msg="a vector depends on its batch")
    else:
        cosines = (batched * alone).sum(axis=1)
        assert (cosines >= min_cosine).all(), f"batched vs alone cosines {cosines} below {min_cosine}"


def _assert_unit_rows(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
