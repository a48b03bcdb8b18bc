"""Items and their media: detail, original file (byte ranges for seeking), thumbnails, page renders; browse; delete."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from polyseek.errors import NotFoundError
from polyseek.preview import render_preview
from polyseek.server.deps import EngineDep, StateDep
from polyseek.server.media import PREVIEW_SIZES, THUMB_SIZES, encode_image, file_fingerprint, media_type, served_type, snap
from polyseek.server.state import ServerState
from polyseek.types import Item, Locator, Modality

router = APIRouter(tags=["items"])
RENDERED = {Modality.IMAGE, Modality.PAGE, Modality.REGION, Modality.VIDEO_MOMENT}
IMAGE_CACHE = "private, max-age=600"


def page_size(item: Item) -> list[float] | None:
    """Width and height of the item's PDF page in points (as displayed), to draw its region over a page render."""
    meta = item.metadata or {}
    if item.modality == Modality.PAGE and meta.get("width") and meta.get("height"):
        return [float(meta["width"]), float(meta["height"])]
    if item.locator.page is None or not item.path.lower().endswith(".pdf"):
        return None
    try:
        from polyseek.ingest.pdf import PDFIUM_LOCK, open_pdf, page_geometry

        with open_pdf(item.path) as document, PDFIUM_LOCK:  # PDFium is not thread-safe
            geometry = page_geometry(document[item.locator.page - 1], Path(item.path).name, item.locator.page)
        return [geometry.width, geometry.height]
    except Exception:  # noqa: BLE001 - a missing or damaged file just means no overlay
        return None


def links(item: Item) -> dict[str, str]:
    base = f"/api/items/{item.id}"
    out = {"self": base, "file": f"{base}/file"}
    if item.modality in RENDERED:
        out["thumbnail"] = f"{base}/thumbnail"
        out["preview"] = f"{base}/preview"
    if item.locator.page is not None:
        out["page"] = f"{base}/page"
    return out


def item_out(item: Item) -> dict[str, Any]:
    return {**item.to_dict(), "links": links(item)}


@router.get("/api/items/{item_id}", summary="One item, its file's details, and links to its media")
def get_item(item_id: str, engine: EngineDep) -> dict:
    item = engine.get(item_id)
    out = item_out(item)
    try:
        stat = os.stat(item.path)
        out["file"] = {"name": Path(item.path).name, "size": stat.st_size, "mtime": stat.st_mtime,
                       "media_type": media_type(item.path), "exists": True}
    except OSError:
        out["file"] = {"name": Path(item.path).name, "exists": False, "media_type": media_type(item.path)}
    if item.locator.page is not None:
        out["page_size"] = page_size(item)
    return out


@router.get("/api/items/{item_id}/file", summary="The item's original file; honours Range for seeking in media")
def get_file(item_id: str, state: StateDep) -> FileResponse:
    item = state.engine.get(item_id)
    # Only files the index holds are served (the path comes from the store, never from the request), and only
    # while they still resolve where they were indexed: a file swapped for a symlink to elsewhere is refused.
    path = state.policy.servable(item.path)
    kind, disposition = served_type(path)
    return FileResponse(path, media_type=kind, headers={"cache-control": "private, max-age=60"},
                        content_disposition_type=disposition, filename=path.name)


def _render(state: ServerState, item: Item, kind: str, size: int, request: Request) -> Response:
    real = str(state.policy.servable(item.path))
    item = dataclasses.replace(item, path=real)  # renders read the checked file, not what the link points to now
    key = f"{kind}:{size}:{item.id}:{item.locator.key()}:{file_fingerprint(item.path)}"

    def render() -> bytes:
        image = render_preview(state.engine, item, max_side=size)
        return encode_image(image, quality=80 if kind == "thumbnail" else 88)

    data, etag = state.images.get_or_render(key, render)
    headers = {"etag": etag, "cache-control": IMAGE_CACHE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get("/api/items/{item_id}/thumbnail", summary="A small JPEG: image, page with its region outlined, keyframe",
            response_class=Response)
def thumbnail(item_id: str, request: Request, state: StateDep, size: int = Query(320, ge=32, le=1024)) -> Response:
    item = state.engine.get(item_id)
    _require_rendered(item)
    return _render(state, item, "thumbnail", snap(size, THUMB_SIZES), request)


@router.get("/api/items/{item_id}/preview", summary="A large JPEG: PDF page with the region outlined, image, keyframe",
            response_class=Response)
def preview(item_id: str, request: Request, state: StateDep, size: int = Query(1200, ge=64, le=2400)) -> Response:
    item = state.engine.get(item_id)
    _require_rendered(item)
    return _render(state, item, "preview", snap(size, PREVIEW_SIZES), request)


@router.get("/api/items/{item_id}/page", summary="The item's whole PDF page without outline (the UI draws the region)",
            response_class=Response)
def page(item_id: str, request: Request, state: StateDep, size: int = Query(1200, ge=64, le=2400)) -> Response:
    item = state.engine.get(item_id)
    if item.locator.page is None:
        raise NotFoundError(f"item {item_id!r} is not on a page")
    whole_page = dataclasses.replace(item, modality=Modality.PAGE, locator=Locator(page=item.locator.page))
    return _render(state, whole_page, "page", snap(size, PREVIEW_SIZES), request)


def _require_rendered(item: Item) -> None:
    if item.modality not in RENDERED:
        raise NotFoundError(f"a {item.modality.value} item has no picture", hint="use /file for its media")


@router.delete("/api/items/{item_id}", summary="Remove one item from the index (the file on disk is kept)")
def delete_item(item_id: str, engine: EngineDep) -> dict:
    engine.get(item_id)  # 404 for an unknown id, before anything changes
    return {"removed": engine.delete([item_id])}


@router.get("/api/files", summary="Browse indexed files, sorted by path")
def list_files(engine: EngineDep, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
               contains: str = Query("", max_length=500, description="Only paths containing this text"),
               status: str = Query("", pattern="^(|ok|failed)$")) -> dict:
    files = engine.files()
    if contains:
        needle = contains.lower()
        files = [f for f in files if needle in f["path"].lower()]
    if status:
        files = [f for f in files if f["status"] == status]
    files.sort(key=lambda f: f["path"])
    return {"total": len(files), "offset": offset, "files": files[offset: offset + limit]}


@router.get("/api/files/items", summary="The items of one indexed file, in file order")
def file_items(engine: EngineDep, path: str = Query(..., max_length=4096)) -> dict:
    items = engine.file_items(path)
    return {"path": path, "items": [item_out(item) for item in items[:2000]], "total": len(items)}


@router.delete("/api/files", summary="Remove an indexed file, or every file under a folder inside a root, from the index",
               description="`path` is the absolute path of an indexed file (as `GET /api/files` lists it), or of a "
                           "folder strictly inside a root; `/`, a root itself, relative paths and `..` are refused.")
def delete_files(state: StateDep, path: str = Query(..., min_length=1, max_length=4096)) -> dict:
    target = state.policy.deletable(path, (f["path"] for f in state.engine.files()))
    return {"removed": state.engine.delete([target])}
