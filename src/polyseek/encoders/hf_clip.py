"""Transformers CLIP and SigLIP image-text encoders, by hub name or local folder (``hf-clip:<id-or-path>``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import batched, check_images, check_texts, encoders, normalize
from polyseek.errors import EncoderError, InvalidInputError

# model_type in config.json -> transformers class name; detected so one prefix covers both families
SUPPORTED_TYPES = {"clip": "CLIPModel", "siglip": "SiglipModel"}
OPTION_KEYS = ("template", "batch_size")


# ---- helpers shared with open_clip.py ------------------------------------------------------------
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


def features(output: Any) -> Any:
    """transformers 5 returns a ModelOutput from get_*_features (projection in pooler_output); 4.x a tensor."""
    return output if hasattr(output, "detach") else output.pooler_output


# ---- the encoder -------------------------------------------------------------------------------
@encoders.register("hf-clip")
class HFClipEncoder:
    """A transformers ``CLIPModel`` or ``SiglipModel`` (detected from ``config.json``).

    >>> encoder = HFClipEncoder("openai/clip-vit-base-patch32", query_template="a photo of {}")  # doctest: +SKIP
    >>> encoder.encode_queries(["a dog"]).shape                                                # doctest: +SKIP
    (1, 512)
    """

    def __init__(self, model: str, *, query_template: str | None = None, batch_size: int = 32) -> None:
        model, options = split_options(model, "hf-clip")
        self.query_template = check_template(options.get("template", query_template))
        self.batch_size = check_batch_size(options.get("batch_size", batch_size))
        self.model_id = model
        self.name = f"hf-clip:{model}"
        source = str(Path(model).expanduser()) if looks_like_path(model) else model
        if looks_like_path(model) and not Path(source).is_dir():
            raise EncoderError(f"hf-clip model folder not found: {source}")

        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, CLIPModel, SiglipModel

        try:
            config = AutoConfig.from_pretrained(source)
        except Exception as exc:  # noqa: BLE001 - hub, OS and JSON errors all mean "cannot load"
            raise load_failure("hf-clip", model, exc) from exc
        self.model_type = getattr(config, "model_type", "")
        if self.model_type not in SUPPORTED_TYPES:
            raise EncoderError(
                f"hf-clip model {model!r} has model_type {self.model_type!r}",
                hint="supported: " + ", ".join(f"{t} ({c})" for t, c in SUPPORTED_TYPES.items()),
            )
        model_class = CLIPModel if self.model_type == "clip" else SiglipModel
        try:
            self.model = model_class.from_pretrained(source, config=config).float().eval()
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.processor = AutoImageProcessor.from_pretrained(source)
        except Exception as exc:  # noqa: BLE001
            raise load_failure("hf-clip", model, exc) from exc
        self._torch = torch
        # fast tokenizers are one shared Rust object that refuses concurrent use ("Already borrowed",
        # transformers#47085); the engine may encode from several threads at once
        self._tokenizer_lock = threading.Lock()
        text_config = config.text_config
        self.max_length = int(getattr(text_config, "max_position_embeddings", 77))
        if self.model_type == "clip":
            self.dim = int(config.projection_dim)
        else:  # SigLIP has no shared projection: its text head maps to projection_size (= hidden size)
            self.dim = int(getattr(text_config, "projection_size", None) or text_config.hidden_size)

    # SigLIP was trained on text padded to max_length with no padding mask (pads attend) and pools the last
    # position, so it gets exactly that: input_ids only, even though transformers' tokenizer offers a mask
    def _tokens(self, texts: list[str]) -> dict[str, Any]:
        siglip = self.model_type == "siglip"
        with self._tokenizer_lock:
            batch = self.tokenizer(texts, padding="max_length" if siglip else True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
        if siglip:
            return {"input_ids": batch["input_ids"]}
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with self._torch.inference_mode():
            for chunk in batched(texts, self.batch_size):
                rows.append(features(self.model.get_text_features(**self._tokens(list(chunk)))).float().numpy())
        return normalize(np.concatenate(rows))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if self.query_template:
            texts = [self.query_template.replace("{}", t) for t in texts]
        return self._encode_texts(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_texts(check_texts(texts))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        images = check_images(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with self._torch.inference_mode():
            for chunk in batched(images, self.batch_size):
                pixels = self.processor(images=list(chunk), return_tensors="pt")["pixel_values"]
                rows.append(features(self.model.get_image_features(pixel_values=pixels)).float().numpy())
        return normalize(np.concatenate(rows))
