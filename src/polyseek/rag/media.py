"""Pictures of retrieved items for vision models: the image itself, the page render (a region outlined on
it), a video moment's keyframe. Rendering reuses :mod:`polyseek.preview` (which holds PDFium's lock)."""

from __future__ import annotations

import logging
from typing import Any

from polyseek.types import Item, Modality

log = logging.getLogger(__name__)
RENDER_SIDE = 1024  # long side of a page render: small print stays legible, the request stays small


def item_picture(item: Item, side: int = RENDER_SIDE) -> Any:
    """What a vision model should see for ``item``, or None for text and audio (or a file that moved)."""
    try:
        if item.modality in (Modality.PAGE, Modality.REGION) and item.locator.page is not None:
            from polyseek.preview import render_pdf_page

            outline = item.locator.bbox if item.modality == Modality.REGION else None
            return render_pdf_page(item.path, int(item.locator.page), side, outline)
        if item.modality == Modality.IMAGE:
            from polyseek.inputs import load_image

            picture = load_image(item.path)
            picture.thumbnail((side, side))
            return picture
        if item.modality == Modality.VIDEO_MOMENT and item.locator.start is not None:
            from polyseek.ingest.video import keyframe_at
            from polyseek.preview import moment_time

            return keyframe_at(item.path, moment_time(item)).convert("RGB")
    except Exception as exc:  # noqa: BLE001 - a moved or damaged file loses its picture, not the answer
        log.warning("no picture for %s (%s): %s", item.id, item.path, exc)
    return None
