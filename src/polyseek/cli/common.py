"""Shared CLI helpers: engine construction, options, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer

from polyseek.errors import InvalidInputError

STORE_HELP = "Store URI: a folder (LanceDB), memory://, milvus://host:port (optionally /collection) or milvus+lite:///path/index.db (see docs/stores.md). Default: $POLYSEEK_STORE or the user data dir."
StoreOption = typer.Option(None, "--store", "-s", help=STORE_HELP, envvar="POLYSEEK_STORE")
ImageEncoderOption = typer.Option(None, "--image-encoder", help="Image-text encoder (default: the shipped aligner).")
TextEncoderOption = typer.Option(None, "--text-encoder", help="Text encoder (default: bge-small-onnx).")


def make_engine(store: str | None, image_encoder: str | None = None, text_encoder: str | None = None, **kwargs: Any):
    from polyseek.engine import Engine

    return Engine(store, image_encoder=image_encoder, text_encoder=text_encoder, **kwargs)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


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
