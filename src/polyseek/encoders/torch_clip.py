"""What the two torch image-text adapters (``hf-clip``, ``open-clip``) share: model specs with options,
load-failure messages that tell offline from online, and the batched encode loops.

A subclass loads its model and says how to embed one batch of texts and one batch of images
(``_text_batch``, ``_image_batch``, each returning a float tensor); the base does the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import batched, check_images, check_texts, normalize
from polyseek.errors import EncoderError, InvalidInputError

OPTION_KEYS = ("template", "batch_size")


def split_options(spec: str, prefix: str) -> tuple[str, dict[str, str]]:
    """Split ``model?template=a photo of {}&batch_size=16`` into the model and its options.

    >>> split_options("openai/clip-vit-base-patch32?template=a photo of {}", "hf-clip")
    ('openai/clip-vit-base-patch32', {'template': 'a photo of {}'})
    """
    model, _, query = spec.partition("?")
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if not sep or key not in OPTION_KEYS:
            raise InvalidInputError(
                f"unknown {prefix} option {part!r} in {spec!r}",
                hint="accepted: " + ", ".join(f"{k}=..." for k in OPTION_KEYS) + ", joined by '&' after '?'",
            )
        options[key] = value
    if not model.strip():
        raise InvalidInputError(f"{prefix} needs a model: '{prefix}:<name-or-folder>'")
    return model.strip(), options


def check_template(template: str | None) -> str | None:
    """A query template must hold one ``{}`` where the query text goes (``"a photo of {}"``)."""
    if template is None or template == "":
        return None
    if not isinstance(template, str) or template.count("{}") != 1:
        raise InvalidInputError(f"query template {template!r} must contain '{{}}' exactly once",
                                hint="e.g. 'a photo of {}'")
    return template


def check_batch_size(value: int | str) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {value!r}")
    return size


def hub_offline() -> bool:
    """True when the Hugging Face libraries are told not to reach the hub (the same test they apply)."""
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def load_failure(kind: str, model: str, exc: BaseException) -> EncoderError:
    """An EncoderError that says why a named model could not be loaded, offline or not."""
    if looks_like_path(model):
        return EncoderError(f"cannot load {kind} model from folder {model!r}: {exc}")
    if hub_offline():
        names = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
                 if os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}]
        return EncoderError(
            f"cannot load {kind} model {model!r}: {names[0]} is set and the model is not in the local Hugging Face cache",
            hint=f"run once online with {' and '.join(names)} unset to download it, or pass a local folder",
        )
    return EncoderError(
        f"cannot load {kind} model {model!r}: {exc}",
        hint="check the name and the network, or pass a local folder that holds the model",
    )


class TorchClipEncoder:
    """Batched, normalised text and image embeddings from a torch model, under ``inference_mode``."""

    name: str
    dim: int
    batch_size: int
    query_template: str | None

    def __init__(self, model: str, prefix: str, *, query_template: str | None, batch_size: int) -> None:
        import torch

        self._torch = torch
        self.model_spec, options = split_options(model, prefix)
        self.query_template = check_template(options.get("template", query_template))
        self.batch_size = check_batch_size(options.get("batch_size", batch_size))
        self.name = f"{prefix}:{self.model_spec}"

    def _text_batch(self, texts: list[str]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _image_batch(self, images: list[Any]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _encode(self, values: list[Any], batch: Any) -> np.ndarray:
        if not values:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        with self._torch.inference_mode():
            rows = [batch(list(chunk)).float().numpy() for chunk in batched(values, self.batch_size)]
        return normalize(np.concatenate(rows))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if self.query_template:
            texts = [self.query_template.replace("{}", t) for t in texts]
        return self._encode(texts, self._text_batch)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts), self._text_batch)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self._encode(check_images(images), self._image_batch)
