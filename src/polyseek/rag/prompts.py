"""Prompts for grounded answers and zero-shot relevance judging, as OpenAI-style chat messages."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from polyseek.rag.base import ContextBlock

SYSTEM = (
    "You answer questions using only the numbered context below (passages, pictures, document pages, "
    "video moments, audio transcripts) and the user's facts. After every sentence, cite the context it "
    "relies on with its number in brackets, like [1] or [2][3]. If the context does not contain the "
    "answer, say that you cannot tell from the indexed files. Be brief."
)

JUDGE = (
    "You judge search results. Given a question and one candidate (text, a picture, or a page), reply "
    "with a single digit from 0 (unrelated) to 9 (answers the question exactly). Reply with the digit only."
)

IMAGE_SIDE = 768  # long side of pictures sent to a vision model: enough to read a page, small on the wire


def image_part(image: Any, side: int = IMAGE_SIDE) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part holding the picture as a base64 JPEG data URL."""
    picture = image.convert("RGB")
    if max(picture.size) > side:
        picture = picture.copy()
        picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}}


def facts_text(facts: Sequence[str]) -> str:
    return "Facts the user told you:\n" + "\n".join(f"- {fact}" for fact in facts) if facts else ""


ANSWER_CUE = "Answer with citations:"  # a base model (no chat template) gets "Answer:": it cannot follow the citation rules


def answer_messages(question: str, blocks: Sequence[ContextBlock], facts: Sequence[str] = (),
                    with_images: bool = False) -> list[dict[str, Any]]:
    """System + one user message. With images, each block's picture follows its label as an image part."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": "Context:"}]
    for block in blocks:
        body = block.text.strip()
        if not body:
            body = "(no text; see the picture)" if with_images and block.image is not None else "(no text)"
        parts.append({"type": "text", "text": f"\n{block.label}\n{body}"})
        if with_images and block.image is not None:
            parts.append(image_part(block.image))
    tail = "\n\n" + (facts_text(facts) + "\n\n" if facts else "") + f"Question: {question}\n{ANSWER_CUE}"
    parts.append({"type": "text", "text": tail})
    if not with_images:  # plain string content: accepted by every OpenAI-compatible server and chat template
        content: Any = "".join(p["text"] for p in parts)
    else:
        content = parts
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def judge_messages(question: str, block: ContextBlock, with_images: bool) -> list[dict[str, Any]]:
    """Messages asking the model to rate one candidate's relevance to the question with a digit."""
    text = block.text.strip()[:1500] or "(no text)"
    content: list[dict[str, Any]] = [{"type": "text", "text": f"Question: {question}\nCandidate: {text}"}]
    if with_images and block.image is not None:
        content.append(image_part(block.image, side=512))
    content.append({"type": "text", "text": "Relevance digit (0-9):"})
    if not with_images or block.image is None:
        return [{"role": "system", "content": JUDGE}, {"role": "user", "content": "".join(p["text"] for p in content)}]
    return [{"role": "system", "content": JUDGE}, {"role": "user", "content": content}]
