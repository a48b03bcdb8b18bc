"""Tiles: a large image is also indexed as overlapping windows, so a query can land on the part that matches.

A tile is a ``region`` item of the image's file with a box (``locator.bbox``, pixels of the upright full-size
image: x0, y0, x1, y1) and a link to its image (``metadata["parent_item"]``, the image's chunk index, 0), like a
PDF region and its page. Windows form a pyramid: at level ``k`` the image is cut into ``k`` × ``k`` windows of
1/k its width and height, stepped by ``1 - overlap`` of a window, so at overlap 0.5 a level has (2k-1)² tiles.

Which images are tiled is a setting (:class:`TileSettings`): images whose long side is at least ``min_side``
pixels. The default leaves phone photos (4032 px) whole, since tiles multiply indexing cost (58 more encodings
per image at levels 2 and 4); set ``POLYSEEK_TILES`` (``off``, or ``min_side=800,levels=2+4,overlap=0.5``) or
call :func:`configure` / :func:`use` to change it. A setting applies to files indexed after it changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyseek.errors import InvalidInputError
from polyseek.ingest.base import Chunk
from polyseek.types import Locator, Modality

if TYPE_CHECKING:  # PIL is imported where an image is tiled: a search only asks is_tile (PIL costs ~25 ms to import)
    from PIL import Image

TILES_ENV = "POLYSEEK_TILES"
TILE_KIND = "tile"
EXIF_ORIENTATION = 0x0112
TILE_SIDE = 512  # a tile is reduced to this before embedding, like a whole image (ingest.images.ENCODE_SIDE)


@dataclass(frozen=True)
class TileSettings:
    """Which images are tiled and how.

    ``min_side``: tile images whose long side (pixels, full size) is at least this; ``levels``: windows per
    side at each pyramid level; ``overlap``: share of a window its neighbour covers (0 to 0.75);
    ``min_window``: a level whose windows would be smaller than this many pixels of the decoded image is
    skipped; ``decode_side``: the image is decoded at about this long side to cut tiles from;
    ``enabled``: False turns tiling off.
    """

    min_side: int = 4500
    levels: tuple[int, ...] = (2, 4)
    overlap: float = 0.5
    min_window: int = 128
    decode_side: int = 2048
    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.min_side, int) or self.min_side < 1:
            raise InvalidInputError(f"tiles: min_side must be a positive number of pixels, got {self.min_side!r}")
        levels = tuple(self.levels)
        if not levels or not all(isinstance(k, int) and 2 <= k <= 16 for k in levels):
            raise InvalidInputError(f"tiles: levels must be whole numbers from 2 to 16 (windows per side), got {self.levels!r}")
        object.__setattr__(self, "levels", tuple(sorted(set(levels))))
        if not isinstance(self.overlap, (int, float)) or not 0.0 <= self.overlap <= 0.75:
            raise InvalidInputError(f"tiles: overlap must be from 0 to 0.75, got {self.overlap!r}")
        if not isinstance(self.min_window, int) or self.min_window < 16:
            raise InvalidInputError(f"tiles: min_window must be at least 16 pixels, got {self.min_window!r}")
        if not isinstance(self.decode_side, int) or not 256 <= self.decode_side <= 8192:
            raise InvalidInputError(f"tiles: decode_side must be from 256 to 8192 pixels, got {self.decode_side!r}")

    def applies(self, size: tuple[int, int]) -> bool:
        """Whether an image of ``size`` (full-size pixels) is tiled."""
        return self.enabled and max(size) >= self.min_side

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        return (f"min_side={self.min_side},levels={'+'.join(map(str, self.levels))},overlap={self.overlap:g},"
                f"min_window={self.min_window},decode_side={self.decode_side}")

    @classmethod
    def parse(cls, text: str) -> TileSettings:
        """``off``, ``on`` (the defaults) or ``key=value`` pairs separated by commas (levels joined by ``+``).

        >>> TileSettings.parse("min_side=800,levels=2+4").levels
        (2, 4)
        """
        text = text.strip()
        if text.lower() in ("off", "0", "false", "no"):
            return cls(enabled=False)
        if text.lower() in ("", "on", "1", "true", "yes"):
            return cls()
        names = {f.name for f in fields(cls)} - {"enabled"}
        values: dict[str, Any] = {}
        for pair in text.split(","):
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise InvalidInputError(f"tiles setting {pair.strip()!r} is not understood",
                                        hint="use off, on, or key=value pairs: " + ", ".join(sorted(names))
                                        + " (e.g. min_side=800,levels=2+4,overlap=0.5)")
            try:
                if key == "levels":
                    values[key] = tuple(int(v) for v in value.split("+"))
                elif key == "overlap":
                    values[key] = float(value)
                else:
                    values[key] = int(value)
            except ValueError:
                raise InvalidInputError(f"tiles setting {key}={value!r} is not a number") from None
        return cls(**values)


_lock = threading.Lock()
_current: TileSettings | None = None


def current() -> TileSettings:
    """The settings in force: set by :func:`configure`/:func:`use`, else from ``POLYSEEK_TILES``, else the defaults."""
    with _lock:
        if _current is not None:
            return _current
    value = os.environ.get(TILES_ENV, "")
    try:
        return TileSettings.parse(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{TILES_ENV}={value!r}: {exc.message}", hint=exc.hint) from None


def configure(settings: TileSettings | None) -> None:
    """Set the process's tile settings (None: back to ``POLYSEEK_TILES`` / the defaults)."""
    global _current
    with _lock:
        _current = settings


