"""HTTP API and web UI over the :class:`polyseek.engine.Engine` facade; see :func:`create_app`."""

from __future__ import annotations

from polyseek.server.app import create_app

__all__ = ["create_app"]
