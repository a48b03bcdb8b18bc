"""Image ingestion: JPEG, PNG, WebP, GIF (first frame), BMP, TIFF and HEIC/HEIF via pillow-heif."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from polyseek.errors import CorruptFileError, FileTooLargeError
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.ingest.tiles import current as tile_settings
from polyseek.ingest.tiles import oriented_size, tile_chunks
from polyseek.types import Modality

MAX_PIXELS = 80_000_000  # a 20,000 x 20,000 image is refused before it is decoded
ENCODE_SIDE = 512  # images are reduced to this before embedding: encoders use 224-260 px
DECODE_SIDE = ENCODE_SIDE * 2  # what open_image returns at most: JPEGs are decoded at that scale, others reduced to it
# Memory one image may take while it is decoded, before it is reduced: a 231 KB PNG can claim 8,900 x 8,900
# pixels (237 MB as RGB), which no cap on pixels alone stops. JPEGs are decoded reduced (DCT scaling), so only
# formats that must be decoded whole meet this: 96 MiB holds a 32-megapixel RGB or a 24-megapixel RGBA image.
MAX_DECODE_BYTES = 96 * 2**20
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3,
                    "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_REDUCIBLE = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F"})
EXIF_DATETIME = 36867  # DateTimeOriginal
EXIF_DATETIME_BASE = 306

try:  # HEIC support is optional at run time
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = frozenset({"heic", "heif"})
except Exception:  # noqa: BLE001
    HEIF = frozenset()


def decode_bytes(size: tuple[int, int], mode: str) -> int:
    """Memory to decode an image of ``size`` in ``mode`` and bring it to RGB (modes that cannot be reduced in place,
    such as palette images, are converted at full size first)."""
    native = _BYTES_PER_PIXEL.get(mode, 4)
    return size[0] * size[1] * (native + (0 if mode in _REDUCIBLE else 3))


def shrink(image: Image.Image, side: int = DECODE_SIDE) -> Image.Image:
    """An RGB image whose long side is at most about ``side``: reduced by an integer factor before converting,
    so a big image is never copied at full size."""
    factor = max(image.size) // side
    if factor >= 2:
        if image.mode not in _REDUCIBLE:
            image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("PA", "LA") else "RGB")
        image = image.reduce(factor)
    return image if image.mode == "RGB" else image.convert("RGB")


def open_image(path: Path | Any, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_DECODE_BYTES,
               side: int = DECODE_SIDE) -> Image.Image:
    """Open and decode an image reduced to at most about ``side`` pixels a side (JPEGs are decoded at
    that scale; others whole, then reduced), refusing bombs, images over the decoding memory budget,
    truncation and non-images with a clear reason."""
    name = getattr(path, "name", str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise FileTooLargeError(
                        f"{name}: image is {width}x{height} pixels, over the limit of {max_pixels:,}",
                        hint="resize it, or raise the limit",
                    )
                image.seek(0)
                image.draft("RGB", (side, side))  # JPEG: decoded at reduced scale (1/2 to 1/8)
                needed = decode_bytes(image.size, image.mode)
                if needed > max_bytes:
                    raise FileTooLargeError(
                        f"{name}: image is {width}x{height} pixels, which takes {needed / 2**20:,.0f} MiB to decode "
                        f"({image.format or 'this format'} cannot be decoded reduced), over the budget of "
                        f"{max_bytes / 2**20:,.0f} MiB per image",
                        hint="save it smaller or as JPEG",
                    )
                image.load()
                transposed = ImageOps.exif_transpose(shrink(image, side)) if image.format != "GIF" else shrink(image, side)
                loaded = transposed if transposed.mode == "RGB" else transposed.convert("RGB")
                loaded.load()
                return loaded
    except FileTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileTooLargeError(
            f"{name}: refused as a decompression bomb, over the limit of {max_pixels:,} pixels ({exc})",
            hint="resize it, or raise the limit",
        ) from exc
    except UnidentifiedImageError as exc:
        raise CorruptFileError(f"{name}: not an image that can be read (unknown or damaged format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(f"{name}: damaged or truncated image ({exc})") from exc


def exif_date(path: Path) -> float | None:
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            value = exif.get_ifd(0x8769).get(EXIF_DATETIME) or exif.get(EXIF_DATETIME_BASE)
        if value:
            return datetime.strptime(str(value).strip("\x00 "), "%Y:%m:%d %H:%M:%S").timestamp()
    except Exception:  # noqa: BLE001 - a missing or odd EXIF date is not an error
        return None
    return None


@ingestors.register("image")
class ImageIngestor:
    name = "image"
    extensions = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"}) | HEIF

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
        image = open_image(path)
        width, height = image.size
        if max(width, height) > ENCODE_SIDE:
            image.thumbnail((ENCODE_SIDE, ENCODE_SIDE), Image.Resampling.BICUBIC)
        with Image.open(path) as original:
            size = original.size
        date = exif_date(path)
        metadata: dict[str, Any] = {"width": size[0], "height": size[1]}
        if date is not None:
            metadata["taken"] = datetime.fromtimestamp(date).isoformat()
        yield Chunk(modality=Modality.IMAGE, image=image, metadata=metadata, date=date)
        tiles = tile_settings()  # a large image is also indexed as overlapping tiles (polyseek.ingest.tiles)
        if tiles.applies(size):
            upright = oriented_size(path)
            yield from tile_chunks(open_image(path, side=tiles.decode_side), upright, tiles, parent_item=0, date=date)
