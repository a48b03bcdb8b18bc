"""Dictionary glosses (``polyseek.encoders.gloss``: jieba + CC-CEDICT, de2en's word2word lexicon) and the
``multilingual`` query encoder that mixes them with the projected USE ⊕ e5 query."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.encoders.base import load_encoder
from tests.encoders.test_multilingual import CHINESE, ENGLISH, GERMAN


def test_chinese_gloss_keeps_content_words_in_english():
    from polyseek.encoders.gloss import chinese

    glosser = chinese()
    assert glosser.gloss("一只狗在草地上奔跑").split()[:1] == ["dog"]  # 一只 (a, measure word) and 在 (at) dropped
    assert "bicycle" in glosser.gloss(CHINESE[1]) and "swimming pool" in glosser.gloss(CHINESE[2])
    assert glosser.gloss("。，") == ""  # nothing to gloss


def test_german_gloss_drops_function_words_and_splits_compounds():
    from polyseek.encoders.gloss import german

    glosser = german()
    assert glosser.gloss(GERMAN[0]).split()[0] == "dog"  # "Ein" dropped
    assert glosser.gloss("ein hund") == glosser.gloss("Ein Hund")  # lower-case nouns found too
    assert "bike" in glosser.gloss(GERMAN[1]) or "bicycle" in glosser.gloss(GERMAN[1])
    assert glosser.lookup("Hundestrandwiese") is None  # not a lexicon word ...
    assert glosser.split("Hundestrandwiese") == ["dogs", "beach", "meadow"]  # ... but three words joined (Fugen-e)
    assert glosser.gloss("Eine Hundestrandwiese") == "dogs beach meadow"
    assert glosser.split("Xqzvbnmwrtp") == []


def test_multilingual_loads_offline_and_a_chinese_dog_lands_on_the_dog_caption(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder("multilingual")
    captions = encoder.encode_documents(["a dog runs on the grass", "a cat sleeps on a sofa"])
    for query in ("草地上的一只小狗", "Ein kleiner Hund auf dem Rasen"):
        dog, cat = (encoder.encode_queries([query]) @ captions.T)[0]
        assert dog > cat + 0.05, (query, dog, cat)
    scores = encoder.encode_queries(CHINESE + GERMAN) @ encoder.encode_documents(ENGLISH).T
    assert list(scores.argmax(axis=1)) == list(range(len(ENGLISH))) * 2


def test_english_queries_are_bit_identical_to_the_dense_encoder_and_foreign_ones_are_glossed():
    glossed, dense = load_encoder("multilingual"), load_encoder("multilingual-dense")
    assert np.array_equal(glossed.encode_queries(ENGLISH), dense.encode_queries(ENGLISH))
    batch = [ENGLISH[0], CHINESE[0], GERMAN[0]]
    mixed, plain = glossed.encode_queries(batch), dense.encode_queries(batch)  # glosses are per query within one batch
    assert np.array_equal(mixed[0], plain[0])
    for row, query in ((1, CHINESE[0]), (2, GERMAN[0])):
        assert float(mixed[row] @ plain[row]) < 0.995  # the gloss moved it (zh 0.93, de 0.99 at their weights)
        # as alone, up to bge's batching of the glosses (a cosine of 0.9987 here)
        assert float(mixed[row] @ glossed.encode_queries([query])[0]) > 0.995
    assert glossed.encode_queries([]).shape == (0, 384)
    assert glossed.projection.config.target == "bge-small-onnx"  # what `polyseek upgrade --query-encoder` reads


@pytest.mark.parametrize("text, nearest, language", [("一只狗", "ja", "zh"), ("犬が走る", "zh", "zh"), ("いぬ", "ja", "ja"),
                                                     ("ein Hund", "de", "de")])
def test_query_language_trusts_han_script_for_chinese(text, nearest, language):
    from polyseek.encoders.multilingual import query_language

    assert query_language(text, nearest) == language


def test_the_encoder_keeps_the_english_gloss_of_a_foreign_query_for_the_reranker():
    encoder = load_encoder("multilingual")
    encoder.encode_queries(["Hafen Leuchtturm", "a lighthouse by the harbour", "灯塔"])
    assert encoder.english_gloss("Hafen Leuchtturm") == "port lighthouse"
    assert encoder.english_gloss("灯塔") and "lighthouse" in encoder.english_gloss("灯塔")
    assert encoder.english_gloss("a lighthouse by the harbour") is None  # English is read as it is
    assert encoder.english_gloss("never encoded") is None
