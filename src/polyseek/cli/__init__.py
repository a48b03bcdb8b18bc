"""Command-line interface: thin commands over :class:`polyseek.engine.Engine`.

``main`` answers a plain ``polyseek search`` through a running ``polyseek serve`` before the Typer app is built
(:mod:`polyseek.cli.remote`); the app (``polyseek.cli.app``) is imported for everything else.
"""

from __future__ import annotations

from polyseek.cli.remote import main

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a command a server answers never needs it)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from polyseek.cli.app import app

        return app
    raise AttributeError(name)
