"""The ``polyseek`` command: builds the Typer app from one module per command group."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from polyseek.errors import PolyseekError

app = typer.Typer(
    name="polyseek",
    help="Index and search photos, PDFs, video, audio and text; ask questions with cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``. Add a line here to add a command group.
COMMAND_MODULES = [
    "polyseek.cli.core",
    "polyseek.cli.align",
    "polyseek.cli.eval",
    "polyseek.cli.ask",
    "polyseek.cli.concepts",
    "polyseek.cli.serve",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command group not written yet
                continue
            raise
        module.register(app)




def _version(value: bool) -> None:
    if value:
        from polyseek import __version__

        typer.echo(f"polyseek {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version.")) -> None:
    """Index and search photos, PDFs, video, audio and text; ask questions with cited answers."""


_register_all()


def main() -> None:
    """Entry point: turns polyseek errors into one line on stderr and a non-zero exit code."""
    logging.basicConfig(level=os.environ.get("POLYSEEK_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        app(standalone_mode=False)
    except PolyseekError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
