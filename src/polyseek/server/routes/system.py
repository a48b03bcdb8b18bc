"""Health, status and the token login that sets a cookie for the browser UI."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from polyseek import __version__
from polyseek.server import bodies
from polyseek.server.app import get_state
from polyseek.server.security import TOKEN_COOKIE, UnauthorizedError, token_matches

router = APIRouter(tags=["system"])


@router.get("/health", summary="Liveness: always 200 with JSON while the server runs")
def health() -> dict:
    return {"status": "ok", "version": __version__}


def features(engine) -> dict[str, bool]:
    """What the UI may offer: parts of polyseek built by others may be absent in this install."""
    from importlib.util import find_spec

    return {
        "ask": hasattr(engine, "ask_stream") or hasattr(engine, "ask"),
        "concepts": hasattr(engine, "concepts"),
        "preview": find_spec("polyseek.preview") is not None,
    }


@router.get("/api/status", summary="The index (store, encoders, counts) and this server's settings")
def status(request: Request) -> dict:
    state = get_state(request)
    out = dict(state.engine.status())
    out["server"] = {
        "roots": state.policy.describe(),
        "auth": bool(state.token),
        "max_upload_bytes": state.max_upload_bytes,
        "jobs_active": state.jobs.active(),
        "features": features(state.engine),
    }
    return out


@router.post("/api/login", summary="Exchange the API token for an HttpOnly cookie (browser UI)",
             openapi_extra=bodies.request_body(bodies.LoginRequest))
async def login(request: Request) -> JSONResponse:
    state = get_state(request)
    body, _ = await bodies.read_body(request, bodies.LoginRequest)
    if not state.token:
        return JSONResponse({"ok": True, "auth": False})
    if not token_matches(state.token, body.token):
        raise UnauthorizedError("wrong API token")
    response = JSONResponse({"ok": True, "auth": True})
    response.set_cookie(TOKEN_COOKIE, body.token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/api/logout", summary="Forget the token cookie")
def logout() -> JSONResponse:
    response = JSONResponse({"ok": True})
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response
