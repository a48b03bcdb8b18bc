"""Encoder protocols and shared helpers: asymmetric query/document encoding, L2-normalised float32."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from polyseek.errors import EncoderError, InvalidInputError
from polyseek.registry import Registry


@runtime_checkable
class TextEncoder(Protocol):
    """Encodes text. ``name`` is what the index records; ``dim`` the vector size."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class ImageTextEncoder(TextEncoder, Protocol):
    """Encodes text and images into one space."""

    def encode_images(self, images: Sequence[Any]) -> np.ndarray: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows to float32; refuses NaN/inf so nothing bad reaches a store."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if not np.isfinite(vectors).all():
        raise EncoderError("encoder produced NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InvalidInputError("expected a list of strings, got one string", hint="wrap it in a list")
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise InvalidInputError(f"expected a list of strings, got {type(texts).__name__}")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise InvalidInputError(f"expected text (str), got {type(text).__name__}")
    from polyseek.ingest.clean import clean_text  # surrogates and control characters never reach a tokenizer

    return [clean_text(text) for text in out]


def check_images(images: Sequence[Any]) -> list[Any]:
    """The images as RGB PIL images; anything else is refused (load files with ``polyseek.inputs.load_image``)."""
    from PIL import Image

    if isinstance(images, Image.Image):
        raise InvalidInputError("expected a list of images, got one image", hint="wrap it in a list")
    if isinstance(images, (str, bytes, bytearray)) or not isinstance(images, Iterable):
        raise InvalidInputError(f"expected a list of PIL images, got {type(images).__name__}")
    out = []
    for image in images:
        if not isinstance(image, Image.Image):
            raise InvalidInputError(
                f"expected a PIL image, got {type(image).__name__}",
                hint="load paths or bytes with polyseek.inputs.load_image first",
            )
        out.append(image if image.mode == "RGB" else image.convert("RGB"))
    return out


def batched(seq: Sequence[Any], size: int):
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


encoders: Registry[TextEncoder] = Registry(
    "encoder",
    lazy={
        "bge-small-onnx": "polyseek.encoders.bge_onnx",
        "minilm": "polyseek.encoders.sentence_transformers",
        "sentence-transformers": "polyseek.encoders.sentence_transformers",
        "aligner": "polyseek.encoders.aligner",
        "hf-clip": "polyseek.encoders.hf_clip",
        "open-clip": "polyseek.encoders.open_clip",
        "deterministic": "polyseek.encoders.deterministic",
        "e5-multilingual": "polyseek.encoders.multilingual",
        "e5-multilingual-bge": "polyseek.encoders.multilingual",
        "multilingual": "polyseek.encoders.multilingual",
        "multilingual-dense": "polyseek.encoders.multilingual",
        "multilingual-gloss": "polyseek.encoders.multilingual",
        "multilingual-e5": "polyseek.encoders.multilingual",
        "use-e5-multilingual-bge": "polyseek.encoders.multilingual",
        "use-multilingual": "polyseek.encoders.use",
    },
)


def load_encoder(spec: str) -> TextEncoder:
    """Load an encoder from ``name`` or ``name:argument`` (e.g. ``sentence-transformers:/path/model``,
    ``hf-clip:openai/clip-vit-base-patch32``, ``open-clip:ViT-B-32/laion2b_s34b_b79k``).

    A dotted path ``package.module:Class`` also works.
    """
    name, _, arg = spec.partition(":")
    if "." in name and arg and arg[:1].isidentifier():  # dotted escape hatch
        return encoders.get(spec)()
    factory = encoders.get(name)
    return factory(arg) if arg else factory()
