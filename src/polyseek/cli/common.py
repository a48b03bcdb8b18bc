"""Shared CLI helpers: engine construction, options, output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from polyseek.cli.output import print_json
from polyseek.errors import InvalidInputError, NotFoundError

__all__ = ["CATALOG_FILE", "ImageEncoderOption", "StoreOption", "TextEncoderOption", "catalog_exists", "catalog_folder",
           "make_engine", "parse_date", "print_json", "require_index", "stage_progress"]

CATALOG_FILE = "catalog.sqlite"  # every local index has one (the engine keeps it beside the store)

STORE_HELP = "Store URI: a folder (LanceDB), memory://, milvus://host:port (optionally /collection) or milvus+lite:///path/index.db (see docs/stores.md). Default: $POLYSEEK_STORE or the user data dir."
StoreOption = typer.Option(None, "--store", "-s", help=STORE_HELP, envvar="POLYSEEK_STORE")
ImageEncoderOption = typer.Option(None, "--image-encoder", help="Image-text encoder (default: the shipped aligner).")
TextEncoderOption = typer.Option(None, "--text-encoder", help="Text encoder (default: bge-small-onnx).")


def make_engine(store: str | None, image_encoder: str | None = None, text_encoder: str | None = None, *,
                read_only: bool = False, reader: bool = False, **kwargs: Any):
    """The engine on ``store``. A reading command (``read_only``) refuses a local store that holds no index
    instead of creating an empty one there (a mistyped ``--store`` would otherwise answer "no results").
    A command that only searches (``reader``) opens a shared Milvus collection with no catalog on this machine."""
    from polyseek.engine import Engine

    if read_only or reader:
        require_index(store)
    return Engine(store, image_encoder=image_encoder, text_encoder=text_encoder, read_only=reader, **kwargs)


def catalog_folder(uri: str) -> Path | None:
    """The folder on this machine that holds a store's catalog (every index has one), else None (``memory://``)."""
    if "://" not in uri:
        return Path(uri).expanduser()
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme == "lancedb" and rest:
        return Path(rest).expanduser()
    if scheme.startswith("milvus"):
        from polyseek.stores.milvus import parse_uri

        return parse_uri(uri).local_dir
    return None


def catalog_exists(store: str | None) -> bool | None:
    """Whether the index ``store`` names exists here; None when that cannot be told locally (``memory://``)."""
    from polyseek.config import resolve_store_uri

    uri = resolve_store_uri(store)
    folder = catalog_folder(uri)
    if folder is None:
        return None
    if not (folder / CATALOG_FILE).is_file() and uri.lower().startswith("milvus"):
        from polyseek.stores.milvus import parse_uri

        target = parse_uri(uri)  # a shared collection describes itself (polyseek.distributed.shared): the store tells
        return None if not target.lite or Path(target.connect).exists() else False
    return (folder / CATALOG_FILE).is_file()


def require_index(store: str | None) -> None:
    """Raise :class:`NotFoundError` when ``store`` names a local place that holds no polyseek index."""
    from polyseek.config import resolve_store_uri

    uri = resolve_store_uri(store)
    if catalog_exists(store) is False:
        raise NotFoundError(f"no index at {uri}",
                            hint="check --store / $POLYSEEK_STORE, or build one first: polyseek index FOLDER --store " + uri)


def parse_date(value: str | None, option: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise InvalidInputError(f"{option} must be a date like 2024-05-31 or 2024-05-31T12:00, got {value!r}") from None


@contextmanager
def stage_progress(console) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar per stage (hidden when stderr is not a terminal); yields ``progress(stage, done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress
