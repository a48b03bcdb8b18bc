"""polyseek inside other frameworks: LangChain and LlamaIndex retrievers (optional extras).

``polyseek.integrations.langchain`` needs ``pip install 'polyseek[langchain]'``;
``polyseek.integrations.llama_index`` needs ``pip install 'polyseek[llama-index]'``.
"""

from __future__ import annotations

import base64
from typing import Any

from polyseek.types import Hit, Modality

# an image, a PDF page or region, a video keyframe: hits a multimodal model can look at
PICTURED = frozenset({Modality.IMAGE, Modality.PAGE, Modality.REGION, Modality.VIDEO_MOMENT})


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """Everything a hit says but its text: id, score, modality, path, locator (and its human form), scores."""
    data = hit.to_dict()
    data.pop("text", None)
    data["source"] = hit.item.path
    data["where"] = hit.item.locator.describe()
    return data


def hit_text(hit: Hit) -> str:
    """The text a framework's prompt gets: the item's text, or a line naming a picture that has none."""
    text = hit.item.text.strip()
    if text:
        return text
    where = hit.item.locator.describe()
    return f"[{hit.item.modality.value}] {hit.item.path}" + (f" ({where})" if where else "")


def thumbnail_base64(engine: Any, hit: Hit, side: int = 512) -> str | None:
    """A JPEG of the hit (image, page with its best region outlined, keyframe) as base64, or None."""
    if hit.item.modality not in PICTURED:
        return None
    from polyseek.errors import PolyseekError
    from polyseek.preview import render_preview
    from polyseek.server.media import encode_image

    region = hit.best_region
    outline = region.locator.bbox if region is not None and region.locator.bbox is not None else None
    try:
        image = render_preview(engine, hit.item, max_side=side, outline=outline)
    except PolyseekError:
        return None
    return base64.b64encode(encode_image(image, "JPEG", quality=80)).decode("ascii")
