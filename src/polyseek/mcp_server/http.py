"""Streamable HTTP for the MCP server: loopback by default, an API token (as for ``serve``) on any other address."""

from __future__ import annotations

from typing import Any

from polyseek.server.security import error_bytes, token_from_headers, token_matches


class TokenGate:
    """Pure ASGI: every HTTP request must carry ``Authorization: Bearer TOKEN`` (or ``X-Polyseek-Token``)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if not token_matches(self.token, token_from_headers(headers)):
                body = error_bytes("unauthorized", "this MCP server needs an API token: send 'Authorization: Bearer TOKEN'")
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(server: Any, *, host: str = "127.0.0.1", token: str | None = None, path: str = "/mcp") -> Any:
    """The ASGI app serving ``server`` at ``path``.

    Bound to a loopback address, the SDK's DNS-rebinding guard only accepts requests addressed to localhost;
    with ``token`` every request must carry it (``polyseek mcp`` refuses other addresses without one).
    """
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    return TokenGate(app, token) if token else app
