"""The aligner's self-describing model directory: config.json, weights.safetensors, labels.txt, data.json, metrics.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import EncoderError

FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
LABELS = "labels.txt"
DATA = "data.json"
METRICS = "metrics.json"


@dataclass
class AlignerConfig:
    """Everything needed to rebuild the image side; the text side is the named text encoder, unchanged."""

    backbone: str = "lite0"
    text_encoder: str = "bge-small-onnx"
    dim: int = 384
    features: list[str] = field(default_factory=lambda: ["mean", "logits"])
    hidden: int = 0  # 0: linear projector; else one hidden GELU layer of this width beside a linear skip
    flip_average: bool = False  # encode the mirror image too and average the features (2x the backbone cost)
    use_projector: bool = True
    use_bridge: bool = True
    bridge_weight: float = 0.3  # image vector = normalize((1-w) * projector + w * bridge), both unit vectors
    bridge_temperature: float = 1.0  # class probabilities = softmax(logits / t)
    label_template: str = "a photo of a {}."
    preprocessing: str = "squash"  # whole image resized to the backbone's side, (x-127)/128
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AlignerConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def save_model_dir(path: str | Path, config: AlignerConfig, tensors: dict[str, np.ndarray], labels: list[str],
                   data: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """Write a model directory; weights are stored as float16 except small statistics (kept float32)."""
    from safetensors.numpy import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    stored = {}
    for name, value in tensors.items():
        value = np.ascontiguousarray(value)
        stored[name] = value.astype(np.float16) if value.ndim == 2 and value.size > 4096 else value.astype(np.float32)
    save_file(stored, str(folder / WEIGHTS), metadata={"format": "polyseek-aligner", "format_version": str(FORMAT_VERSION)})
    (folder / CONFIG).write_text(json.dumps(asdict(config), indent=2) + "\n")
    (folder / LABELS).write_text("\n".join(labels) + "\n")
    (folder / DATA).write_text(json.dumps(data, indent=2) + "\n")
    (folder / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return folder


def load_model_dir(path: str | Path) -> tuple[AlignerConfig, dict[str, np.ndarray], list[str]]:
    """Read a model directory written by :func:`save_model_dir`; weights come back as float32."""
    from safetensors.numpy import load_file

    folder = Path(path)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise EncoderError(f"{folder} is not an aligner model directory (needs {CONFIG} and {WEIGHTS})",
                           hint="train one with: polyseek align --pairs DIR --output DIR")
    values = json.loads((folder / CONFIG).read_text())
    if values.get("format_version", 1) > FORMAT_VERSION:
        raise EncoderError(f"aligner at {folder} has format {values['format_version']}, newer than this polyseek",
                           hint="upgrade polyseek")
    config = AlignerConfig.from_dict(values)
    tensors = {k: v.astype(np.float32) for k, v in load_file(str(folder / WEIGHTS)).items()}
    labels = (folder / LABELS).read_text().splitlines() if (folder / LABELS).exists() else []
    return config, tensors, labels
