"""Uploaded files: reading multipart parts, decoding query and reference images under a memory bound."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyseek.errors import InvalidInputError

MAX_FILES = 8  # file parts per request (concept images); searches use one
SMALL_PIXELS = 4_000_000  # images up to this size decode without waiting for a slot (a 12 MB RGB buffer)
QUERY_SIDE = 512  # query images are reduced to this before embedding, as the image ingestor does


@dataclass(frozen=True)
class Upload:
    """One uploaded file part, kept in memory (the body limit bounds its size)."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def label(self) -> str:
        """How messages name this upload: its file name, or the form field it came in."""
        name = self.filename.replace("\n", " ").strip()[:120]
        return f"uploaded image {name!r}" if name else f"uploaded {self.field!r} part"


Uploads = Mapping[str, Sequence[Upload]]


class _NamedBytes(io.BytesIO):
    """Bytes that name themselves in decoder messages (a bare BytesIO shows as ``<_io.BytesIO object at 0x…>``)."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _libc_trim() -> Any:
    path = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(path).malloc_trim if path else None
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _libc_trim()


class DecodeGate:
    """Bounds how many large images decode at once (``slots``); small ones pass straight through.

    A 231 KB PNG can hold 8,900 x 8,900 pixels (a 238 MB buffer once decoded, twice that while converting):
    eight of those decoding together took a server from 1.5 GB to 9.7 GB. With the gate at most ``slots`` are in
    memory at once, and the allocator hands the freed buffers back to the system afterwards.
    """

    def __init__(self, slots: int = 2, small_pixels: int = SMALL_PIXELS) -> None:
        if slots < 1:
            raise InvalidInputError(f"max_concurrent_decodes must be at least 1, got {slots}")
        self.slots = slots
        self.small_pixels = small_pixels
        self._semaphore = threading.BoundedSemaphore(slots)

    def decode(self, upload: Upload, max_side: int = QUERY_SIDE):
        """The upload as an RGB image no larger than ``max_side``; refuses non-images and bombs by name."""
        if not upload.data:
            raise InvalidInputError(f"{upload.label} is empty")
        pixels = _header_pixels(upload.data)
        if pixels is not None and pixels <= self.small_pixels:
            return _decode(upload, max_side)
        with self._semaphore:
            try:
                return _decode(upload, max_side)
            finally:
                if _MALLOC_TRIM is not None:
                    _MALLOC_TRIM(0)  # give the large decode buffers back rather than keep them in the heap


def _header_pixels(data: bytes) -> int | None:
    """Width x height from the image header alone (no decoding); None when the header cannot be read."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return width * height
    except Exception:  # noqa: BLE001 - the decoder proper reports what is wrong
        return None


def _decode(upload: Upload, max_side: int):
    from PIL import Image

    from polyseek.ingest.images import open_image

    image = open_image(_NamedBytes(upload.data, upload.label))
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return image


def one_image(uploads: Uploads, gate: DecodeGate, field: str = "image"):
    """The decoded image of the single ``field`` part, or None when there is none."""
    files = list(uploads.get(field, ()))
    if len(files) > 1:
        raise InvalidInputError(f"send one {field!r} part, got {len(files)}")
    return gate.decode(files[0]) if files else None


def save_reference_images(uploads: Uploads, gate: DecodeGate, folder: Path, fields: Sequence[str] = ("images", "image"),
                          max_side: int = 1024) -> list[str]:
    """Check each upload is a readable image, then write it re-encoded as PNG with a generated name under ``folder``.

    The bytes written are never the client's bytes, and the client's file name is never used.
    """
    paths = []
    for field in fields:
        for upload in uploads.get(field, ()):
            picture = gate.decode(upload, max_side=max_side)  # refuses non-images and bombs before anything is written
            target = folder / f"{uuid.uuid4().hex}.png"
            folder.mkdir(parents=True, exist_ok=True)
            picture.save(target, "PNG")
            paths.append(str(target))
    return paths
