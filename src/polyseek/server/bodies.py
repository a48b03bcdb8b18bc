"""Request bodies: pydantic models, and one reader that takes JSON or multipart (with file parts) alike."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polyseek.errors import InvalidInputError
from polyseek.types import Filters, Modality

MAX_FILES = 8  # image parts per request (concept images); searches use one


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiltersIn(Body):
    path_glob: str | None = Field(None, max_length=500, description="Only paths matching this glob, e.g. '*/2024/*'")
    file_types: list[str] = Field(default_factory=list, max_length=32, description="Extensions without dot: jpg, pdf")
    modalities: list[str] = Field(default_factory=list, max_length=8, description="image, page, region, video_moment, ...")
    date_from: str | float | None = Field(None, description="YYYY-MM-DD or a POSIX timestamp")
    date_to: str | float | None = Field(None, description="YYYY-MM-DD or a POSIX timestamp")

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
        return float(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be a date like 2024-05-31, got {value!r}") from None
    if end_of_day and len(value) <= 10:  # a bare date includes the whole day
        return parsed.timestamp() + 86_399.999
    return parsed.timestamp()


class SearchRequest(Body):
    """``{"text": "...", "k": N}``; multipart also takes an ``image`` part. Syntax: ``"2:red car" - "night"``."""

    text: str | None = Field(None, max_length=2000, description='Query text, rclip syntax: "2:golden retriever" - "fruit"')
    k: int = Field(10, ge=1, le=1000)
    image_weight: float = Field(1.0, ge=-10, le=10, description="Weight of the image in a composed query")
    text_weight: float = Field(1.0, ge=-10, le=10, description="Weight of the text in a composed query")
    filters: FiltersIn | None = None
    instruction: str | None = Field(None, max_length=500)
    signals: list[Literal["image", "text", "lexical"]] = Field(default_factory=list, description="Empty: all signals")
    rerank: bool | None = Field(None, description="Cross-encoder rerank; null: the engine decides (on when PDF pages lead)")
    like: str | None = Field(None, max_length=200, description="Id of an indexed image item to use as the query image")


class AskRequest(Body):
    question: str = Field(..., min_length=1, max_length=2000)
    k: int | None = Field(None, ge=1, le=50)
    adaptive: bool = True
    stream: bool = Field(True, description="Answer as server-sent events (text/event-stream); false: one JSON object")


class JobRequest(Body):
    path: str = Field("", max_length=4096, description="Folder or file: absolute, or relative to the root")
    root: int | None = Field(None, ge=0, description="Root number (GET /api/roots); needed with several roots")


class ConceptIn(Body):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=4000)
    attributes: dict[str, Any] | None = None


class ConceptPatch(Body):
    description: str | None = Field(None, max_length=4000)
    attributes: dict[str, Any] | None = None
    keep_images: bool = Field(True, description="With uploaded images: add them (true) or replace the old ones")


class ConceptImport(Body):
    items: list[dict[str, Any]] = Field(..., max_length=10_000)
    replace: bool = False


class LoginRequest(Body):
    token: str = Field(..., min_length=1, max_length=512)


class Upload:
    """One uploaded file part, kept in memory (the body limit bounds its size)."""

    def __init__(self, filename: str, content_type: str, data: bytes) -> None:
        self.filename = filename
        self.content_type = content_type
        self.data = data


JSON_FIELDS = {"filters", "attributes", "items"}  # multipart fields that carry JSON
LIST_FIELDS = {"signals", "file_types", "modalities"}


async def read_body(request: Any, model: type[Body]) -> tuple[Body, dict[str, list[Upload]]]:
    """Parse a JSON or multipart/form-data request into ``model`` plus its file parts by field name."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    uploads: dict[str, list[Upload]] = {}
    if content_type == "multipart/form-data" or content_type == "application/x-www-form-urlencoded":
        data: dict[str, Any] = {}
        async with request.form(max_files=MAX_FILES, max_fields=64) as form:
            for key, value in form.multi_items():
                if hasattr(value, "read"):  # an UploadFile
                    content = await value.read()
                    if content:
                        uploads.setdefault(key, []).append(
                            Upload(value.filename or "", value.content_type or "", content))
                    continue
                if key in JSON_FIELDS and value.strip():
                    try:
                        data[key] = json.loads(value)
                    except json.JSONDecodeError:
                        raise InvalidInputError(f"form field {key!r} must hold JSON") from None
                elif key in LIST_FIELDS:
                    data.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
                elif value != "":
                    data[key] = value
    elif content_type in ("application/json", "") or content_type.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            data = {}
        else:
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise InvalidInputError("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidInputError("request body must be a JSON object")
    else:
        raise InvalidInputError(f"unsupported content type {content_type!r}",
                                hint="send application/json or multipart/form-data")
    try:
        return model.model_validate(data), uploads
    except ValidationError as exc:
        raise BodyValidationError(exc) from None


class BodyValidationError(InvalidInputError):
    """A body that parsed but does not fit the schema: answered 422 with the fields at fault."""

    code = "invalid_body"

    def __init__(self, exc: ValidationError) -> None:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]]
        super().__init__("request body does not fit the schema: " + "; ".join(problems))
        self.problems = problems


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
