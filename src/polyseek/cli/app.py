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
    "polyseek.cli.recommend",
    "polyseek.cli.mcp",
    "polyseek.cli.watch",
    "polyseek.cli.upgrade",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)




def _version(value: bool) -> None:
    if value:
        from polyseek.version import __version__

        typer.echo(f"polyseek {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version.")) -> None:
    """Index and search photos, PDFs, video, audio and text; ask questions with cited answers."""


_register_all()


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: what was wrong, then where to read how the command is used."""
    message = " ".join(str(exc.format_message() if hasattr(exc, "format_message") else exc).split())
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "polyseek"
    return f"error: {message} (see: {command} --help)"


def _usage_errors() -> tuple[type[Exception], ...]:
    """typer 0.29 raises its own vendored click exceptions; a plain click may be installed beside it."""
    kinds: list[type[Exception]] = [typer.TyperException]
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:
        pass
    return tuple(kinds)


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE (sysexits.h): a bug, not the user's input


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns polyseek and usage errors into one line on stderr and a non-zero exit code."""
    logging.basicConfig(level=os.environ.get("POLYSEEK_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    # no HF_HUB_OFFLINE here: an online user may load hub models; the shipped defaults never reach the network
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = app(args=args, prog_name="polyseek", standalone_mode=False)
    except PolyseekError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _usage_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # "polyseek" or "polyseek concepts" alone: the help
            typer.echo(exc.format_message() if hasattr(exc, "format_message") else str(exc))
            sys.exit(0)
        typer.echo(_usage_line(exc), err=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except OSError as exc:  # a disk that filled up, a folder that cannot be written: not a bug in polyseek
        logging.getLogger("polyseek").debug("OSError", exc_info=True)
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug in polyseek: one line, the traceback only on request
        if os.environ.get("POLYSEEK_DEBUG"):
            raise
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        typer.echo(f"error: internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
                   "run again with POLYSEEK_DEBUG=1 to see the traceback, and please report it", err=True)
        sys.exit(INTERNAL_ERROR_EXIT)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)
