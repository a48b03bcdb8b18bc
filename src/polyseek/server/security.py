"""The server's guard rails: token, sessions, failed-attempt limit, Host/Origin, upload limit, root confinement."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from polyseek.errors import ForbiddenError, InvalidInputError, NotFoundError, PayloadTooLargeError

SESSION_COOKIE = "polyseek_session"
TOKEN_HEADER = "x-polyseek-token"
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Reachable without a token: liveness, the static UI shell (it shows the token prompt) and the login call.
PUBLIC_PATHS = frozenset({"/health", "/api/login", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    if not given:
        return False
    return secrets.compare_digest(expected.encode("utf-8", "surrogateescape"), given.encode("utf-8", "surrogateescape"))


def token_from_headers(headers: dict[str, str]) -> str | None:
    """The token a client sent as ``Authorization: Bearer`` or ``X-Polyseek-Token`` (the cookie holds a session)."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get(TOKEN_HEADER)


class SessionStore:
    """Browser sessions from ``/api/login``: the cookie holds a random id, never the token.

    Only a digest of each id is kept, with its expiry; a server restart or ``/api/logout`` ends sessions.
    """

    def __init__(self, ttl_seconds: float = 24 * 3600, max_sessions: int = 1024) -> None:
        self.ttl = ttl_seconds
        self.max_sessions = max_sessions
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()

    def create(self) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[self._digest(session_id)] = time.monotonic() + self.ttl
            while len(self._expiry) > self.max_sessions:
                self._expiry.popitem(last=False)
        return session_id

    def valid(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        key = self._digest(session_id)
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is None:
                return False
            if expiry < time.monotonic():
                del self._expiry[key]
                return False
            return True

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._expiry.pop(self._digest(session_id), None)


class AttemptLimiter:
    """Failed token attempts per client: after ``max_failures`` within ``window`` seconds the client waits.

    Only wrong tokens count (a missing token or an expired session cookie is not a guess), so a browser whose
    session ended is never locked out by its own requests.
    """

    def __init__(self, max_failures: int = 10, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds this client must wait before its next attempt, or None when it may try now."""
        now = time.monotonic()
        with self._lock:
            recent = self._failures.get(client)
            if recent is None:
                return None
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if not recent:
                del self._failures[client]
                return None
            if len(recent) < self.max_failures:
                return None
            return max(1, math.ceil(recent[0] + self.window - now))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._failures.setdefault(client, deque())
            self._failures.move_to_end(client)
            recent.append(now)
            while len(recent) > self.max_failures:
                recent.popleft()
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


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


def client_key(scope: Mapping[str, Any]) -> str:
    """Who is asking, for the failed-attempt limit: the peer address (a proxy in front should set it right)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


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

    def servable(self, raw: str) -> Path:
        """The real path of an indexed file, checked again every time it is read for a client.

        A file indexed inside a root must still resolve inside a root (one later replaced by a symlink to
        ``/etc/hostname`` is refused); a file indexed outside every root (from the CLI) must still be a file in
        its own folder, not a symlink out of it. Refusals read like a missing file: nothing about the target leaks.
        """
        path = Path(os.path.abspath(raw))
        gone = NotFoundError(f"the file of this item is gone: {raw}", hint="re-index its folder")
        try:
            resolved = path.resolve(strict=True)
            in_place = _resolved_parent(path)
            if self.contains(path) or self.contains(in_place):
                allowed = self.contains(resolved)
            else:
                allowed = resolved.parent == in_place.parent
            if allowed and resolved.is_file():
                return resolved
        except (OSError, RuntimeError, ValueError):  # missing, a loop, unreadable, a NUL byte
            pass
        raise gone

    def deletable(self, raw: str, indexed: Iterable[str]) -> str:
        """A ``DELETE /api/files`` target: an indexed file, or a folder strictly inside a root holding indexed files.

        Never ``/``, a root itself or anything above a root, never a relative path or one with ``..``: a delete
        removes no more than what was named.
        """
        raw = (raw or "").strip()
        if "\x00" in raw:
            raise InvalidInputError("path contains a NUL byte")
        if not raw.startswith("/") or os.path.normpath(raw) != raw.rstrip("/") or raw.rstrip("/") == "":
            raise InvalidInputError(f"cannot delete {raw!r}: give the absolute path of an indexed file or folder",
                                    hint="paths as listed by GET /api/files; '/' and '..' are refused")
        target = raw.rstrip("/")
        keys = set(indexed)
        if target in keys:
            return target
        folder = Path(target)
        inside = any(folder != root and folder.is_relative_to(root) for root in self.roots)
        if not inside:
            raise ForbiddenError(f"{target} is not an indexed file or a folder inside a root",
                                 hint="a whole root or anything above one cannot be deleted over HTTP; roots: "
                                      + (", ".join(str(r) for r in self.roots) or "none configured"))
        prefix = target + os.sep
        if not any(key.startswith(prefix) for key in keys):
            raise NotFoundError(f"nothing indexed under {target}")
        return target

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


def _resolved_parent(path: Path) -> Path:
    try:
        return path.parent.resolve(strict=True) / path.name
    except (OSError, RuntimeError):
        return path


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, dict[str, str]]:
    """The one JSON error shape: ``{"error": {"code", "message", "hint"?}}``."""
    error = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    return {"error": error}


def error_bytes(code: str, message: str, hint: str | None = None) -> bytes:
    return json.dumps(error_body(code, message, hint)).encode()
