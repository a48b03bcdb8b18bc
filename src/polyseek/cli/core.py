"""Core commands: index, search, delete, status."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import (
    ImageEncoderOption,
    StoreOption,
    TextEncoderOption,
    catalog_exists,
    make_engine,
    parse_date,
)
from polyseek.cli.output import print_hits, print_json, print_search
from polyseek.errors import NotFoundError
from polyseek.search.query_syntax import join_arguments
from polyseek.types import Filters, Hit, Modality

__all__ = ["delete", "demo", "index", "print_hits", "sample", "search", "status"]
console = Console(stderr=True)
NO_WAIT_HELP = "Fail at once if another polyseek is writing to this store, instead of waiting for it."
MODALITY_NAMES = ", ".join(m.value for m in Modality)  # module level: mypy cannot see a comprehension's name in a default


def index(
    paths: list[Path] = typer.Argument(..., help="Files and folders to index (folders recursively)."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    keep_missing: bool = typer.Option(False, "--keep-missing", help="Keep items of files that disappeared."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    no_wait: bool = typer.Option(False, "--no-wait", help=NO_WAIT_HELP),
    ray: bool = typer.Option(False, "--ray", help="Decode and embed on a Ray cluster ($RAY_ADDRESS, else a local one); "
                             "this process diffs, writes and keeps the journal. Needs the ray extra (docs/scale.md)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --ray: the cluster, HOST:PORT or "
                                              "ray://HOST:10001 (default $RAY_ADDRESS, else a local cluster)."),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", min=1, help="With --ray: embedding actors "
                                              "(default: one per CPU of the cluster)."),
) -> None:
    """Index files and folders; unchanged files are skipped, vanished ones removed."""
    if (ray_address or ray_workers) and not ray:
        from polyseek.errors import InvalidInputError

        raise InvalidInputError("--ray-address and --ray-workers go with --ray", hint="add --ray, or drop them")
    missing = [str(p) for p in paths if not os.path.lexists(p.expanduser())]
    if missing and len(missing) == len(paths) and catalog_exists(store) is False:
        raise NotFoundError(f"no such file or folder: {', '.join(missing)}", hint="give files or folders to index")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    engine = make_engine(store, image_encoder, text_encoder)
    engine.indexer.wait = not no_wait
    show = not as_json and console.is_terminal
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[detail]}")]
    with Progress(*columns, console=console, disable=not show, transient=False) as bar:
        task = bar.add_task("indexing", total=None, rate="", detail="")

        def on_progress(event) -> None:
            if event.files_done < 0:  # progress inside one long file
                bar.update(task, detail=f"{Path(event.path).name} {event.detail}")
                return
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{event.files_done / elapsed:.1f} files/s" if elapsed > 0 and event.files_done else ""
            bar.update(task, total=event.files_total, completed=event.files_done, rate=rate, detail="")

        options = None
        if ray:
            from polyseek.distributed.ray_ingest import RayOptions

            options = RayOptions(address=ray_address, workers=ray_workers)
        summary = engine.index([str(p) for p in paths], on_progress=on_progress, remove_missing=not keep_missing,
                               ray=options)
    if missing and len(missing) == len(paths) and not summary.removed:  # nothing given exists: say so in one line, fail
        engine.close()
        raise NotFoundError(f"no such file or folder: {', '.join(missing)}", hint="give files or folders to index")
    if as_json:
        print_json(summary.to_dict())
    else:
        nothing = not (summary.added or summary.updated or summary.removed)
        line = (f"added {summary.added}, updated {summary.updated}, removed {summary.removed}, "
                f"unchanged {summary.unchanged}, failed {len(summary.failed)} — {summary.items} items in {summary.seconds:.1f}s")
        console.print(("nothing to embed: " if nothing else "") + line)
        for failure in summary.failed:
            console.print(f"  [red]skipped[/red] {failure['path']}: {failure['reason']}", highlight=False)
    engine.close()


def search(
    query: list[str] = typer.Argument(None, help='Text, or rclip-style terms: "2:golden retriever" + ./pool.jpg - "fruit"'),
    image: Optional[Path] = typer.Option(None, "--image", "-i", help="Query image (combined with the text if both)."),
    image_weight: float = typer.Option(1.0, "--image-weight", help="Weight of the image in a composed query."),
    k: int = typer.Option(10, "--k", "-k", min=1, max=10000, help="Number of results."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    path_glob: Optional[str] = typer.Option(None, "--path", help="Only paths matching this glob, e.g. '*/2024/*'."),
    file_type: list[str] = typer.Option([], "--type", "-t", help="Only these file types (extensions), repeatable."),
    modality: list[str] = typer.Option([], "--modality", "-m", help="Only these modalities: " + MODALITY_NAMES),
    after: Optional[str] = typer.Option(None, "--after", help="Only items dated on/after (YYYY-MM-DD)."),
    before: Optional[str] = typer.Option(None, "--before", help="Only items dated on/before (YYYY-MM-DD)."),
    instruction: Optional[str] = typer.Option(None, "--instruction", help="Instruction prepended to text queries."),
    signal: list[str] = typer.Option([], "--signal", help="Use only these signals: image, text, lexical."),
    rerank: Optional[bool] = typer.Option(None, "--rerank/--no-rerank", help="Rerank the top results with the cross-encoder (default: on when PDF pages lead the results)."),
    show: Optional[Path] = typer.Option(None, "--show", help="Write a preview of each hit (page with region outlined, keyframe) into this folder."),
    like: Optional[str] = typer.Option(None, "--like", help="More like this indexed item (its id); the item itself is never a result."),
    expand: bool = typer.Option(False, "--expand", help="Let a generator model rewrite the text query into more search queries, fused."),
    generator: Optional[str] = typer.Option(None, "--generator", "-g", envvar="POLYSEEK_GENERATOR",
                                            help="With --expand: llama-cpp:gemma, openai:<model>@<base_url> (default $POLYSEEK_GENERATOR)."),
    timings: bool = typer.Option(False, "--timings", help="Print the time each search stage took (also: POLYSEEK_TIMINGS=1)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"hits": [...]} as one JSON object.'),
) -> None:
    """Search the index with text, an image, or both."""
    from polyseek.errors import InvalidInputError

    text = join_arguments(query or [])
    if not text.strip() and image is None and not like:
        raise InvalidInputError("nothing to search for", hint='give a query, e.g. polyseek search "a dog on grass", or --image FILE')
    filters = Filters(
        path_glob=path_glob,
        file_types=tuple(t.lower().lstrip(".") for t in file_type),
        modalities=tuple(Modality.parse(m) for m in modality),
        date_from=parse_date(after, "--after"),
        date_to=parse_date(before, "--before"),
    )
    if image is None and show is None and not (image_encoder or text_encoder or expand):
        from polyseek.cli.remote import served_hits  # a running `polyseek serve` of this store answers, if any

        served = served_hits(store, text, k, filters, instruction, signal, rerank, like)
        if served is not None:
            if as_json:
                print_json({"hits": served, **({"served_by": "polyseek serve"} if timings else {})})
            else:
                print_hits([Hit.from_dict(h) for h in served])
                if timings:
                    sys.stdout.flush()
                    sys.stderr.write("timings: answered by the running polyseek serve for this store\n")
            return
    engine = make_engine(store, image_encoder, text_encoder, reader=True)
    trace = engine.trace(text or None, image=str(image) if image else None, k=k, filters=filters, instruction=instruction,
                         image_weight=image_weight, spaces=signal, rerank=rerank, like=like,
                         config=engine.with_config(expand=True, expand_generator=generator) if expand else None)
    timings = timings or os.environ.get("POLYSEEK_TIMINGS", "") not in ("", "0")
    if show is not None:
        from polyseek.preview import write_previews

        write_previews(engine, trace.hits, show)
    print_search(trace, as_json=as_json, timings=timings)
    engine.close()


def delete(
    targets: list[str] = typer.Argument(..., help="Indexed paths (files or folders) or item ids."),
    store: Optional[str] = StoreOption,
    as_json: bool = typer.Option(False, "--json"),
    no_wait: bool = typer.Option(False, "--no-wait", help=NO_WAIT_HELP),
) -> None:
    """Remove files or items from the index."""
    engine = make_engine(store, read_only=True)
    engine.indexer.wait = not no_wait
    removed = engine.delete(targets)
    if as_json:
        print_json({"removed": removed})
    else:
        console.print(f"removed {removed} items")
    engine.close()


def status(store: Optional[str] = StoreOption) -> None:
    """Describe the index: store, encoders, counts."""
    engine = make_engine(store, reader=True)
    print_json(engine.status())
    engine.close()


def sample_dir() -> Path:
    """The sample collection shipped inside the package (photos, notes; more kinds as they land)."""
    return Path(__file__).resolve().parent.parent / "sample" / "collection"


def demo(
    store: Optional[str] = StoreOption,
    query: str = typer.Option("a dog running on grass", "--query", "-q", help="What to search for after indexing."),
    k: int = typer.Option(5, "--k", "-k", min=1, max=100),
) -> None:
    """Index the bundled sample collection, then search it: the one-command tour."""
    folder = sample_dir()
    console.print(f"indexing the sample collection at {folder}")
    with_defaults(index, paths=[folder], store=store)
    console.print(f"\n[bold]polyseek search {query!r}[/bold]")
    with_defaults(search, query=[query], k=k, store=store)


def with_defaults(command, **given):
    """Call a command function with its declared default for every option not given (the bare function would see
    typer's option objects: each option added to `index` or `search` once broke `polyseek demo` with a traceback)."""
    import inspect

    defaults = {}
    for name, parameter in inspect.signature(command).parameters.items():
        value = getattr(parameter.default, "default", parameter.default)
        # a repeatable option arrives as a list from the command line, never None
        defaults[name] = [] if value is None and str(parameter.annotation).startswith("list") else value
    return command(**{**defaults, **given})


def sample(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the folder of the bundled sample collection."""
    print_json({"path": str(sample_dir())}) if as_json else print(sample_dir())


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(sample)
    app.command()(index)
    app.command()(search)
    app.command()(delete)
    app.command()(status)
