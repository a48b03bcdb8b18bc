"""Training pairs for the aligner and cached inputs: pooled backbone features per image, caption embeddings."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.align.features import POOLS, backbone_spec, pooled_features, preprocess
from polyseek.errors import InvalidInputError

Progress = Callable[[str, int, int], None]  # (stage, done, total)
CHUNK = 256  # images per cached feature file: a killed run resumes from the last finished chunk


@dataclass
class Pairs:
    """Images (absolute paths) and their captions; ``owner[c]`` is the image index of caption ``c``."""

    root: Path
    images: list[str]
    captions: list[str]
    owner: np.ndarray
    splits: list[str]

    def __len__(self) -> int:
        return len(self.images)


def load_pairs(folder: str | Path) -> Pairs:
    """Read ``pairs.jsonl`` (one ``{"image": relative path, "captions": [...]}`` per line) from a folder."""
    root = Path(folder).expanduser()
    path = root / "pairs.jsonl" if root.is_dir() else root
    if not path.is_file():
        raise InvalidInputError(f"no pairs file at {path}",
                                hint='expected a folder with pairs.jsonl: one {"image": "images/x.jpg", "captions": [...]} per line')
    images: list[str] = []
    captions: list[str] = []
    owner: list[int] = []
    splits: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            image, texts = row["image"], row["captions"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path}:{number}: not a pairs row ({exc})",
                                    hint='each line must be {"image": ..., "captions": [...]}') from None
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            raise InvalidInputError(f"{path}:{number}: image {image!r} has no captions")
        image_path = (path.parent / image).resolve()
        if not image_path.is_file():
            raise InvalidInputError(f"{path}:{number}: image file not found: {image_path}")
        owner += [len(images)] * len(texts)
        images.append(str(image_path))
        captions += texts
        splits.append(str(row.get("flickr8k_split", row.get("split", ""))))
    if len(images) < 2:
        raise InvalidInputError(f"{path} has {len(images)} image(s); training needs at least 2")
    return Pairs(path.parent, images, captions, np.array(owner, dtype=np.int64), splits)


def _key(*parts: object) -> str:
    digest = hashlib.sha1()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def feature_cache_folder(images: list[str], backbone: str, flip: bool, cache_dir: str | Path, low: int = 0) -> Path:
    """Where the pooled features of this exact list of images are cached (one .npz per chunk of 256)."""
    resize = f"low{low}" if low else "squash"
    return Path(cache_dir) / f"{backbone}-{'flip' if flip else 'orig'}-{resize}-{_key(images)}"


def low_resolution(image, side: int):
    """``image`` shrunk to ``side`` x ``side``: the backbone then scales it back up, as it does small photos."""
    from PIL import Image

    return image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)


def compute_chunk(names: list[str], backbone: str, flip: bool, batch_size: int = 32,
                  on_batch: Callable[[int], None] | None = None, low: int = 0) -> dict[str, np.ndarray]:
    """Every pooled view of a few images, float32; ``low`` > 0 encodes them shrunk to that side first."""
    from polyseek.ingest.images import open_image

    spec = backbone_spec(backbone)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in POOLS}
    for first in range(0, len(names), batch_size):
        pictures = [open_image(Path(n)) for n in names[first : first + batch_size]]
        if low:
            pictures = [low_resolution(picture, low) for picture in pictures]
        pixels = preprocess(pictures, spec.size, flip=flip)
        for name, value in pooled_features(backbone, pixels).items():
            parts[name].append(value)
        if on_batch:
            on_batch(first + len(pictures))
    return {k: np.concatenate(v) for k, v in parts.items()}


def save_chunk(path: Path, chunk: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    arrays: dict[str, Any] = {k: v.astype(np.float16) for k, v in chunk.items()}
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def image_features(images: list[str], backbone: str, flip: bool, cache_dir: str | Path | None,
                   progress: Progress | None = None, batch_size: int = 32, low: int = 0) -> dict[str, np.ndarray]:
    """Every pooled view (:data:`POOLS`) of every image, computed once and cached in chunks under ``cache_dir``.

    ``low`` > 0: of the images shrunk to ``low`` x ``low`` pixels (a training view for small photos).

    Cached values are float16 (halves the cache); a fresh computation is rounded the same way so a cached and an
    uncached run train on identical inputs.
    """
    folder = None
    if cache_dir is not None:
        folder = feature_cache_folder(images, backbone, flip, cache_dir, low)
        folder.mkdir(parents=True, exist_ok=True)
    chunks: list[dict[str, np.ndarray]] = []
    stage = f"{backbone} features{' (mirrored)' if flip else ''}{f' ({low} px)' if low else ''}"
    for start in range(0, len(images), CHUNK):
        path = folder / f"{start:06d}.npz" if folder else None
        if path is not None and path.exists():
            with np.load(path) as stored:
                chunks.append({k: stored[k].astype(np.float32) for k in POOLS})
        else:
            names = images[start : start + CHUNK]
            report = (lambda done: progress(stage, start + done, len(images))) if progress else None
            chunk = compute_chunk(names, backbone, flip, batch_size, report, low)
            if path is not None:
                save_chunk(path, chunk)
            chunks.append({k: v.astype(np.float16).astype(np.float32) for k, v in chunk.items()})
        if progress:
            progress(stage, min(start + CHUNK, len(images)), len(images))
    return {k: np.concatenate([c[k] for c in chunks]) for k in POOLS}


def text_embeddings(captions: list[str], encoder_name: str, kind: str, cache_dir: str | Path | None,
                    progress: Progress | None = None, batch_size: int = 1024) -> np.ndarray:
    """Caption embeddings as queries (``kind="query"``) or documents, cached as one .npy under ``cache_dir``."""
    from polyseek.encoders.base import load_encoder

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"text-{encoder_name.replace(':', '_').replace('/', '_')}-{kind}-{_key(captions)}.npy"
        if path.exists():
            return np.load(path)
    encoder = load_encoder(encoder_name)
    encode = encoder.encode_queries if kind == "query" else encoder.encode_documents
    parts = []
    for start in range(0, len(captions), batch_size):
        parts.append(encode(captions[start : start + batch_size]))
        if progress:
            progress(f"captions as {kind}s ({encoder_name})", min(start + batch_size, len(captions)), len(captions))
    vectors = np.concatenate(parts).astype(np.float32)
    if path is not None:
        np.save(path.with_suffix(".tmp.npy"), vectors)
        os.replace(path.with_suffix(".tmp.npy"), path)
    return vectors
