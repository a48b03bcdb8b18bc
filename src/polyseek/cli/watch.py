"""``polyseek watch PATHS``: index the folders, then keep the index up to date as files are added, changed, moved, deleted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, StoreOption, TextEncoderOption, make_engine
from polyseek.watch import DEFAULT_SETTLE_S, WatchBatch, Watcher

console = Console(stderr=True)


def watch(
    paths: list[Path] = typer.Argument(..., help="Folders (or files) to index and watch."),
    store: str | None = StoreOption,
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    settle: float = typer.Option(DEFAULT_SETTLE_S, "--settle", min=0.0, max=3600.0, help="Seconds a file must stay unchanged before it is indexed (a file still being written waits)."),
    initial: bool = typer.Option(True, "--initial/--no-initial", help="Index the paths once before watching (incremental)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per batch on stdout."),
) -> None:
    """Index PATHS and keep the index live: changes are picked up within seconds, until Ctrl+C."""
    engine = make_engine(store, image_encoder, text_encoder)

    def report(batch: WatchBatch) -> None:
        if as_json:
            sys.stdout.write(json.dumps({"event": "initial" if batch.initial else "batch", **batch.to_dict()}, default=str) + "\n")
            sys.stdout.flush()
        elif batch.initial:
            console.print(f"[bold]indexed[/bold]: {batch.describe()}", highlight=False)
        else:
            names = [Path(p).name for p in batch.indexed + batch.removed]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            console.print(f"[bold]changed[/bold] {shown}: {batch.describe()}", highlight=False)
        for failure in batch.summary.failed if batch.summary and not as_json else ():
            console.print(f"  [red]skipped[/red] {failure['path']}: {failure['reason']}", highlight=False)

    try:
        watcher = Watcher(engine, [str(p) for p in paths], settle=settle, on_batch=report, initial=initial)
        if not as_json:
            console.print(f"watching {', '.join(str(p) for p in watcher.paths)} (index {engine.store_uri}); Ctrl+C stops",
                          highlight=False)
        watcher.run()  # returns on Ctrl+C (watchfiles stops quietly)
    finally:
        engine.close()


def register(app: typer.Typer) -> None:
    app.command()(watch)
