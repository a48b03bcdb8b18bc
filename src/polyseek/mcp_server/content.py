"""What an MCP client sees of a hit: a text line, a JSON record and, for pictures, a small JPEG thumbnail."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from mcp_types import ContentBlock, ImageContent, TextContent

from polyseek.errors import PolyseekError
from polyseek.server.media import ImageCache, encode_image, file_fingerprint
from polyseek.types import Hit, Item, Modality

log = logging.getLogger(__name__)
# an image, a PDF page or region, a video keyframe: things a model can look at
PICTURED = frozenset({Modality.IMAGE, Modality.PAGE, Modality.REGION, Modality.VIDEO_MOMENT})
THUMBNAIL_SIDE = 256
ITEM_IMAGE_SIDE = 640
JPEG_QUALITY = 75


def file_uri(path: str) -> str:
    """``file:///…`` for an indexed path (the URI of its MCP resource)."""
    return Path(path).as_uri()


def item_record(item: Item) -> dict[str, Any]:
    """The JSON an MCP client gets for an item: id, path, resource URI, modality, locator and its human form."""
    out = item.to_dict()
    out["uri"] = file_uri(item.path)
    out["where"] = item.locator.describe()
    return out


def hit_record(hit: Hit) -> dict[str, Any]:
    out = hit.to_dict()
    out["uri"] = file_uri(hit.item.path)
    out["where"] = hit.item.locator.describe()
    return out


def hit_line(rank: int, hit: Hit) -> str:
    """``1. [image] /photos/red.jpg — score 0.812`` plus the locator and a snippet of text."""
    item = hit.item
    parts = [f"{rank}. [{item.modality.value}] {item.path}"]
    where = item.locator.describe()
    if where:
        parts.append(where)
    region = hit.best_region
    if region is not None and region.locator.bbox is not None:
        parts.append(f"best region {region.locator.describe()}")
    parts.append(f"score {hit.score:.3f}")
    parts.append(f"id {item.id}")
    line = " — ".join(parts)
    snippet = " ".join(item.text.split())[:240]
    return f"{line}\n   {snippet}" if snippet else line


class Thumbnails:
    """JPEG thumbnails of items, rendered by :func:`polyseek.preview.render_preview` and kept in a bounded cache."""

    def __init__(self, engine: Any, cache_bytes: int = 32 * 1024 * 1024) -> None:
        self.engine = engine
        self.cache = ImageCache(max_bytes=cache_bytes)

    def jpeg(self, item: Item, side: int = THUMBNAIL_SIDE, outline: tuple[float, float, float, float] | None = None) -> bytes | None:
        """JPEG bytes of the item's picture, or None for what has no picture (text, audio) or cannot be read."""
        if item.modality not in PICTURED:
            return None
        from polyseek.preview import render_preview

        try:
            key = f"{item.id}|{file_fingerprint(item.path)}|{side}|{outline}"

            def render() -> bytes:
                image = render_preview(self.engine, item, max_side=side, outline=outline)
                return encode_image(image, "JPEG", quality=JPEG_QUALITY)

            data, _ = self.cache.get_or_render(key, render)
            return data
        except PolyseekError as exc:  # the file is gone: the hit still carries its path and locator
            log.info("no thumbnail for %s: %s", item.id, exc)
            return None

    def content(self, item: Item, side: int = THUMBNAIL_SIDE, outline: tuple[float, float, float, float] | None = None) -> ImageContent | None:
        data = self.jpeg(item, side, outline)
        if data is None:
            return None
        return ImageContent(type="image", data=base64.b64encode(data).decode("ascii"), mime_type="image/jpeg")


def hits_content(hits: list[Hit], thumbnails: Thumbnails | None, max_thumbnails: int) -> list[ContentBlock]:
    """One text block per hit, each followed by its thumbnail (for the first ``max_thumbnails`` pictured hits)."""
    blocks: list[ContentBlock] = []
    if not hits:
        return [TextContent(type="text", text="no results")]
    shown = 0
    for rank, hit in enumerate(hits, 1):
        blocks.append(TextContent(type="text", text=hit_line(rank, hit)))
        if thumbnails is None or shown >= max_thumbnails or hit.item.modality not in PICTURED:
            continue
        region = hit.best_region
        outline = region.locator.bbox if region is not None and region.locator.bbox is not None else None
        image = thumbnails.content(hit.item, outline=outline)
        if image is not None:
            blocks.append(image)
            shown += 1
    return blocks
