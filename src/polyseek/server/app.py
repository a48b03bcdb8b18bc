"""The FastAPI application factory: routes by area, security middleware, JSON errors, the static web UI."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from polyseek.errors import (
    BadHostError,
    CrossOriginError,
    InvalidInputError,
    InvalidRequestError,
    PayloadTooLargeError,
    PolyseekError,
    TooManyRequestsError,
    UnauthorizedError,
)
from polyseek.server import bodies
from polyseek.server.jobs import JobManager
from polyseek.server.media import ImageCache
from polyseek.server.routes import ask, concepts, items, jobs, recommend, search, system
from polyseek.server.security import (
    DEFAULT_MAX_UPLOAD_BYTES,
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    RootPolicy,
    client_key,
    error_body,
    host_allowed,
    limit_body,
    same_origin,
    token_from_headers,
    token_matches,
)
from polyseek.server.state import SearchPool, ServerSettings, ServerState, default_search_workers
from polyseek.server.uploads import DecodeGate
from polyseek.version import __version__

log = logging.getLogger(__name__)
STATIC_DIR = Path(str(resources.files("polyseek") / "web" / "static"))
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]
HTTP_CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited", 503: "busy"}


def error_response(exc: PolyseekError) -> JSONResponse:
    """The JSON answer for any polyseek error: status, code and Retry-After all come from the error's class."""
    headers = {"retry-after": str(int(exc.retry_after))} if exc.retry_after is not None else None
    return JSONResponse(error_body(exc.code, exc.message, exc.hint), status_code=exc.http_status, headers=headers)


class SecurityMiddleware:
    """Pure ASGI: Host and Origin checks, the API token (with a limit on wrong guesses), the body size limit,
    and security headers."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            response = error_response(refusal)
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, limit_body(receive, self.state.settings.max_upload_bytes), send_with_headers)

    def refusal(self, scope: dict) -> PolyseekError | None:
        """Why this request is refused before it reaches a route, or None."""
        state, settings = self.state, self.state.settings
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        host = headers.get("host")
        if not host_allowed(host, settings.allowed_hosts):
            return BadHostError("this server only answers requests addressed to localhost")
        if method in UNSAFE_METHODS and not same_origin(headers.get("origin"), host):
            return CrossOriginError("cross-site requests are refused")
        if settings.token and not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)):
            given = token_from_headers(headers)
            if given is not None or not state.sessions.valid(_cookies(headers.get("cookie", "")).get(SESSION_COOKIE)):
                client = client_key(scope)
                wait = state.attempts.retry_after(client)
                if wait is not None:
                    return TooManyRequestsError("too many wrong API tokens from this address; wait before trying again",
                                                retry_after=wait)
                if not token_matches(settings.token, given):
                    if given:  # a wrong guess counts; no token at all (a browser before sign-in) does not
                        state.attempts.failed(client)
                    return UnauthorizedError("this server needs an API token",
                                             hint="send 'Authorization: Bearer TOKEN', or sign in at /")
        length = headers.get("content-length", "0")
        if length.isdigit() and int(length) > settings.max_upload_bytes:
            return PayloadTooLargeError(f"request body is over the upload limit of {settings.max_upload_bytes:,} bytes",
                                        hint="send a smaller image, or start the server with a larger --max-upload-mb")
        return None


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PolyseekError)
    async def polyseek_error(request: Request, exc: PolyseekError) -> JSONResponse:
        if exc.http_status >= 500 and exc.http_status not in (501, 503):
            log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}: {e.get('msg', 'invalid')}"[:300]
                    for e in exc.errors()[:10]]
        return error_response(InvalidRequestError(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return JSONResponse(error_body(HTTP_CODES.get(exc.status_code, "http_error"), message),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

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
    search_queue: int | None = None,
    max_concurrent_decodes: int = 2,
    close_engine: bool = False,
    static_dir: str | Path | None = None,
) -> FastAPI:
    """Build the app around an open :class:`~polyseek.engine.Engine`.

    ``roots``: folders index jobs may read (none: indexing over HTTP is off). ``max_concurrent_searches``:
    search worker threads (default: one per core); ``search_queue``: searches that may wait for a worker (default
    8 per worker); past both the server answers 503 with Retry-After. ``max_concurrent_decodes``: large uploaded
    images decoded at once (memory bound). ``token``: required on every API call when set. ``allowed_hosts``:
    Host names served (``None``: any; ``serve`` passes the loopback names when it binds to localhost).
    ``ask_options``: defaults for ``Engine.ask`` (e.g. ``generator``).

    >>> app = create_app(Engine("memory://", image_encoder="deterministic", text_encoder="deterministic"))  # doctest: +SKIP
    """
    if max_upload_bytes < 1024:
        raise InvalidInputError(f"max_upload_bytes must be at least 1024, got {max_upload_bytes}")
    workers = max_concurrent_searches or default_search_workers()
    if workers < 1 or (search_queue is not None and search_queue < 0):
        raise InvalidInputError("max_concurrent_searches must be at least 1 and search_queue at least 0")
    settings = ServerSettings(
        token=token or None, max_upload_bytes=int(max_upload_bytes),
        allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
        ask_options=dict(ask_options or {}), search_workers=workers,
        search_queue=8 * workers if search_queue is None else search_queue,
        max_concurrent_decodes=max_concurrent_decodes,
    )
    policy = RootPolicy(roots)
    decodes = DecodeGate(max_concurrent_decodes)
    temp_dir = Path(tempfile.mkdtemp(prefix="polyseek-uploads-"))
    state = ServerState(
        engine=engine, settings=settings, policy=policy, jobs=JobManager(engine, policy), images=ImageCache(),
        temp_dir=temp_dir, searches=SearchPool(settings.search_workers, settings.search_queue), decodes=decodes,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            yield
        finally:
            await asyncio.to_thread(state.jobs.close)  # a running job stops at its next file
            state.searches.close()
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
    for module in (system, search, ask, items, jobs, concepts, recommend):
        app.include_router(module.router)

    static = Path(static_dir) if static_dir else STATIC_DIR
    if (static / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=static), name="static")

        @app.get("/", include_in_schema=False)
        def index_page() -> FileResponse:
            return FileResponse(static / "index.html", headers={"cache-control": "no-cache"})

    app.add_middleware(SecurityMiddleware, state=state)
    return app
