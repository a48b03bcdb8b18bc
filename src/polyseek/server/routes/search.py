"""``POST /api/search``: JSON ``{"text", "k"}`` or multipart with an ``image`` part; answers like ``search --json``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from polyseek.errors import InvalidInputError
from polyseek.search.query_syntax import parse_query_syntax
from polyseek.server import bodies
from polyseek.server.deps import SearchBody, StateDep, UploadsDep
from polyseek.server.state import ServerState
from polyseek.server.uploads import Uploads, one_image
from polyseek.types import QueryPart

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


def no_server_files(path: Path) -> bool:
    """Query text over HTTP never reads the server's disk: a term the syntax would take for an image file
    (``probe.jpg``, ``./x.png``) is refused without looking, so the answer is the same whether it exists or not."""
    raise InvalidInputError(f"queries sent over HTTP cannot name image files ({path.name})",
                            hint="upload the image as the 'image' part, or send 'like' with an item id")


def query_parts(text: str | None, text_weight: float) -> list[QueryPart]:
    """The rclip syntax of the CLI (weights, ``+``/``-``, quoted phrases), with text terms only."""
    if not text or not text.strip():
        return []
    return [QueryPart(weight=weight * text_weight, text=value)
            for weight, _kind, value in parse_query_syntax(text, is_image_file=no_server_files)]


@router.post("/api/search", summary="Search with text, an image, or both", response_model=None,
             responses={200: {"model": SearchResponse}, 503: {"description": "busy: retry after Retry-After seconds"}},
             openapi_extra=bodies.request_body(bodies.SearchRequest, {"image": "query image (JPEG, PNG, WebP, ...)"}))
async def search(body: SearchBody, uploads: UploadsDep, state: StateDep) -> dict:
    return await state.searches.run(run_search, state, body, uploads)


def run_search(state: ServerState, body: bodies.SearchRequest, uploads: Uploads) -> dict:
    started = time.perf_counter()
    parts = query_parts(body.text, body.text_weight)  # refuses bad text before an image is decoded
    image = one_image(uploads, state.decodes)
    if body.like and image is not None:
        raise InvalidInputError("give either an uploaded image or 'like', not both")
    if not parts and image is None and not body.like:
        raise InvalidInputError("nothing to search for", hint='send {"text": "..."} or an image part')
    filters = body.filters.to_filters() if body.filters else None
    engine = state.engine
    hits = engine.search(parts or None, image=image, k=body.k, filters=filters, instruction=body.instruction,
                         image_weight=body.image_weight, spaces=body.signals, rerank=body.rerank, like=body.like)
    return {"hits": [hit.to_dict() for hit in hits], "took_ms": round((time.perf_counter() - started) * 1000, 2)}
