"""``POST /api/recommend``: items like some examples (and unlike others), or next after a history; by item id only."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.server import bodies
from polyseek.server.deps import StateDep
from polyseek.server.state import ServerState

router = APIRouter(tags=["recommend"])
ItemId = Annotated[str, Field(min_length=1, max_length=200)]


class ExampleIn(bodies.Body):
    item: ItemId
    weight: float = Field(1.0, gt=0, le=100, allow_inf_nan=False)


class EventIn(bodies.Body):
    item: ItemId
    timestamp: float = Field(0.0, allow_inf_nan=False, ge=-1e11, le=1e11, description="POSIX seconds")
    rating: float | None = Field(None, allow_inf_nan=False)


class RecommendRequest(bodies.Body):
    """``{"positive": [{"item": ID, "weight": 1}], "negative": [...]}`` or ``{"history": [{"item", "timestamp", "rating"}]}``."""

    positive: list[ExampleIn | ItemId] = Field(default_factory=list, max_length=200)
    negative: list[ExampleIn | ItemId] = Field(default_factory=list, max_length=200)
    history: list[EventIn] = Field(default_factory=list, max_length=5000)
    method: Literal["multimodal", "average_vector", "best_score", "history", "sequential", "content_cf"] | None = None
    k: int = Field(10, ge=1, le=1000)
    exclude: list[ItemId] = Field(default_factory=list, max_length=10_000, description="Items not to recommend")
    include_seen: bool = Field(False, description="Let the history's items come back")
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="MMR: 0 off, 1 only diversity")
    filters: bodies.FiltersIn | None = None


RecommendBody = Annotated[RecommendRequest, Depends(bodies.body_of(RecommendRequest))]


def _known(state: ServerState, ids: list[str]) -> None:
    """Examples over HTTP are item ids: a server path is never read on a client's behalf."""
    found = {row.id for row in state.engine.store.get(ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"no item with id {missing[0]!r}", hint="give ids of indexed items (e.g. from search results)")


def run_recommend(state: ServerState, body: RecommendRequest) -> dict:
    from polyseek.recommend import recommend

    started = time.perf_counter()
    positive = [(e, 1.0) if isinstance(e, str) else (e.item, e.weight) for e in body.positive]
    negative = [(e, 1.0) if isinstance(e, str) else (e.item, e.weight) for e in body.negative]
    if not positive and not body.history:
        raise InvalidInputError("nothing to recommend from", hint='send {"positive": [ITEM_ID]} or {"history": [...]}')
    _known(state, [i for i, _ in positive + negative])  # a history's unknown items are skipped, as in the CLI
    hits = recommend(state.engine, positive=positive, negative=negative,
                     history=[(e.item, e.timestamp, e.rating) for e in body.history], method=body.method, k=body.k,
                     filters=body.filters.to_filters() if body.filters else None, exclude=body.exclude,
                     exclude_seen=not body.include_seen, diversity=body.diversity)
    return {"hits": [hit.to_dict() for hit in hits], "took_ms": round((time.perf_counter() - started) * 1000, 2)}


def _inline_schema(model: type[bodies.Body]) -> dict[str, Any]:
    """The body's JSON schema with nested models inlined (this route's models are not in the app's components)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


@router.post("/api/recommend", summary="Recommend items from examples or a history", response_model=None,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _inline_schema(RecommendRequest)}}}})
async def recommend_route(body: RecommendBody, state: StateDep) -> dict:
    return await state.searches.run(run_recommend, state, body)
