"""The FastAPI application factory: routes by area, security middleware, JSON errors, the static web UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from polyseek import __version__
from polyseek.errors import (
    FileTooLargeError, GeneratorError, IndexMismatchError, InvalidInputError, MissingDependencyError, NotFoundError,
    PolyseekError,
)
from polyseek.server import bodies
from polyseek.server.jobs import JobManager
from polyseek.server.media import ImageCache
from polyseek.server.security import (
    DEFAULT_MAX_UPLOAD_BYTES, PUBLIC_PATHS, PUBLIC_PREFIXES, UNSAFE_METHODS, ForbiddenError, NotAvailableError,
    PayloadTooLargeError, RootPolicy, UnauthorizedError, error_body, error_bytes, host_allowed, limit_body,
    same_origin, token_from_headers, token_matches,
)

log = logging.getLogger(__name__)
STATIC_DIR = Path(str(resources.files("polyseek") / "web" / "static"))
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@dataclass
class ServerState:
    """What route handlers share: the engine, the guard rails, the job queue, caches and a private temp dir."""

    engine: Any
    policy: RootPolicy
    token: str | None
    max_upload_bytes: int
    jobs: JobManager
    images: ImageCache
    temp_dir: Path
    ask_options: dict[str, Any] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] | None = None
    search_slots: Any = field(default_factory=contextlib.nullcontext)  # a semaphore when searches are limited


def status_for(exc: PolyseekError) -> int:
    """HTTP status of a polyseek error: the client's fault is 4xx, ours is 5xx."""
    if isinstance(exc, bodies.BodyValidationError):
        return 422
    if isinstance(exc, (PayloadTooLargeError, FileTooLargeError)):
        return 413
    if isinstance(exc, InvalidInputError):
        return 400
    if isinstance(exc, UnauthorizedError):
        return 401
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, IndexMismatchError):
        return 409
    if isinstance(exc, (NotAvailableError, MissingDependencyError)):
        return 501
    if isinstance(exc, GeneratorError):
        return 502
    return 500


class SecurityMiddleware:
    """Pure ASGI: Host and Origin checks, the API token, the body size limit, and security headers."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        host = headers.get("host")
        refusal = None
        if not host_allowed(host, state.allowed_hosts):
            refusal = (403, "bad_host", "this server only answers requests addressed to localhost")
        elif method in UNSAFE_METHODS and not same_origin(headers.get("origin"), host):
            refusal = (403, "cross_origin", "cross-site requests are refused")
        elif state.token and not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)):
            if not token_matches(state.token, token_from_headers(headers, _cookies(headers.get("cookie", "")))):
                refusal = (401, "unauthorized", "this server needs an API token: send 'Authorization: Bearer TOKEN'")
        if refusal is None and headers.get("content-length", "0").isdigit():
            if int(headers.get("content-length", "0")) > state.max_upload_bytes:
                refusal = (413, "payload_too_large", f"request body is over the upload limit of {state.max_upload_bytes:,} bytes")
        if refusal is not None:
            status, code, message = refusal
            await _send_json(send, status, error_bytes(code, message))
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, limit_body(receive, state.max_upload_bytes), send_with_headers)


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


async def _send_json(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PolyseekError)
    async def polyseek_error(request: Request, exc: PolyseekError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500 and status != 501:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(exc.code, exc.message, exc.hint), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()[:10]]
        return JSONResponse(error_body("invalid_input", "; ".join(problems) or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 401: "unauthorized"}
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return JSONResponse(error_body(codes.get(exc.status_code, "http_error"), message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s crashed", request.method, request.url.path, exc_info=exc)  # the trace stays in the log
        return JSONResponse(error_body("internal_error", "internal server error; see the server log"), status_code=500)


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(bodies.schema_refs(bodies.SearchRequest, bodies.AskRequest, bodies.JobRequest,
                                                 bodies.ConceptIn, bodies.ConceptPatch, bodies.ConceptImport,
                                                 bodies.LoginRequest))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    engine: Any,
    *,
    roots: Sequence[str | Path] = (),
    token: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    allowed_hosts: Sequence[str] | None = None,
    ask_options: dict[str, Any] | None = None,
    max_concurrent_searches: int | None = None,
    close_engine: bool = False,
    static_dir: str | Path | None = None,
) -> FastAPI:
    """Build the app around an open :class:`~polyseek.engine.Engine`.

    ``roots``: folders index jobs may read (none: indexing over HTTP is off). ``max_concurrent_searches``:
    searches that run at once, others queue (default: no limit beyond the worker threads; on a shared 2-core
    box a limit of 2 measured lower throughput than none, see docs/server.md). ``token``: required on every
    API call when set. ``allowed_hosts``: Host names served (``None``: any; ``serve`` passes the loopback
    names when it binds to localhost). ``ask_options``: defaults for ``Engine.ask`` (e.g. ``generator``).

    >>> app = create_app(Engine("memory://", image_encoder="deterministic", text_encoder="deterministic"))  # doctest: +SKIP
    """
    from polyseek.server.routes import ask, concepts, items, jobs, search, system

    if max_upload_bytes < 1024:
        raise InvalidInputError(f"max_upload_bytes must be at least 1024, got {max_upload_bytes}")
    temp_dir = Path(tempfile.mkdtemp(prefix="polyseek-uploads-"))
    policy = RootPolicy(roots)
    state = ServerState(
        engine=engine, policy=policy, token=token or None, max_upload_bytes=int(max_upload_bytes),
        jobs=JobManager(engine, policy), images=ImageCache(), temp_dir=temp_dir,
        ask_options=dict(ask_options or {}), allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
        search_slots=(threading.BoundedSemaphore(max_concurrent_searches) if max_concurrent_searches
                      else contextlib.nullcontext()),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            yield
        finally:
            await asyncio.to_thread(state.jobs.close)  # a running job stops at its next file
            shutil.rmtree(temp_dir, ignore_errors=True)
            if close_engine:
                engine.close()

    app = FastAPI(
        title="polyseek", version=__version__, lifespan=lifespan,
        description="Search, browse and ask over an indexed collection of images, PDFs, video, audio and text.",
        docs_url=None, redoc_url=None, openapi_url="/openapi.json",  # the bundled docs pages load from a CDN
    )
    app.state.polyseek = state
    _install_error_handlers(app)
    _install_openapi(app)
    for module in (system, search, ask, items, jobs, concepts):
        app.include_router(module.router)

    static = Path(static_dir) if static_dir else STATIC_DIR
    if (static / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=static), name="static")

        @app.get("/", include_in_schema=False)
        def index_page() -> FileResponse:
            return FileResponse(static / "index.html", headers={"cache-control": "no-cache"})

    app.add_middleware(SecurityMiddleware, state=state)
    return app


def get_state(request: Request) -> ServerState:
    return request.app.state.polyseek
