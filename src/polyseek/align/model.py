"""The aligner's image tower: standardised pooled features -> projector, fused with the label bridge, unit vectors."""

from __future__ import annotations

import numpy as np

from polyseek.align.bridge import bridge_vectors
from polyseek.align.modeldir import AlignerConfig
from polyseek.encoders.base import normalize
from polyseek.errors import EncoderError


def build_projector(in_dim: int, out_dim: int, hidden: int = 0, dropout: float = 0.1):
    """A linear map, plus (hidden > 0) a one-hidden-layer GELU branch added to it: small, hard to overfit."""
    import torch.nn as nn

    class Projector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(in_dim, out_dim)
            self.mlp = (
                nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
                if hidden else None
            )

        def forward(self, x):
            y = self.linear(x)
            return y + self.mlp(x) if self.mlp is not None else y

    return Projector()


def feature_stats(features: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Per-dimension mean and std of each pooled block (stored in the model dir, applied at inference)."""
    stats = {}
    for name in names:
        block = np.asarray(features[name], dtype=np.float64)
        stats[f"norm.{name}.mean"] = block.mean(0).astype(np.float32)
        stats[f"norm.{name}.std"] = (block.std(0) + 1e-3).astype(np.float32)
    return stats


def assemble(features: dict[str, np.ndarray], names: list[str], stats: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate standardised blocks, each scaled by 1/sqrt(blocks) so adding a block keeps the input's scale."""
    missing = [n for n in names if n not in features]
    if missing:
        raise EncoderError(f"features {missing} were not extracted")
    scale = 1.0 / np.sqrt(len(names))
    blocks = [(features[n] - stats[f"norm.{n}.mean"]) / stats[f"norm.{n}.std"] * scale for n in names]
    return np.concatenate(blocks, axis=1).astype(np.float32)


class ImageTower:
    """Turns pooled backbone features into unit vectors in the text encoder's space."""

    def __init__(self, config: AlignerConfig, tensors: dict[str, np.ndarray]) -> None:
        self.config = config
        self.tensors = tensors
        self.projector = None
        self.linear = None
        if config.use_projector and not config.hidden:  # a linear projector is one matmul: no torch needed
            self.linear = (tensors["projector.linear.weight"].T.copy(), tensors["projector.linear.bias"])
        elif config.use_projector:
            import torch

            in_dim = tensors["projector.linear.weight"].shape[1]
            self.projector = build_projector(in_dim, config.dim, config.hidden)
            state = {k.removeprefix("projector."): torch.from_numpy(v) for k, v in tensors.items() if k.startswith("projector.")}
            self.projector.load_state_dict(state)
            self.projector.eval()
        if config.use_bridge and "bridge.labels" not in tensors:
            raise EncoderError("aligner config asks for the label bridge but weights have no 'bridge.labels'")

    def required_pools(self) -> list[str]:
        pools = list(self.config.features) if self.config.use_projector else []
        if self.config.use_bridge and "logits" not in pools:
            pools.append("logits")
        return pools

    def projector_vectors(self, features: dict[str, np.ndarray]) -> np.ndarray:
        x = assemble(features, list(self.config.features), self.tensors)
        if self.linear is not None:
            return normalize(x @ self.linear[0] + self.linear[1])
        import torch

        if self.projector is None:
            raise EncoderError("this aligner model has neither linear weights nor a projector network")
        with torch.inference_mode():
            return normalize(self.projector(torch.from_numpy(x)).numpy())

    def bridge_vectors(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return bridge_vectors(features["logits"], self.tensors["bridge.labels"], self.config.bridge_temperature)

    def vectors(self, features: dict[str, np.ndarray]) -> np.ndarray:
        cfg = self.config
        if cfg.use_projector and cfg.use_bridge:
            w = cfg.bridge_weight
            return normalize((1 - w) * self.projector_vectors(features) + w * self.bridge_vectors(features))
        if cfg.use_projector:
            return self.projector_vectors(features)
        return self.bridge_vectors(features)
