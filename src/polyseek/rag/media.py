"""Pictures of retrieved items for vision models: the image itself, a page render, a region crop, a keyframe."""

from __future__ import annotations

import logging
from typing import Any

from polyseek.types import Item, Modality

log = logging.getLogger(__name__)
RENDER_SIDE = 1024  # long side of a page render: small print stays legible, the request stays small


def render_pdf_page(path: str, page: int, bbox: tuple[float, float, float, float] | None = None, side: int = RENDER_SIDE):
    """Render a 1-based PDF page (optionally cropped to ``bbox`` in points from the top-left) as a PIL image."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path)
    try:
        pdf_page = document[page - 1]
        width, height = pdf_page.get_size()
        scale = side / max(width, height, 1.0)
        if bbox is not None:  # regions are small: render them at a higher scale so text stays readable
            region_side = max(bbox[2] - bbox[0], bbox[3] - bbox[1], 1.0)
            scale = min(4.0, max(scale, side / 2 / region_side))
        image = pdf_page.render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    if bbox is not None:
        x0, y0, x1, y1 = (max(0.0, v * scale) for v in bbox)
        image = image.crop((int(x0), int(y0), int(min(x1, image.width)) or 1, int(min(y1, image.height)) or 1))
    return image


def video_frame(path: str, seconds: float):
    """The first frame at or after ``seconds`` in a video, as a PIL image."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.time_base:
            container.seek(int(max(0.0, seconds) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= seconds - 0.05:
                return frame.to_image().convert("RGB")
    return None


def item_picture(item: Item) -> Any:
    """What a vision model should see for ``item``, or None for text and audio (or a file that moved)."""
    from polyseek.inputs import load_image

    try:
        keyframe = item.metadata.get("keyframe") if isinstance(item.metadata, dict) else None
        if keyframe:
            return load_image(keyframe)
        if item.modality == Modality.IMAGE:
            return load_image(item.path)
        if item.modality in (Modality.PAGE, Modality.REGION) and item.locator.page is not None:
            bbox = item.locator.bbox if item.modality == Modality.REGION else None
            return render_pdf_page(item.path, item.locator.page, bbox)
        if item.modality == Modality.VIDEO_MOMENT and item.locator.start is not None:
            return video_frame(item.path, float(item.locator.start))
    except Exception as exc:  # noqa: BLE001 - a moved or damaged file loses its picture, not the answer
        log.warning("no picture for %s (%s): %s", item.id, item.path, exc)
    return None
