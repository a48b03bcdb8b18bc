"""Pictures of results: a PDF page re-rendered with the matched region outlined, an image's thumbnail, a keyframe.

Nothing is cached in the index: pages are rendered on demand from the PDF (``polyseek search --show DIR``
writes one file per hit; the web UI asks :func:`render_preview` per item).
"""

from __future__ import annotations

import logging
import math
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from polyseek.errors import InvalidInputError, PolyseekError
from polyseek.types import Item, Modality, format_time

log = logging.getLogger(__name__)
OUTLINE = (230, 30, 30)
PLACEHOLDER_BACKGROUND = (236, 238, 241)
MIN_SIDE, MAX_SIDE = 32, 4096


def _font(size: int):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizing
        return ImageFont.load_default()


def placeholder(lines: Sequence[str], max_side: int = 480) -> Image.Image:
    """A neutral card naming what could not be drawn (a text passage, an audio segment, a missing file)."""
    width, height = max_side, max(MIN_SIDE, max_side * 9 // 16)
    image = Image.new("RGB", (width, height), PLACEHOLDER_BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(max(10, width // 28))
    y = height // 8
    step = int(font.size * 1.5) if hasattr(font, "size") else 16
    wrapped = [part for line in lines if line for part in textwrap.wrap(line, max(8, width // 14))]
    for line in wrapped:
        if y > height - step:
            break
        draw.text((width // 16, y), line, fill=(60, 64, 72), font=font)
        y += step
    return image


def render_pdf_page(path: str | Path, page_number: int, max_side: int = 1200,
                    outline: tuple[float, float, float, float] | None = None) -> Image.Image:
    """Page ``page_number`` (1-based) of a PDF, long side ``max_side`` px, with ``outline`` (a bbox in points) drawn."""
    from polyseek.ingest.pdf import PDFIUM_LOCK, open_pdf, page_geometry, render, scale_for

    path = Path(path)
    with open_pdf(path) as document, PDFIUM_LOCK:
        count = len(document)
        if not 1 <= page_number <= count:
            raise InvalidInputError(f"{path.name} has {count} pages; page {page_number} does not exist")
        page = document[page_number - 1]
        try:
            geometry = page_geometry(page, path.name, page_number)
            scale = scale_for(geometry, max_side, max_scale=8.0)
            image = render(page, geometry, scale, path.name, page_number)
        finally:
            page.close()
    if outline is not None:
        draw = ImageDraw.Draw(image)
        x0, y0, x1, y1 = (v * scale for v in outline)
        width = max(2, round(max(image.size) / 300))
        draw.rectangle((x0 - width, y0 - width, x1 + width, y1 + width), outline=OUTLINE, width=width)
    return image


def render_preview(engine: Any, item: Item, max_side: int = 800, outline: tuple[float, float, float, float] | None = None) -> Image.Image:
    """A picture of one item, long side at most ``max_side``.

    PDF page or region: the page rendered from the PDF with the region (or ``outline``) drawn in red.
    Image: its thumbnail. Video moment or audio segment: the frame at its keyframe (:func:`moment_time`) when the
    video module can take one, else a placeholder card; text: a placeholder card. ``engine`` may be None.
    """
    if not isinstance(max_side, int) or not MIN_SIDE <= max_side <= MAX_SIDE:
        raise InvalidInputError(f"max_side must be an integer from {MIN_SIDE} to {MAX_SIDE}, got {max_side!r}")
    name = Path(item.path).name
    locator = item.locator
    try:
        if item.modality in (Modality.PAGE, Modality.REGION) and locator.page is not None:
            box = outline or (locator.bbox if item.modality == Modality.REGION or locator.bbox else None)
            return render_pdf_page(item.path, int(locator.page), max_side, box)
        if item.modality == Modality.IMAGE or (item.modality == Modality.REGION and locator.bbox is not None):
            from polyseek.ingest.images import open_image

            image = open_image(Path(item.path))
            image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
            box = outline or (locator.bbox if item.modality == Modality.REGION else None)  # an image tile: its box
            return outline_image(image, box, item.path) if box is not None else image
        if item.modality in (Modality.VIDEO_MOMENT, Modality.AUDIO_SEGMENT) and locator.start is not None:
            frame = _keyframe(item.path, moment_time(item))
            if frame is not None:
                frame.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
                return frame
            return placeholder([name, f"{format_time(locator.start)}–{format_time(locator.end or locator.start)}",
                                item.text[:80]], max_side)
    except PolyseekError as exc:
        log.info("no preview for %s: %s", item.id, exc)
        return placeholder([name, locator.describe(), "no preview: " + exc.message[:60]], max_side)
    except OSError as exc:
        return placeholder([name, locator.describe(), f"cannot read the file: {exc.strerror or exc}"], max_side)
    return placeholder([name, locator.describe(), " ".join(item.text.split())[:120]], max_side)


def outline_image(image: Image.Image, box: tuple[float, float, float, float], path: str | Path) -> Image.Image:
    """``image`` (a reduced picture of the file at ``path``) with ``box``, in the file's upright full-size pixels, drawn."""
    from polyseek.ingest.tiles import oriented_size

    width, height = oriented_size(path)
    sx, sy = image.width / width, image.height / height
    x0, y0, x1, y1 = box
    line = max(2, round(max(image.size) / 200))
    ImageDraw.Draw(image).rectangle((x0 * sx, y0 * sy, x1 * sx - 1, y1 * sy - 1), outline=OUTLINE, width=line)
    return image


def moment_time(item: Item) -> float:
    """The time a moment is shown at: its keyframe (``metadata["keyframe_time"]``, the picture that was embedded)
    when it lies within the moment, else its start. The start often still shows the previous shot.

    >>> from polyseek.types import Locator
    >>> moment_time(Item(id="m", path="talk.mp4", modality=Modality.VIDEO_MOMENT,
    ...                  locator=Locator(start=10.0, end=20.0), metadata={"keyframe_time": 14.5}))
    14.5
    """
    start = float(item.locator.start or 0.0)
    end = item.locator.end
    keyframe = (item.metadata or {}).get("keyframe_time")
    if isinstance(keyframe, (int, float)) and not isinstance(keyframe, bool) and math.isfinite(keyframe):
        if start <= keyframe and (end is None or keyframe <= float(end)):
            return float(keyframe)
    return start


def _keyframe(path: str, seconds: float) -> Image.Image | None:
    try:
        from polyseek.ingest.video import keyframe_at
    except ImportError:
        return None
    try:
        return keyframe_at(path, seconds).convert("RGB")
    except PolyseekError:
        return None  # an audio file has no frame: the caller draws a card


def preview_name(rank: int, hit: Any) -> str:
    item = hit.item
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(item.path).stem)[:60] or "item"
    where = ""
    if item.locator.page is not None:
        where = f"-p{item.locator.page}"
    elif item.locator.start is not None:
        where = f"-t{int(item.locator.start)}s"
    return f"{rank:02d}-{stem}{where}.png"


def write_previews(engine: Any, hits: Sequence[Any], folder: str | Path, max_side: int = 1200) -> list[Path]:
    """One PNG per hit in ``folder`` (created), named by rank: a page hit outlines its best region."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rank, hit in enumerate(hits, 1):
        region = getattr(hit, "best_region", None)
        outline = region.locator.bbox if region is not None and region.locator.bbox is not None else None
        image = render_preview(engine, hit.item, max_side=max_side, outline=outline)
        path = folder / preview_name(rank, hit)
        image.save(path)
        written.append(path)
    return written