@contextmanager
def use(settings: TileSettings | None) -> Iterator[TileSettings]:
    """Tile settings for a block (indexing runs in worker threads, so this is process-wide, not per thread)."""
    previous = _current
    configure(settings)
    try:
        yield current()
    finally:
        configure(previous)


def oriented_size(path: str | Path) -> tuple[int, int]:
    """Full-size pixels of an image as shown (EXIF orientations 5-8 swap width and height)."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(EXIF_ORIENTATION)
        except Exception:  # noqa: BLE001 - a damaged EXIF block: taken as upright
            orientation = None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def windows(width: int, height: int, settings: TileSettings) -> list[tuple[int, tuple[int, int, int, int]]]:
    """``[(level, (x0, y0, x1, y1))]`` in pixels of a ``width`` × ``height`` image, coarse levels first; the
    last window of a row or column ends on the image's edge.

    >>> len(windows(800, 800, TileSettings(levels=(2, 4))))
    58
    """
    out: list[tuple[int, tuple[int, int, int, int]]] = []
    for level in settings.levels:
        w, h = width / level, height / level
        if min(w, h) < settings.min_window:
            continue
        xs, ys = _starts(width, w, settings.overlap), _starts(height, h, settings.overlap)
        for y in ys:
            for x in xs:
                out.append((level, (round(x), round(y), round(x + w), round(y + h))))
    return out


def _starts(extent: float, window: float, overlap: float) -> list[float]:
    step = window * (1.0 - overlap)
    count = max(1, int(round((extent - window) / step)) + 1) if step > 0 else 1
    if count == 1:
        return [0.0]
    gap = (extent - window) / (count - 1)  # spread evenly so the last window ends on the edge
    return [i * gap for i in range(count)]


def tile_chunks(image: Image.Image, full_size: tuple[int, int], settings: TileSettings, parent_item: int = 0,
                date: float | None = None) -> Iterator[Chunk]:
    """The tiles of a decoded upright ``image`` whose full size is ``full_size``: one region chunk per window,
    its box in full-size pixels, its picture cut from ``image`` and reduced to :data:`TILE_SIDE`."""
    from PIL import Image

    sx, sy = full_size[0] / image.width, full_size[1] / image.height
    for number, (level, (x0, y0, x1, y1)) in enumerate(windows(image.width, image.height, settings)):
        tile = image.crop((x0, y0, x1, y1))
        if max(tile.size) > TILE_SIDE:
            tile.thumbnail((TILE_SIDE, TILE_SIDE), Image.Resampling.BICUBIC)
        box = (round(x0 * sx, 1), round(y0 * sy, 1), round(min(x1 * sx, full_size[0]), 1), round(min(y1 * sy, full_size[1]), 1))
        yield Chunk(modality=Modality.REGION, image=tile, locator=Locator(bbox=box), date=date,
                    metadata={"kind": TILE_KIND, "parent_item": parent_item, "tile": number, "level": level,
                              "image_width": full_size[0], "image_height": full_size[1]})


def is_tile(modality: str | Modality, locator: dict[str, Any] | Locator | None, metadata: dict[str, Any] | None) -> bool:
    """Whether an item is an image tile (a region with a box and no page, linked to its image)."""
    if Modality(modality) != Modality.REGION:
        return False
    page = locator.page if isinstance(locator, Locator) else (locator or {}).get("page")
    return page is None and (metadata or {}).get("kind") == TILE_KIND


def with_defaults(**changes: Any) -> TileSettings:
    """The default settings with some fields changed (``with_defaults(min_side=256)``)."""
    return replace(TileSettings(), **changes)
