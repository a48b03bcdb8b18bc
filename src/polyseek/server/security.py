"""The server's guard rails: API token, Host/Origin checks, upload limits and root-folder confinement."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from polyseek.errors import InvalidInputError, NotFoundError, PolyseekError

TOKEN_COOKIE = "polyseek_token"
TOKEN_HEADER = "x-polyseek-token"
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Reachable without a token: liveness, the static UI shell (it shows the token prompt) and the login call.
PUBLIC_PATHS = frozenset({"/health", "/api/login", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UnauthorizedError(PolyseekError):
    code = "unauthorized"


class ForbiddenError(PolyseekError):
    code = "forbidden"


class PayloadTooLargeError(InvalidInputError):
    code = "payload_too_large"


class NotAvailableError(PolyseekError):
    """A feature whose part of polyseek is not installed or not built yet."""

    code = "not_available"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (what ``serve`` may bind without a token)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; no token configured means everything matches."""
    if not expected:
        return True
    return bool(given) and secrets.compare_digest(expected.encode(), given.encode())


def token_from_headers(headers: dict[str, str], cookies: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get(TOKEN_HEADER) or cookies.get(TOKEN_COOKIE)


def host_allowed(host_header: str | None, allowed: Iterable[str] | None) -> bool:
    """DNS-rebinding guard: with a loopback bind, only requests addressed to a loopback name are served."""
    if allowed is None:
        return True
    if not host_header:
        return False
    name = urlsplit("//" + host_header).hostname or ""
    return name in set(allowed)


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """CSRF guard for state-changing requests: a browser's ``Origin`` must name this server."""
    if not origin:
        return True  # not a browser cross-site request (curl, tests, same-origin GET)
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == (host_header or "").lower()


def limit_body(receive, max_bytes: int):
    """Wrap an ASGI ``receive`` so a body over ``max_bytes`` fails while it streams in (no Content-Length needed)."""
    seen = 0

    async def limited():
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise PayloadTooLargeError(
                    f"request body is over the upload limit of {max_bytes:,} bytes",
                    hint="send a smaller image, or start the server with a larger --max-upload-mb",
                )
        return message

    return limited


class RootPolicy:
    """Indexing is only allowed inside these folders; paths are resolved so ``..`` and symlinks cannot escape."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        resolved = []
        for root in roots:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise InvalidInputError(f"root folder not found: {path}", hint="--root must name an existing folder")
            resolved.append(path.resolve())
        self.roots: list[Path] = list(dict.fromkeys(resolved))

    def describe(self) -> list[dict[str, object]]:
        return [{"index": i, "path": str(root), "name": root.name or str(root)} for i, root in enumerate(self.roots)]

    def contains(self, path: Path) -> bool:
        """Whether the *resolved* ``path`` lies in a root (callers pass ``resolve()``d paths)."""
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def resolve(self, raw: str | None, root: int | None = None) -> Path:
        """An existing file or folder inside a root, from an absolute path or one relative to root ``root``.

        Refuses ``..`` walks, symlinks pointing outside the roots and NUL bytes with the same message,
        so a caller cannot probe which paths exist outside the roots.
        """
        if not self.roots:
            raise ForbiddenError("indexing from the server is disabled", hint="start polyseek serve with --root DIR")
        raw = (raw or "").strip()
        if "\x00" in raw:
            raise InvalidInputError("path contains a NUL byte")
        if root is not None and not (isinstance(root, int) and 0 <= root < len(self.roots)):
            raise InvalidInputError(f"no root number {root!r}", hint=f"roots are numbered 0 to {len(self.roots) - 1}")
        candidate = Path(raw).expanduser() if raw else Path()
        if not candidate.is_absolute():
            if root is None and len(self.roots) > 1:
                raise InvalidInputError("a relative path needs a root number", hint='send {"root": 0, "path": "sub/folder"}')
            candidate = self.roots[root or 0] / candidate
        refused = ForbiddenError(f"{raw or '.'} is not inside a configured root folder",
                                 hint="roots: " + ", ".join(str(r) for r in self.roots))
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            if self.contains(candidate.resolve(strict=False)):
                raise NotFoundError(f"no such file or folder: {raw}") from None
            raise refused from None
        if not self.contains(resolved):
            raise refused
        return resolved

    def confine(self, folder: Path, extensions: Iterable[str]) -> tuple[list[Path], list[str]]:
        """Files under ``folder`` the indexer would take, minus symlinks that resolve outside the roots."""
        wanted = set(extensions)
        kept: list[Path] = []
        refused: list[str] = []
        for dirpath, dirnames, filenames in os.walk(folder):  # like indexer.walk: no hidden entries, no dir links
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or path.suffix.lower().lstrip(".") not in wanted:
                    continue
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    refused.append(str(path))
                    continue
                if self.contains(real):
                    kept.append(path)
                else:
                    refused.append(str(path))
        return kept, refused


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, dict[str, str]]:
    """The one JSON error shape: ``{"error": {"code", "message", "hint"?}}``."""
    error = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    return {"error": error}


def error_bytes(code: str, message: str, hint: str | None = None) -> bytes:
    return json.dumps(error_body(code, message, hint)).encode()
