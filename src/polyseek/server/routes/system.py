"""Health, status and the sign-in that trades the API token for a session cookie (browser UI)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from polyseek.errors import TooManyRequestsError, UnauthorizedError
from polyseek.server import bodies
from polyseek.server.deps import EngineDep, LoginBody, SettingsDep, StateDep
from polyseek.server.security import SESSION_COOKIE, client_key, token_matches
from polyseek.version import __version__

router = APIRouter(tags=["system"])


@router.get("/health", summary="Liveness: always 200 with JSON while the server runs")
def health() -> dict:
    return {"status": "ok", "version": __version__}


@router.get("/api/status", summary="The index (store, encoders, counts) and this server's settings")
def status(state: StateDep, engine: EngineDep, settings: SettingsDep, request: Request) -> dict:
    out = dict(engine.status())
    out["server"] = {
        "roots": state.policy.describe(),
        "auth": bool(settings.token),
        "max_upload_bytes": settings.max_upload_bytes,
        "jobs_active": state.jobs.active(),
        "search_workers": settings.search_workers,
        "search_queue": settings.search_queue,
        # serve --watch (polyseek.watch.Watcher): the UI shows the index is live
        "watch": watcher.status() if (watcher := getattr(request.app.state, "polyseek_watcher", None)) else None,
    }
    return out


@router.post("/api/login", summary="Exchange the API token for an HttpOnly session cookie (browser UI)",
             description="The cookie holds a random session id, never the token. After 10 wrong tokens in a minute "
                         "from one address, attempts are refused with 429 and Retry-After.",
             openapi_extra=bodies.request_body(bodies.LoginRequest))
def login(body: LoginBody, state: StateDep, settings: SettingsDep, request: Request) -> JSONResponse:
    if not settings.token:
        return JSONResponse({"ok": True, "auth": False})
    client = client_key(request.scope)
    wait = state.attempts.retry_after(client)
    if wait is not None:
        raise TooManyRequestsError("too many wrong API tokens from this address; wait before trying again",
                                   retry_after=wait)
    if not token_matches(settings.token, body.token):
        state.attempts.failed(client)
        raise UnauthorizedError("wrong API token")
    response = JSONResponse({"ok": True, "auth": True})
    response.set_cookie(SESSION_COOKIE, state.sessions.create(), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https", max_age=int(state.sessions.ttl))
    return response


@router.post("/api/logout", summary="End the browser session")
def logout(state: StateDep, request: Request) -> JSONResponse:
    state.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
