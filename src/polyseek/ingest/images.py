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
from polyseek.types import Modality

MAX_PIXELS = 80_000_000  # a 20,000 x 20,000 image is refused before it is decoded
ENCODE_SIDE = 512  # images are reduced to this before embedding: encoders use 224-260 px
EXIF_DATETIME = 36867  # DateTimeOriginal
EXIF_DATETIME_BASE = 306

try:  # HEIC support is optional at run time
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = frozenset({"heic", "heif"})
except Exception:  # noqa: BLE001
    HEIF = frozenset()


def open_image(path: Path | Any, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image, refusing bombs, truncation and non-images with a clear reason."""
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
                image.draft("RGB", (ENCODE_SIDE * 2, ENCODE_SIDE * 2))  # JPEG: decode at reduced scale, much faster
                image = ImageOps.exif_transpose(image) if image.format != "GIF" else image
                loaded = image.convert("RGB")
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
        metadata = {"width": size[0], "height": size[1]}
        if date is not None:
            metadata["taken"] = datetime.fromtimestamp(date).isoformat()
        yield Chunk(modality=Modality.IMAGE, image=image, metadata=metadata, date=date)
