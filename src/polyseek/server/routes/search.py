"""``POST /api/search``: JSON ``{"text", "k"}`` or multipart with an ``image`` part; answers like ``search --json``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from polyseek.errors import InvalidInputError
from polyseek.server import bodies
from polyseek.server.app import ServerState, get_state
from polyseek.server.security import ForbiddenError
from polyseek.types import Modality, QueryPart

router = APIRouter(tags=["search"])


class HitOut(BaseModel):
    id: str
    score: float
    modality: str
    path: str
    locator: dict[str, Any]
    text: str
    scores: dict[str, float]
    metadata: dict[str, Any]


class SearchResponse(BaseModel):
    hits: list[HitOut]
    took_ms: float


def query_parts(state: ServerState, text: str | None, text_weight: float) -> list[QueryPart]:
    """rclip syntax as in the CLI, except that image terms must name files inside the roots.

    A path outside the roots, missing or not, gets the same answer: the API must not reveal the server's files.
    """
    from polyseek.inputs import load_image
    from polyseek.search.query_syntax import parse_query_syntax

    if not text or not text.strip():
        return []
    try:
        terms = parse_query_syntax(text)
    except InvalidInputError as exc:
        if exc.message.startswith("image file not found"):
            raise ForbiddenError("image paths in queries must be inside a configured root folder",
                                 hint="upload the image as the 'image' part instead") from None
        raise
    parts = []
    for weight, kind, value in terms:
        if kind == "text":
            parts.append(QueryPart(weight=weight * text_weight, text=value))
            continue
        resolved = Path(value).resolve()
        if not state.policy.roots or not state.policy.contains(resolved):
            raise ForbiddenError("image paths in queries must be inside a configured root folder",
                                 hint="upload the image as the 'image' part instead")
        parts.append(QueryPart(weight=weight, image=load_image(resolved)))
    return parts


def like_image(state: ServerState, item_id: str):
    """The file of an indexed image item, as a query image ("more like this")."""
    from polyseek.inputs import load_image

    item = state.engine.get(item_id)
    if item.modality != Modality.IMAGE:
        raise InvalidInputError(f"item {item_id!r} is a {item.modality.value}, not an image", hint="'like' takes image items")
    return load_image(item.path)


def upload_image(uploads: dict[str, list[bodies.Upload]], field: str = "image"):
    from polyseek.inputs import load_image

    files = uploads.get(field, [])
    if len(files) > 1:
        raise InvalidInputError(f"send one {field!r} part, got {len(files)}")
    return load_image(files[0].data) if files else None  # decoded in memory, never written to disk


@router.post("/api/search", summary="Search with text, an image, or both", response_model=None,
             responses={200: {"model": SearchResponse}},
             openapi_extra=bodies.request_body(bodies.SearchRequest, {"image": "query image (JPEG, PNG, WebP, ...)"}))
async def search(request: Request) -> dict:
    body, uploads = await bodies.read_body(request, bodies.SearchRequest)
    state = get_state(request)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(run_search, state, body, uploads)


def run_search(state: ServerState, body: bodies.SearchRequest, uploads: dict[str, list[bodies.Upload]]) -> dict:
    started = time.perf_counter()
    image = upload_image(uploads)
    if body.like:
        if image is not None:
            raise InvalidInputError("give either an uploaded image or 'like', not both")
        image = like_image(state, body.like)
    parts = query_parts(state, body.text, body.text_weight)
    if not parts and image is None:
        raise InvalidInputError("nothing to search for", hint='send {"text": "..."} or an image part')
    filters = body.filters.to_filters() if body.filters else None
    engine = state.engine
    with state.search_slots:
        hits = engine.search(parts or None, image=image, k=body.k, filters=filters, instruction=body.instruction,
                             image_weight=body.image_weight, spaces=body.signals, rerank=body.rerank)
    return {"hits": [hit.to_dict() for hit in hits], "took_ms": round((time.perf_counter() - started) * 1000, 2)}
