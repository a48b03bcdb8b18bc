"""Projections between embedding spaces (NEW → OLD), and encoders whose queries go through one.

A :class:`Projection` maps vectors of a source encoder (the new model) into a target encoder's space (the one an
index was built with): ``normalize(x @ W + b)``, plus an optional residual GELU branch. It is fitted by ridge least
squares (closed form) from paired vectors, with no labels: the same texts or images encoded by both models.
:class:`ProjectedQueryEncoder` looks like a text encoder whose ``encode_queries`` returns vectors in the old space;
:class:`QuerySwap` keeps an index's encoder for its documents and images and swaps only its queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import check_texts, normalize
from polyseek.errors import EncoderError, InvalidInputError

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
FORMAT = "polyseek-projection"
SHIPPED = "e5-to-bge"


@dataclass(frozen=True)
class ProjectionConfig:
    source: str  # encoder whose vectors go in (the new model)
    target: str  # encoder whose space they land in (the old model)
    dim_in: int
    dim_out: int
    side: str = "query"  # which side of the source encoder was fitted: query, document or image
    hidden: int = 0  # width of the residual GELU branch, 0 for a linear map
    ridge: float = 0.0
    # affine map applied to a projected score so it reads like a native score of the new model (fitted on pairs)
    score_scale: float = 1.0
    score_shift: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ProjectionConfig:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Projection:
    config: ProjectionConfig
    weight: np.ndarray  # (dim_in, dim_out)
    bias: np.ndarray  # (dim_out,)
    hidden_in: np.ndarray | None = None  # (dim_in, hidden)
    hidden_bias: np.ndarray | None = None  # (hidden,)
    hidden_out: np.ndarray | None = None  # (hidden, dim_out)

    def raw(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.config.dim_in:
            raise EncoderError(f"projection {self.config.source} → {self.config.target} takes {self.config.dim_in}-d "
                               f"vectors, got shape {x.shape}")
        y = x @ self.weight + self.bias
        if self.hidden_in is not None and self.hidden_out is not None:
            h = x @ self.hidden_in + self.hidden_bias
            y = y + _gelu(h) @ self.hidden_out
        return y

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Unit vectors in the target space."""
        if len(vectors) == 0:
            return np.zeros((0, self.config.dim_out), dtype=np.float32)
        return normalize(self.raw(vectors))

    def tensors(self) -> dict[str, np.ndarray]:
        out = {"weight": self.weight, "bias": self.bias}
        if self.hidden_in is not None and self.hidden_bias is not None and self.hidden_out is not None:
            out.update(hidden_in=self.hidden_in, hidden_bias=self.hidden_bias, hidden_out=self.hidden_out)
        return out


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def fit_linear(source: np.ndarray, target: np.ndarray, *, ridge: float = 1e-2, source_name: str = "new",
               target_name: str = "old", side: str = "query") -> Projection:
    """Ridge least squares ``target ≈ source @ W + b`` (closed form; the bias is not penalised)."""
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise InvalidInputError(f"need paired vectors: got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise InvalidInputError(f"need at least 2 pairs to fit a projection, got {len(x)}")
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    gram = xc.T @ xc + ridge * len(x) * np.eye(x.shape[1])
    weight = np.linalg.solve(gram, xc.T @ yc)
    bias = my - mx @ weight
    config = ProjectionConfig(source=source_name, target=target_name, dim_in=x.shape[1], dim_out=y.shape[1],
                              side=side, ridge=float(ridge))
    return Projection(config, weight.astype(np.float32), bias.astype(np.float32))


def calibrate_scores(projection: Projection, projected_scores: np.ndarray, native_scores: np.ndarray) -> Projection:
    """Fit ``native ≈ a * projected + b`` by least squares and record it in the projection's config."""
    p = np.asarray(projected_scores, dtype=np.float64).ravel()
    n = np.asarray(native_scores, dtype=np.float64).ravel()
    if len(p) < 2 or p.std() < 1e-9:
        return projection
    a, b = np.polyfit(p, n, 1)
    config = ProjectionConfig(**{**asdict(projection.config), "score_scale": float(a), "score_shift": float(b)})
    return Projection(config, projection.weight, projection.bias, projection.hidden_in, projection.hidden_bias, projection.hidden_out)


def save_projection(projection: Projection, folder: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` and ``weights.safetensors`` (float32: a 384x384 map is 0.6 MB) into ``folder``."""
    from safetensors.numpy import save_file

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in projection.tensors().items()}
    save_file(tensors, str(path / WEIGHTS), metadata={"format": FORMAT})
    (path / CONFIG).write_text(json.dumps(asdict(projection.config), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if metrics is not None:
        (path / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_projection(folder: str | Path) -> Projection:
    from safetensors.numpy import load_file

    path = Path(folder)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise EncoderError(f"no projection at {path}", hint=f"a projection folder holds {CONFIG} and {WEIGHTS}")
    config = ProjectionConfig.from_dict(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    tensors = load_file(str(path / WEIGHTS))
    weight = tensors["weight"]
    if weight.shape != (config.dim_in, config.dim_out):
        raise EncoderError(f"projection at {path}: weight is {weight.shape}, config says {(config.dim_in, config.dim_out)}")
    return Projection(config, weight, tensors["bias"], tensors.get("hidden_in"), tensors.get("hidden_bias"), tensors.get("hidden_out"))


def shipped_projection_dir() -> Path:
    return Path(str(resources.files("polyseek").joinpath("models", SHIPPED)))


class ProjectedQueryEncoder:
    """A text encoder whose queries are the new encoder's, projected into the old space.

    ``documents``: the encoder that fills the old space with documents (the old model itself); without one,
    ``encode_documents`` is refused, since a projected document would not be what the index holds.
    """

    def __init__(self, new_encoder: Any, projection: Projection, *, documents: Any = None, name: str | None = None) -> None:
        if int(new_encoder.dim) != projection.config.dim_in:
            raise EncoderError(f"projection expects {projection.config.dim_in}-d vectors, {new_encoder.name} gives {new_encoder.dim}-d")
        self.new_encoder = new_encoder
        self.projection = projection
        self.documents = documents
        self.dim = projection.config.dim_out
        self.name = name or f"{new_encoder.name}>{projection.config.target}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.projection(self.new_encoder.encode_queries(check_texts(texts)))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.documents is None:
            raise EncoderError(f"{self.name} only encodes queries", hint="documents come from the index's own encoder")
        return self.documents.encode_documents(texts)


class QuerySwap:
    """An index's encoder with its queries answered by another encoder (a projected or a mixed one).

    Keeps ``name``, ``revision``, ``dim``, images and documents of ``base``: the index sees the encoder it was
    built with. ``text_encoder_name`` is marked with the query encoder, so the engine shares query vectors between
    its two spaces only when both are swapped the same way.
    """

    def __init__(self, base: Any, queries: Any) -> None:
        if int(queries.dim) != int(base.dim):
            raise EncoderError(f"query encoder {queries.name} gives {queries.dim}-d vectors, the index's {base.name} holds {base.dim}-d")
        self.base = base
        self.queries = queries
        self.name = base.name
        self.dim = int(base.dim)
        self.query_encoder_name = queries.name
        if getattr(base, "revision", None) is not None:
            self.revision = base.revision
        if getattr(base, "model_dir", None) is not None:
            self.model_dir = base.model_dir
        shared = getattr(base, "text_encoder_name", None)
        if shared is not None:
            self.text_encoder_name = f"{shared}|queries:{queries.name}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.queries.encode_queries(texts)

    def english_gloss(self, text: str) -> str | None:
        """The query encoder's English gloss of a query it encoded lately, where it keeps one (``multilingual``)."""
        method = getattr(self.queries, "english_gloss", None)
        return method(text) if callable(method) else None

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.encode_documents(texts)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self.base.encode_images(images)


class GatedQueryEncoder:
    """English-safe multilingual queries: bge's own query vector mixed with the projected one only where they agree.

    For each query, ``c`` = cosine(bge query, projected e5 query). Where ``c >= agree`` (bge understood the text: in
    practice English) the query is ``normalize(weight * bge + (1 - weight) * projected)``; elsewhere (bge's vector of a
    language it does not read is noise) the projected vector alone. No language detection: the two models vote.
    """

    def __init__(self, base: Any, projected: ProjectedQueryEncoder, *, agree: float = 0.6, weight: float = 0.5,
                 name: str | None = None) -> None:
        if int(base.dim) != int(projected.dim):
            raise EncoderError(f"{base.name} gives {base.dim}-d vectors, {projected.name} {projected.dim}-d")
        self.base = base
        self.projected = projected
        self.agree = float(agree)
        self.weight = float(weight)
        self.dim = int(base.dim)
        self.name = name or f"{projected.name}+{base.name}"

    @property
    def projection(self) -> Projection:
        return self.projected.projection

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        own = self.base.encode_queries(texts)
        projected = self.projected.encode_queries(texts)
        agreement = np.sum(own * projected, axis=1, keepdims=True)
        weight = np.where(agreement >= self.agree, self.weight, 0.0).astype(np.float32)
        return normalize(weight * own + (1.0 - weight) * projected)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.encode_documents(texts)
