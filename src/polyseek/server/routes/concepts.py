"""Concept memory over HTTP: list, read, create, edit, delete, export and import named concepts.

Reference images come as uploads (saved under the server's private temp dir: they are embedded at once, and
the embedding outlives the file) or as ids of indexed image items (their files stay where they are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from polyseek.errors import ForbiddenError, InvalidInputError, NotFoundError
from polyseek.server import bodies
from polyseek.server.deps import (
    ConceptBody,
    ConceptImportBody,
    ConceptPatchBody,
    EngineDep,
    StateDep,
    UploadsDep,
)
from polyseek.server.media import media_type
from polyseek.server.state import ServerState
from polyseek.server.uploads import Uploads, save_reference_images
from polyseek.types import Modality

router = APIRouter(tags=["concepts"])
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


def concept_out(concept: Any) -> dict[str, Any]:
    out = concept.to_dict()
    name = quote(concept.name, safe="")
    out["image_urls"] = [f"/api/concepts/{name}/images/{i}" for i in range(len(out.get("images", [])))]
    return out


def save_uploads(state: ServerState, uploads: Uploads) -> list[str]:
    """Uploaded reference images, re-encoded under the server's private temp dir."""
    return save_reference_images(uploads, state.decodes, state.temp_dir / "concepts")


def item_images(state: ServerState, ids: list[str]) -> list[str]:
    """Files of indexed image items, as reference images (they stay where they are)."""
    paths = []
    for item_id in ids:
        item = state.engine.get(item_id)
        if item.modality != Modality.IMAGE:
            raise InvalidInputError(f"item {item_id!r} is a {item.modality.value}, not an image")
        state.policy.servable(item.path)
        paths.append(item.path)
    return paths


def readable_here(state: ServerState, raw: str) -> Path | None:
    """The real path of a reference image the server may read and serve (in a root, in its temp dir, or an
    indexed file that still resolves where it was indexed), or None."""
    try:
        path = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a loop, a NUL byte
        return None
    if state.policy.contains(path) or path.is_relative_to(state.temp_dir.resolve()):
        return path
    try:
        state.engine.file_items(str(Path(raw)))
        return state.policy.servable(raw)
    except NotFoundError:
        return None


def _exists(raw: str) -> bool:
    try:
        return Path(raw).exists()
    except (OSError, ValueError):
        return False


def check_import(state: ServerState, items: list[dict[str, Any]]) -> None:
    """Imported image paths that exist here must be ones the server may read (else a client could embed and
    then download any image on the machine); paths that do not exist fall back on the stored embedding."""
    for item in items:
        images = item.get("images") if isinstance(item, dict) else None
        for raw in images if isinstance(images, list) else []:
            if isinstance(raw, str) and _exists(raw) and readable_here(state, raw) is None:
                raise ForbiddenError(f"concept {item.get('name')!r}: image {raw} is outside the roots and the index",
                                     hint="upload reference images, or pick indexed photos")


@router.get("/api/concepts", summary="All concepts")
def list_concepts(engine: EngineDep) -> dict:
    return {"concepts": [concept_out(c) for c in engine.concepts.list()]}


@router.get("/api/concepts/export", summary="Concepts as JSON, with their embeddings, for import elsewhere")
def export_concepts(engine: EngineDep) -> JSONResponse:
    data = engine.concepts.export()
    return JSONResponse({"concepts": data}, headers={"content-disposition": 'attachment; filename="concepts.json"'})


@router.post("/api/concepts/import", summary="Add or overwrite concepts from an export",
             openapi_extra=bodies.request_body(bodies.ConceptImport))
async def import_concepts(body: ConceptImportBody, state: StateDep, engine: EngineDep) -> dict:
    check_import(state, body.items)
    count = await run_in_threadpool(engine.concepts.import_, body.items, replace=body.replace)
    return {"imported": count}


@router.get("/api/concepts/{name}", summary="One concept")
def get_concept(name: str, engine: EngineDep) -> dict:
    return concept_out(engine.concepts.get(name))


@router.post("/api/concepts", status_code=201, summary="Create a concept (JSON, or multipart with `images` parts)",
             openapi_extra=bodies.request_body(bodies.ConceptIn, {"images": "reference images (repeat the part)"}))
async def create_concept(body: ConceptBody, uploads: UploadsDep, state: StateDep, engine: EngineDep) -> JSONResponse:

    def create() -> Any:
        images = item_images(state, body.image_ids) + save_uploads(state, uploads)
        return engine.concepts.add(body.name, description=body.description, attributes=body.attributes, images=images)

    concept = await run_in_threadpool(create)
    return JSONResponse(concept_out(concept), status_code=201)


@router.patch("/api/concepts/{name}", summary="Edit a concept; images given are added (or replace, keep_images=false)",
              openapi_extra=bodies.request_body(bodies.ConceptPatch, {"images": "reference images to add"}))
async def update_concept(name: str, body: ConceptPatchBody, uploads: UploadsDep, state: StateDep,
                         engine: EngineDep) -> dict:

    def update() -> Any:
        new_images = item_images(state, body.image_ids) + save_uploads(state, uploads)
        images = None
        if new_images:
            images = (list(engine.concepts.get(name).images) if body.keep_images else []) + new_images
        elif not body.keep_images:
            images = []
        return engine.concepts.update(name, description=body.description, attributes=body.attributes, images=images)

    return concept_out(await run_in_threadpool(update))


@router.delete("/api/concepts/{name}", summary="Delete a concept")
def delete_concept(name: str, engine: EngineDep) -> dict:
    engine.concepts.remove(name)
    return {"removed": name}


@router.get("/api/concepts/{name}/images/{index}", summary="A concept's reference image")
def concept_image(name: str, index: int, state: StateDep) -> FileResponse:
    concept = state.engine.concepts.get(name)
    if not 0 <= index < len(concept.images):
        raise NotFoundError(f"concept {name!r} has no image number {index}")
    raw = str(concept.images[index])
    path = readable_here(state, raw) if Path(raw).suffix.lower() in IMAGE_EXTENSIONS else None
    if path is None or not path.is_file():
        raise NotFoundError(f"reference image {index} of {name!r} is no longer on disk")
    return FileResponse(path, media_type=media_type(path), headers={"cache-control": "private, max-age=60"})
