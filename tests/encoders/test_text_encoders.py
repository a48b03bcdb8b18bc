"""Text encoders: a sentence-transformers folder (a tiny one built here), and the shipped minilm and bge-small-onnx."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.encoders import load_encoder
from polyseek.errors import EncoderError
from tests.encoders.encoder_contract import assert_encoder_contract


def test_sentence_transformers_folder(tiny_sentence_transformer_dir):
    from sentence_transformers import SentenceTransformer

    encoder = load_encoder(f"sentence-transformers:{tiny_sentence_transformer_dir}")
    assert encoder.name == f"sentence-transformers:{tiny_sentence_transformer_dir}" and encoder.dim == 32
    assert_encoder_contract(encoder, images=False)
    texts = ["a photo of a dog", "quarterly revenue chart"]
    reference = SentenceTransformer(str(tiny_sentence_transformer_dir), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encoder.encode_documents(texts), reference, atol=1e-5)


def test_sentence_transformers_name_offline_is_refused(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="HF_HUB_OFFLINE"):
        load_encoder("sentence-transformers:polyseek-tests/no-such-model")


def test_deterministic_plumbing_encoder_meets_the_contract():
    assert_encoder_contract(load_encoder("deterministic:32"), images=True)


PARAPHRASES = [
    ("A man is playing a guitar on stage.", "Someone performs music with a guitar at a concert.",
     "The quarterly tax report is due next week."),
    ("How do I reset my password?", "I forgot my password and need to change it.",
     "Bananas are rich in potassium."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch.", "Interest rates rose by half a percent."),
]


@pytest.mark.slow  # loads the real shipped models
@pytest.mark.parametrize("name", ["minilm", "bge-small-onnx"])
def test_shipped_text_models(name):
    encoder = load_encoder(name)
    assert encoder.dim == 384
    # the bge ONNX file quantises activations dynamically (DynamicQuantizeLinear: one scale per tensor, over the
    # whole batch), so a text's vector shifts with its batch neighbours: measured cosine batched vs alone
    # 0.996-0.997 for these texts, 0.961 for the empty query (the instruction prefix alone)
    assert_encoder_contract(encoder, images=False, batch_min_cosine=0.95 if name == "bge-small-onnx" else None)
    for anchor, paraphrase, unrelated in PARAPHRASES:
        query = encoder.encode_queries([anchor])[0]
        documents = encoder.encode_documents([paraphrase, unrelated])
        related_score, unrelated_score = documents @ query
        assert related_score > unrelated_score + 0.1, (anchor, related_score, unrelated_score)
