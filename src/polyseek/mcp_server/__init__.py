"""polyseek as a Model Context Protocol server (official ``mcp`` SDK): search, ask and get_item tools, file resources."""

from __future__ import annotations

from polyseek.mcp_server.http import http_app
from polyseek.mcp_server.server import PolyseekMCP, build_server

__all__ = ["PolyseekMCP", "build_server", "http_app"]
