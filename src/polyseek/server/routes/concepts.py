"""Concept memory over HTTP: list, read, create, edit, delete, export and import named concepts.

Reference images come as uploads (saved under the server's private temp dir: they are embedded at once, and
the embedding outlives the file) or as ids of indexed image items (their files stay where they are).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.server import bodies
from polyseek.server.app import ServerState, get_state
from polyseek.server.media import media_type
from polyseek.server.security import ForbiddenError, NotAvailableError
from polyseek.types import Modality

router = APIRouter(tags=["concepts"])
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


def _engine(request: Request) -> Any:
    engine = get_state(request).engine
    if not hasattr(engine, "concepts"):
        raise NotAvailableError("concept memory is not available in this installation")
    return engine


def concept_out(concept: Any) -> dict[str, Any]:
    out = concept.to_dict()
    name = quote(concept.name, safe="")
    out["image_urls"] = [f"/api/concepts/{name}/images/{i}" for i in range(len(out.get("images", [])))]
    return out


def save_uploads(state: ServerState, uploads: dict[str, list[bodies.Upload]]) -> list[str]:
    """Check each upload is a readable image, then write it under the private temp dir with a generated name."""
    from polyseek.inputs import load_image

    paths = []
    for upload in uploads.get("images", []) + uploads.get("image", []):
        picture = load_image(upload.data)  # refuses non-images and bombs before anything is written
        target = state.temp_dir / "concepts" / f"{uuid.uuid4().hex}.png"
        target.parent.mkdir(exist_ok=True)
        picture.save(target, "PNG")  # re-encoded: the bytes written are never the client's bytes
        paths.append(str(target))
    return paths


def item_images(state: ServerState, ids: Any) -> list[str]:
    if ids in (None, "", []):
        return []
    if isinstance(ids, str):
        ids = [i.strip() for i in ids.split(",") if i.strip()]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInputError("image_ids must be a list of item ids")
    paths = []
    for item_id in ids[:32]:
        item = state.engine.get(item_id)
        if item.modality != Modality.IMAGE:
            raise InvalidInputError(f"item {item_id!r} is a {item.modality.value}, not an image")
        paths.append(item.path)
    return paths


def readable_here(state: ServerState, raw: str) -> bool:
    """A reference image the server may read and serve: in a root, in its temp dir, or an indexed file."""
    try:
        path = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    if state.policy.contains(path) or path.is_relative_to(state.temp_dir.resolve()):
        return True
    try:
        state.engine.file_items(str(Path(raw)))
        return True
    except NotFoundError:
        return False


def check_import(state: ServerState, items: list[dict[str, Any]]) -> None:
    """Imported image paths that exist here must be ones the server may read (else a client could embed and
    then download any image on the machine); paths that do not exist fall back on the stored embedding."""
    for item in items:
        images = item.get("images") if isinstance(item, dict) else None
        for raw in images if isinstance(images, list) else []:
            if isinstance(raw, str) and Path(raw).exists() and not readable_here(state, raw):
                raise ForbiddenError(f"concept {item.get('name')!r}: image {raw} is outside the roots and the index",
                                     hint="upload reference images, or pick indexed photos")


class ConceptForm(bodies.ConceptIn):
    image_ids: list[str] | str | None = None


class ConceptPatchForm(bodies.ConceptPatch):
    image_ids: list[str] | str | None = None


@router.get("/api/concepts", summary="All concepts")
def list_concepts(request: Request) -> dict:
    return {"concepts": [concept_out(c) for c in _engine(request).concepts()]}


@router.get("/api/concepts/export", summary="Concepts as JSON, with their embeddings, for import elsewhere")
def export_concepts(request: Request) -> JSONResponse:
    data = _engine(request).export_concepts()
    return JSONResponse({"concepts": data}, headers={"content-disposition": 'attachment; filename="concepts.json"'})


@router.post("/api/concepts/import", summary="Add or overwrite concepts from an export",
             openapi_extra=bodies.request_body(bodies.ConceptImport))
async def import_concepts(request: Request) -> dict:
    engine = _engine(request)
    body, _ = await bodies.read_body(request, bodies.ConceptImport)
    check_import(get_state(request), body.items)
    count = await run_in_threadpool(engine.import_concepts, body.items, replace=body.replace)
    return {"imported": count}


@router.get("/api/concepts/{name}", summary="One concept")
def get_concept(name: str, request: Request) -> dict:
    return concept_out(_engine(request).get_concept(name))


@router.post("/api/concepts", status_code=201, summary="Create a concept (JSON, or multipart with `images` parts)",
             openapi_extra=bodies.request_body(bodies.ConceptIn, {"images": "reference images (repeat the part)"}))
async def create_concept(request: Request) -> JSONResponse:
    engine = _engine(request)
    state = get_state(request)
    body, uploads = await bodies.read_body(request, ConceptForm)

    def create() -> Any:
        images = item_images(state, body.image_ids) + save_uploads(state, uploads)
        return engine.add_concept(body.name, description=body.description, attributes=body.attributes, images=images)

    concept = await run_in_threadpool(create)
    return JSONResponse(concept_out(concept), status_code=201)


@router.patch("/api/concepts/{name}", summary="Edit a concept; images given are added (or replace, keep_images=false)",
              openapi_extra=bodies.request_body(bodies.ConceptPatch, {"images": "reference images to add"}))
async def update_concept(name: str, request: Request) -> dict:
    engine = _engine(request)
    state = get_state(request)
    body, uploads = await bodies.read_body(request, ConceptPatchForm)

    def update() -> Any:
        new_images = item_images(state, body.image_ids) + save_uploads(state, uploads)
        images = None
        if new_images:
            images = (list(engine.get_concept(name).images) if body.keep_images else []) + new_images
        elif not body.keep_images:
            images = []
        return engine.update_concept(name, description=body.description, attributes=body.attributes, images=images)

    return concept_out(await run_in_threadpool(update))


@router.delete("/api/concepts/{name}", summary="Delete a concept")
def delete_concept(name: str, request: Request) -> dict:
    _engine(request).remove_concept(name)
    return {"removed": name}


@router.get("/api/concepts/{name}/images/{index}", summary="A concept's reference image")
def concept_image(name: str, index: int, request: Request) -> FileResponse:
    state = get_state(request)
    concept = _engine(request).get_concept(name)
    if not 0 <= index < len(concept.images):
        raise NotFoundError(f"concept {name!r} has no image number {index}")
    path = Path(concept.images[index])
    if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file() or not readable_here(state, str(path)):
        raise NotFoundError(f"reference image {index} of {name!r} is no longer on disk")
    return FileResponse(path, media_type=media_type(path), headers={"cache-control": "private, max-age=60"})
