"""bge-small batches passages by token count (each batch padded only to its own longest text) and encodes them on a
session whose idle threads sleep; a query alone is encoded exactly as before."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.encoders.bge_onnx import CALL_COST, QUADRATIC_TOKENS, BgeSmallOnnx, length_batches
from polyseek.encoders.onnx_text import bert_inputs


def cost(lengths: list[int], batches: list[slice]) -> float:
    return sum(CALL_COST + (b.stop - b.start) * (lengths[b.stop - 1] + lengths[b.stop - 1] ** 2 / QUADRATIC_TOKENS)
               for b in batches)


@pytest.mark.parametrize("lengths,most", [([], 8), ([12], 8), ([5, 6, 7, 100, 120, 130, 250, 256, 256], 64),
                                          ([256] * 10, 4), ([9] * 100, 64), (list(range(1, 300, 7)), 8)])
def test_length_batches_cover_every_text_once_in_order_and_cost_least(lengths: list[int], most: int):
    batches = length_batches(lengths, most)
    covered = [i for b in batches for i in range(b.start, b.stop)]
    assert covered == list(range(len(lengths)))
    assert all(0 < b.stop - b.start <= most for b in batches)
    # no worse than the fixed batches of `most` the encoder used before, nor than one text per call
    fixed = [slice(s, min(s + most, len(lengths))) for s in range(0, len(lengths), most)]
    singles = [slice(i, i + 1) for i in range(len(lengths))]
    assert cost(lengths, batches) <= min(cost(lengths, fixed), cost(lengths, singles)) + 1e-9


def test_short_texts_are_not_padded_to_a_long_ones_length():
    assert length_batches([10, 12, 250, 256], 64) == [slice(0, 2), slice(2, 4)]


@pytest.fixture(scope="module")
def bge() -> BgeSmallOnnx:
    return BgeSmallOnnx()


def test_a_query_alone_is_encoded_as_one_unpadded_call(bge: BgeSmallOnnx):
    text = "a dog running on grass"
    hidden = bge.session.run(None, bert_inputs(bge.tokenizer, ["Represent this sentence for searching relevant passages: " + text]))[0]
    expected = hidden[:, 0, :] / np.linalg.norm(hidden[:, 0, :], axis=1, keepdims=True)
    assert np.array_equal(bge.encode_queries([text]), expected.astype(np.float32))


def test_passages_of_mixed_lengths_come_back_in_order_and_near_their_own_encoding(bge: BgeSmallOnnx):
    texts = ["Revenue rose.", "Cash flow statement " * 60, "The ferry leaves the harbour at seven.", "Net income " * 25, ""]
    together = bge.encode_documents(texts)
    alone = np.concatenate([bge.encode_documents([t]) for t in texts])
    assert together.shape == (5, 384) and np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # the INT8 model quantises each batch as a whole, so a text's vector moves slightly with its batch-mates
    assert ((together * alone).sum(axis=1) > 0.99).all()
    assert bge.document_session is not bge.session and bge.document_session is bge.document_session
