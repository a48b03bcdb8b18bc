"""The default offline image-text encoder: a frozen EfficientNet-Lite projected into a frozen text encoder's space.

``aligner`` loads the model directory shipped in the package (``polyseek/models/aligner-default``);
``aligner:/path/to/model-dir`` loads one trained with ``polyseek align``. Text goes through the text encoder named in
the model's config unchanged, so the engine can reuse its text vectors (``text_encoder_name``).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import check_texts, encoders, load_encoder, normalize
from polyseek.errors import InvalidInputError

DEFAULT_NAME = "aligner"
# images per forward pass on a one-thread runtime session (a backfill beside searches): small passes keep the
# activations in cache (lite2 at 260 px, one thread: ~24 ms of CPU per photo at 1-2 a pass, ~26 at 16); outputs are
# bit-identical whatever the pass size, so indexing (32 a pass) and a backfill give the same vectors
ONE_THREAD_CHUNK = 2
_text_lock = threading.Lock()
_text_encoders: dict[str, Any] = {}


def default_model_dir() -> Path:
    return Path(str(resources.files("polyseek").joinpath("models", "aligner-default")))


def model_revision(path: Path) -> str:
    """A short digest of a model directory's weights and config: it changes whenever the vectors would."""
    digest = hashlib.sha256()
    for name in ("config.json", "weights.safetensors"):
        file = path / name
        digest.update(name.encode())
        digest.update(file.read_bytes() if file.is_file() else b"")
    return digest.hexdigest()[:16]


@lru_cache(maxsize=4)
def _load_tower(path: str, revision: str):  # keyed by revision too: retrained weights in place are reloaded
    from polyseek.align.model import ImageTower
    from polyseek.align.modeldir import load_model_dir

    config, tensors, _labels = load_model_dir(path)
    return ImageTower(config, tensors)


def _text_encoder(name: str):
    """One text encoder per name and process, shared by every aligner instance."""
    with _text_lock:
        if name not in _text_encoders:
            _text_encoders[name] = load_encoder(name)
        return _text_encoders[name]


class AlignerEncoder:
    """Images: backbone features -> projector (+ label bridge) -> unit vectors; text: the model's text encoder."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        path = Path(model_dir).expanduser().resolve() if model_dir else default_model_dir()
        self.model_dir = path
        self.name = f"aligner:{model_dir}" if model_dir else DEFAULT_NAME
        # recorded in the index beside the name: new weights under the same name must not mix with old vectors
        self.revision = model_revision(path)
        self.tower = _load_tower(str(path), self.revision)
        self.config = self.tower.config
        self.dim = int(self.config.dim)
        self.text_encoder_name = self.config.text_encoder
        self.threads: int | None = None  # the image runtime's intra-op threads (None: POLYSEEK_THREADS or up to 4)

    def with_threads(self, threads: int | None) -> AlignerEncoder:
        """The same model whose image forward passes run on a runtime session of ``threads`` intra-op threads (a
        background job on one core, beside searches on the others); vectors are identical."""
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be at least 1, got {threads}")
        other = copy.copy(self)
        other.threads = threads
        return other

    @property
    def text_encoder(self):
        return _text_encoder(self.text_encoder_name)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.text_encoder.encode_queries(check_texts(texts))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.text_encoder.encode_documents(check_texts(texts))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """Unit float32 vectors (N, dim) for PIL images; mirrored features are averaged in when the model asks."""
        from PIL import Image

        from polyseek.align.features import extract

        if images is None or isinstance(images, (str, bytes, Image.Image)) or not hasattr(images, "__iter__"):
            raise InvalidInputError(f"encode_images takes a list of PIL images, got {type(images).__name__}")
        images = list(images)
        for image in images:
            if not isinstance(image, Image.Image):
                raise InvalidInputError(f"encode_images takes PIL images, got {type(image).__name__}",
                                        hint="open files with polyseek.inputs.load_image")
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        pools = self.tower.required_pools()
        chunk = ONE_THREAD_CHUNK if self.threads == 1 else 32
        features = extract(self.config.backbone, images, pools, threads=self.threads, batch_size=chunk)
        if self.config.flip_average:
            mirrored = extract(self.config.backbone, images, pools, flip=True, threads=self.threads, batch_size=chunk)
            features = {k: (features[k] + mirrored[k]) / 2 for k in pools}
        return normalize(self.tower.vectors(features))


@encoders.register("aligner")
def aligner(model_dir: str = "") -> AlignerEncoder:
    return AlignerEncoder(model_dir or None)
