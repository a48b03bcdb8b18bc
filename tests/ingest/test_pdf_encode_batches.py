"""Passages of a PDF are encoded once each, in batches of similar length, and land on their own chunks."""

from __future__ import annotations

import numpy as np

from polyseek.ingest.base import Chunk
from polyseek.spaces import TEXT_BATCH
from polyseek.types import Locator, Modality


def test_each_distinct_passage_is_encoded_once_in_short_length_ordered_batches(engine_factory):
    engine = engine_factory()
    encoder = engine.spaces.encoder("text")
    calls: list[list[str]] = []
    original = encoder.encode_documents

    def spy(texts):
        calls.append(list(texts))
        return original(texts)

    encoder.encode_documents = spy
    texts = ["a table row 12 | 34", "page text " * 80, "a table row 12 | 34", "Figure 2: revenue by region"]
    texts += [f"paragraph {i} " * (i + 1) for i in range(13)]
    chunks = [Chunk(modality=Modality.REGION, locator=Locator(page=1), text=t) for t in texts]
    vectors = engine.spaces.encode_chunks(chunks)["text"]
    sent = [t for call in calls for t in call]
    assert sorted(sent) == sorted(set(texts))  # every distinct text once: the repeated table row is not re-encoded
    assert all(len(call) <= TEXT_BATCH for call in calls)
    assert all(len(a[-1]) <= len(b[0]) for a, b in zip(calls, calls[1:]))  # shortest first: little padding
    for text, vector in zip(texts, vectors):  # and each chunk gets the vector of its own text
        assert vector is not None
        np.testing.assert_allclose(vector, original([text])[0], atol=1e-6)
