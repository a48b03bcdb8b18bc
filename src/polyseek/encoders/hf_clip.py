"""Transformers CLIP and SigLIP image-text encoders, by hub name or local folder (``hf-clip:<id-or-path>``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from polyseek.encoders.base import encoders
from polyseek.encoders.torch_clip import (  # noqa: F401 - re-exported: tests and open_clip import them from here
    OPTION_KEYS,
    TorchClipEncoder,
    check_batch_size,
    check_template,
    hub_offline,
    load_failure,
    looks_like_path,
    split_options,
)
from polyseek.errors import EncoderError

# model_type in config.json -> transformers class name; detected so one prefix covers both families
SUPPORTED_TYPES = {"clip": "CLIPModel", "siglip": "SiglipModel"}


def features(output: Any) -> Any:
    """transformers 5 returns a ModelOutput from get_*_features (projection in pooler_output); 4.x a tensor."""
    return output if hasattr(output, "detach") else output.pooler_output


# ---- the encoder -------------------------------------------------------------------------------
@encoders.register("hf-clip")
class HFClipEncoder(TorchClipEncoder):
    """A transformers ``CLIPModel`` or ``SiglipModel`` (detected from ``config.json``).

    >>> encoder = HFClipEncoder("openai/clip-vit-base-patch32", query_template="a photo of {}")  # doctest: +SKIP
    >>> encoder.encode_queries(["a dog"]).shape                                                # doctest: +SKIP
    (1, 512)
    """

    def __init__(self, model: str, *, query_template: str | None = None, batch_size: int = 32) -> None:
        super().__init__(model, "hf-clip", query_template=query_template, batch_size=batch_size)
        model = self.model_id = self.model_spec
        source = str(Path(model).expanduser()) if looks_like_path(model) else model
        if looks_like_path(model) and not Path(source).is_dir():
            raise EncoderError(f"hf-clip model folder not found: {source}")

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

    def _text_batch(self, texts: list[str]) -> Any:
        return features(self.model.get_text_features(**self._tokens(texts)))

    def _image_batch(self, images: list[Any]) -> Any:
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        return features(self.model.get_image_features(pixel_values=pixels))
