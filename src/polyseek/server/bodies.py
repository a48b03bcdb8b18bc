"""Request bodies: pydantic models, and the dependencies that read them from JSON or multipart alike."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from polyseek.errors import InvalidBodyError, InvalidInputError
from polyseek.server.uploads import MAX_FILES, Upload
from polyseek.types import Filters, Modality

Timestamp = Annotated[float, Field(allow_inf_nan=False, ge=-1e11, le=1e11)]  # POSIX seconds, years 1 to 5138
DateText = Annotated[str, Field(max_length=40)]
B = TypeVar("B", bound="Body")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiltersIn(Body):
    path_glob: str | None = Field(None, max_length=500, description="Only paths matching this glob, e.g. '*/2024/*'")
    file_types: list[str] = Field(default_factory=list, max_length=32, description="Extensions without dot: jpg, pdf")
    modalities: list[str] = Field(default_factory=list, max_length=8, description="image, page, region, video_moment, ...")
    date_from: Timestamp | DateText | None = Field(None, description="YYYY-MM-DD or a POSIX timestamp")
    date_to: Timestamp | DateText | None = Field(None, description="YYYY-MM-DD or a POSIX timestamp")

    def to_filters(self) -> Filters:
        return Filters(
            path_glob=self.path_glob or None,
            file_types=tuple(t.lower().lstrip(".") for t in self.file_types if t.strip()),
            modalities=tuple(Modality.parse(m) for m in self.modalities),
            date_from=_date(self.date_from, "date_from"),
            date_to=_date(self.date_to, "date_to", end_of_day=True),
        )


def _date(value: str | float | None, name: str, end_of_day: bool = False) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):  # pydantic refuses these already; a direct caller may not
            raise InvalidInputError(f"{name} must be a finite number of seconds, got {value!r}")
        return float(value)
    try:
        parsed = datetime.fromisoformat(value)
        stamp = parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError(f"{name} must be a date like 2024-05-31, got {value[:40]!r}") from None
    if end_of_day and len(value) <= 10:  # a bare date includes the whole day
        return stamp + 86_399.999
    return stamp


class SearchRequest(Body):
    """``{"text": "...", "k": N}``; multipart also takes an ``image`` part. Syntax: ``"2:red car" - "night"``."""

    text: str | None = Field(None, max_length=2000, description='Query text, rclip syntax: "2:golden retriever" - "fruit"')
    k: int = Field(10, ge=1, le=1000)
    image_weight: float = Field(1.0, ge=-10, le=10, allow_inf_nan=False, description="Weight of the image in a composed query")
    text_weight: float = Field(1.0, ge=-10, le=10, allow_inf_nan=False, description="Weight of the text in a composed query")
    filters: FiltersIn | None = None
    instruction: str | None = Field(None, max_length=500)
    signals: list[Literal["image", "text", "lexical"]] = Field(default_factory=list, description="Empty: all signals")
    rerank: bool | None = Field(None, description="Cross-encoder rerank; null: the engine decides (on when PDF pages lead)")
    like: str | None = Field(None, max_length=200, description="More like this indexed item (its id): searched with its own "
                             "vectors, never returned itself, its own kind first")


class AskRequest(Body):
    question: str = Field(..., min_length=1, max_length=2000)
    k: int | None = Field(None, ge=1, le=50)
    adaptive: bool = True
    stream: bool = Field(True, description="Answer as server-sent events (text/event-stream); false: one JSON object")


class JobRequest(Body):
    path: str = Field("", max_length=4096, description="Folder or file: absolute, or relative to the root")
    root: int | None = Field(None, ge=0, description="Root number (GET /api/roots); needed with several roots")


ItemIds: Any = Field(default_factory=list, max_length=32, description="Ids of indexed image items to use as reference images")


class ConceptIn(Body):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=4000)
    attributes: dict[str, Any] | None = None
    image_ids: list[Annotated[str, Field(max_length=200)]] = ItemIds


class ConceptPatch(Body):
    description: str | None = Field(None, max_length=4000)
    attributes: dict[str, Any] | None = None
    keep_images: bool = Field(True, description="With uploaded images: add them (true) or replace the old ones")
    image_ids: list[Annotated[str, Field(max_length=200)]] = ItemIds


class ConceptImport(Body):
    items: list[dict[str, Any]] = Field(..., max_length=10_000)
    replace: bool = False


class LoginRequest(Body):
    token: str = Field(..., min_length=1, max_length=512)


JSON_FIELDS = {"filters", "attributes", "items"}  # multipart fields that carry JSON
LIST_FIELDS = {"signals", "file_types", "modalities", "image_ids"}
MAX_JSON_DEPTH = 32  # bodies are shallow; a deeper one is refused before it reaches a validator


@dataclass(frozen=True)
class ParsedRequest:
    """A request body as fields plus file parts, read once per request (JSON or multipart alike)."""

    data: dict[str, Any]
    uploads: dict[str, list[Upload]]


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not a JSON number", hint="send finite numbers only")


def parse_json(raw: bytes | str, what: str = "request body") -> Any:
    """Strict JSON: no NaN or Infinity, nesting at most :data:`MAX_JSON_DEPTH` deep; bad input is a 400."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidInputError(f"{what} is nested too deeply", hint=f"at most {MAX_JSON_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInputError(f"{what} is not valid JSON") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise InvalidInputError(f"{what} is nested too deeply", hint=f"at most {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


async def parse_request(request: Request) -> ParsedRequest:
    """The body of ``request`` as fields and file parts; parsed once, whichever dependency asks first."""
    cached = getattr(request.state, "polyseek_body", None)
    if cached is not None:
        return cached
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    uploads: dict[str, list[Upload]] = {}
    data: dict[str, Any] = {}
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            async with request.form(max_files=MAX_FILES, max_fields=64) as form:
                for key, value in form.multi_items():
                    if not isinstance(value, str):  # an UploadFile
                        content = await value.read()
                        if content:
                            uploads.setdefault(key, []).append(
                                Upload(key, value.filename or "", value.content_type or "", content))
                    elif key in JSON_FIELDS and value.strip():
                        data[key] = parse_json(value, f"form field {key!r}")
                    elif key in LIST_FIELDS:
                        data.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
                    elif value != "":
                        data[key] = value
        except (MultiPartException, HTTPException) as exc:
            detail = getattr(exc, "message", None) or getattr(exc, "detail", None) or "malformed form data"
            raise InvalidInputError(f"cannot read the form: {detail}",
                                    hint=f"send at most {MAX_FILES} files and 64 fields") from None
    elif content_type in ("application/json", "") or content_type.endswith("+json"):
        raw = await request.body()
        if raw.strip():
            data = parse_json(raw)
        if not isinstance(data, dict):
            raise InvalidInputError("request body must be a JSON object")
    else:
        raise InvalidInputError(f"unsupported content type {content_type!r}",
                                hint="send application/json or multipart/form-data")
    parsed = ParsedRequest(data, uploads)
    request.state.polyseek_body = parsed
    return parsed


def body_of(model: type[B]) -> Callable[[Request], Awaitable[B]]:
    """A FastAPI dependency giving the request body as ``model``, from JSON or multipart fields.

    >>> async def search(body: Annotated[SearchRequest, Depends(body_of(SearchRequest))]): ...  # doctest: +SKIP
    """

    async def dependency(request: Request) -> B:
        parsed = await parse_request(request)
        try:
            return model.model_validate(parsed.data)
        except ValidationError as exc:
            raise InvalidBodyError(_problems(exc)) from None

    dependency.__name__ = f"{model.__name__}_body"
    return dependency


async def uploaded_files(request: Request) -> dict[str, list[Upload]]:
    """A FastAPI dependency giving the request's file parts by field name (none for a JSON body)."""
    return (await parse_request(request)).uploads


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}"[:300])
    return problems


def schema_refs(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON schemas for OpenAPI ``components.schemas`` (nested models included)."""
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def request_body(model: type[BaseModel], files: dict[str, str] | None = None) -> dict[str, Any]:
    """``openapi_extra`` documenting a body that is JSON, or multipart with the same fields plus files."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    content: dict[str, Any] = {"application/json": {"schema": ref}}
    if files:
        props = {name: {"type": "string", "format": "binary", "description": text} for name, text in files.items()}
        content["multipart/form-data"] = {"schema": {"allOf": [ref, {"type": "object", "properties": props}]}}
    return {"requestBody": {"required": True, "content": content}}
