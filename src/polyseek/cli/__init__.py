"""Command-line interface: thin commands over :class:`polyseek.engine.Engine`."""

from polyseek.cli.app import app, main

__all__ = ["app", "main"]
