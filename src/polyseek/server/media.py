"""Rendered images for the UI (thumbnails, page renders), encoded once and kept in a bounded LRU cache."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polyseek.errors import NotFoundError

THUMB_SIZES = (160, 240, 320, 480, 640)
PREVIEW_SIZES = (800, 1200, 1600, 2000)
EXTRA_TYPES = {".heic": "image/heic", ".heif": "image/heif", ".md": "text/markdown", ".m4a": "audio/mp4",
               ".opus": "audio/ogg", ".mkv": "video/x-matroska", ".webm": "video/webm", ".flac": "audio/flac"}


def snap(size: int, allowed: tuple[int, ...]) -> int:
    """Round a requested size up to one of a few, so the cache is not defeated by arbitrary sizes."""
    for option in allowed:
        if size <= option:
            return option
    return allowed[-1]


def media_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return EXTRA_TYPES.get(suffix) or mimetypes.guess_type(str(path))[0] or "application/octet-stream"


INLINE_PREFIXES = ("image/", "video/", "audio/")
INLINE_TYPES = {"application/pdf", "text/plain"}


def served_type(path: str | Path) -> tuple[str, str]:
    """(media type, disposition) for serving an indexed file from this origin.

    Anything a browser could run as a page (HTML, SVG, XML, scripts) is sent as plain text or as a download, so
    an indexed file can never script the UI's origin; other text kinds (Markdown, reST) are shown as plain text.
    """
    kind = media_type(path)
    if kind == "image/svg+xml" or kind.startswith("text/"):
        return "text/plain; charset=utf-8", "inline"
    if kind.startswith(INLINE_PREFIXES) or kind in INLINE_TYPES:
        return kind, "inline"
    return "application/octet-stream", "attachment"


def encode_image(image: Any, fmt: str = "JPEG", quality: int = 82) -> bytes:
    """JPEG for photos and pages (small, fast); transparent images are flattened on white first."""
    from PIL import Image

    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=quality, optimize=False)
    return buffer.getvalue()


def file_fingerprint(path: str) -> str:
    """Changes when the file changes: item ids stay the same across re-indexing, renders must not."""
    try:
        stat = Path(path).stat()
    except OSError:
        raise NotFoundError(f"the file of this item is gone: {path}", hint="re-index its folder") from None
    return f"{stat.st_size}-{stat.st_mtime_ns}"


class ImageCache:
    """Encoded renders by key, evicting the least recently used beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 96 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Lock] = {}

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> tuple[bytes, str]:
        """Bytes and an ETag; concurrent requests for the same key render once."""
        etag = '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], etag
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._entries:
                    return self._entries[key], etag
            try:
                data = render()
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
            with self._lock:
                if len(data) <= self.max_bytes // 8:
                    self._entries[key] = data
                    self._size += len(data)
                    while self._size > self.max_bytes:
                        _, old = self._entries.popitem(last=False)
                        self._size -= len(old)
        return data, etag

    def __len__(self) -> int:
        return len(self._entries)
