"""``polyseek upgrade``: move a space to a new encoder without re-embedding first (projection now, backfill behind).

Also the multilingual caption evaluation behind ``polyseek eval captions --lang`` (:func:`eval_languages`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from polyseek.cli.common import StoreOption, make_engine, print_json, stage_progress

console = Console(stderr=True)


def upgrade(
    image_encoder: Optional[str] = typer.Option(None, "--image-encoder", help="New image-text encoder for the image space."),
    text_encoder: Optional[str] = typer.Option(None, "--text-encoder", help="New text encoder for the text space."),
    query_encoder: Optional[str] = typer.Option(None, "--query-encoder", help="Answer queries with this encoder from now on, "
                                                "without re-embedding (e5-multilingual-bge: queries in any language); 'default' goes back."),
    store: Optional[str] = StoreOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the backfill of an upgrade in progress."),
    rollback: bool = typer.Option(False, "--rollback", help="Forget an unfinished upgrade: back to the old encoder."),
    show: bool = typer.Option(False, "--status", help="Show the progress of upgrades in progress."),
    space: Optional[str] = typer.Option(None, "--space", help="image or text: which upgrade --resume/--rollback means."),
    sample: int = typer.Option(1000, "--sample", min=8, help="Items re-encoded to fit the projection NEW → OLD."),
    projection: Optional[Path] = typer.Option(None, "--projection", help="A ready projection folder to use instead of fitting one."),
    anchor: float = typer.Option(0.5, "--anchor", min=0.0, max=0.99, help="Weight of the old model's own query while queries "
                                 "meet old vectors, where old and projected new query agree (0: the projected new query alone)."),
    backfill: bool = typer.Option(True, "--backfill/--no-backfill", help="Re-embed the rest now (else: --resume later)."),
    throttle: float = typer.Option(0.0, "--throttle", min=0.0, help="Seconds of pause per second of backfill work."),
    batch_files: int = typer.Option(16, "--batch-files", min=1, help="Files re-embedded per journaled batch."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", min=1, help="Stop the backfill after this long (resume later)."),
    threads: int = typer.Option(1, "--threads", min=1, max=64, help="Threads of the new encoder's forward passes during the "
                                "backfill (1: searches keep the other cores; more: a faster backfill on an idle machine)."),
    nice: int = typer.Option(5, "--nice", min=0, max=19, help="Run the backfill at this lower scheduling priority (0-19, as "
                             "nice -n N): searches of a server on the same cores come first. Default 5: on 2 quiet cores "
                             "26.7-30.3 photos/s with search p95 1.2-1.8x idle (0: ~35/s, p95 1.7-2.2x; 19: ~23/s, 1.2-1.5x)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Upgrade a space to a NEW encoder: queries switch at once (projected into the old space), items are re-embedded
    in the background (kill it any time; --resume continues), and the index switches when all are done."""
    from polyseek.errors import InvalidInputError
    from polyseek.upgrade import backfill as run_backfill
    from polyseek.upgrade import rollback as run_rollback
    from polyseek.upgrade import status as run_status
    from polyseek.upgrade import upgrade as start

    if space is not None and space not in ("image", "text"):
        raise InvalidInputError(f"unknown space {space!r}", hint="accepted: image, text")
    modes = [bool(image_encoder or text_encoder), resume, rollback, show, bool(query_encoder)]
    if sum(modes) != 1:
        raise InvalidInputError("say what to do", hint="one of: --image-encoder NEW, --text-encoder NEW, --query-encoder NAME, "
                                                       "--resume, --rollback, --status")
    if nice and (resume or (backfill and (image_encoder or text_encoder))):
        import os

        os.nice(nice)  # before the engine starts its threads: Linux gives each thread the priority it was created with
    engine = make_engine(store, read_only=True)
    result: dict[str, Any] = {}
    try:
        writes = contextlib.nullcontext() if show else engine.indexer.writing()  # one writer per store
        with writes:
            if query_encoder:
                from polyseek.upgrade.core import set_query_encoder

                name = None if query_encoder == "default" else query_encoder
                result = {"query_encoder": name or "default", "spaces": set_query_encoder(engine, name)}
            elif show:
                result = run_status(engine)
            elif rollback:
                result = run_rollback(engine, space)
            else:
                with stage_progress(console) as progress:
                    def on_progress(event: dict[str, Any]) -> None:
                        if "items_done" in event:
                            progress("backfill", event["items_done"], event["items_total"])
                        else:
                            progress("re-encoding a sample", event["done"], event["total"])

                    if not resume:
                        result["start"] = start(engine, image_encoder=image_encoder, text_encoder=text_encoder, sample=sample,
                                                projection=projection, anchor=anchor, on_progress=on_progress)
                        space = result["start"]["space"]
                    if backfill or resume:
                        result["backfill"] = run_backfill(engine, space, batch_files=batch_files, throttle=throttle,
                                                          max_seconds=max_seconds, on_progress=on_progress, threads=threads)
    finally:
        engine.close()
    if as_json:
        print_json(result)
        return
    _summarise(result, show)


def _summarise(result: dict[str, Any], show: bool) -> None:
    if show:
        if not result:
            console.print("no upgrade in progress")
        for space, value in result.items():
            console.print(f"{space}: {value['from']} → {value['to']}, {value['phase']}, {value['items_done']}/{value['items_total']} "
                          f"items ({value['percent']}%)", highlight=False)
        return
    start = result.get("start")
    if start:
        fit = start["fit"]
        console.print(f"{start['space']} space: {start['from']} → {start['to']}; queries now use {start['to']} projected into the old space",
                      highlight=False)
        if "cosine_mean" in fit:
            console.print(f"projection fit on {fit.get('n_heldout')} held-out items: cosine {fit['cosine_mean']:.3f}, "
                          f"own item first {fit['recall@1']:.1%}, in top 10 {fit['recall@10']:.1%}", highlight=False)
    done = result.get("backfill")
    if done:
        console.print(f"backfilled {done['items']} items in {done['seconds']:.1f}s; {done['remaining_files']} files left", highlight=False)
        if "finalize" in done:
            console.print(f"switched: the {done['finalize']['space']} space now holds {done['finalize']['encoder']} vectors", highlight=False)
        elif done["remaining_files"]:
            console.print("continue with: polyseek upgrade --resume", highlight=False)
    if "query_encoder" in result:
        console.print(f"queries now use {result['query_encoder']} ({', '.join(result['spaces']) or 'each space its own'})", highlight=False)
    if "dropped_vectors" in result:
        console.print(f"rolled back: the {result['space']} space answers with {result['encoder']} again", highlight=False)


def eval_languages(folder: Path, lang: str, output: Path, markdown: Optional[Path], image_encoder: Optional[str],
                   text_encoder: Optional[str], store: str, workdir: Optional[Path], depth: int, exact_ranks: bool,
                   limit: Optional[int], query_encoder: Optional[str], as_json: bool, per_image: Optional[int] = None) -> dict[str, Any]:
    """``eval captions --lang``: text→image in one or more languages on one index, plus MRV across them."""
    from polyseek.eval.multilingual import load_captions_lang, mean_rank_variance
    from polyseek.eval.report import task_names, write_report
    from polyseek.eval.runner import run_dataset

    langs = [part.strip() for part in lang.split(",") if part.strip()]
    dataset = load_captions_lang(folder, langs, limit_images=limit, per_image=per_image)
    with stage_progress(console) as progress:
        report = run_dataset(dataset, image_encoder=image_encoder, text_encoder=text_encoder, store=store, workdir=workdir,
                             depth=depth, exact_ranks=exact_ranks, progress=progress, query_encoder=query_encoder)
    report["languages"] = langs
    if len(langs) > 1:
        report["mrv"] = mean_rank_variance(report, langs)
    json_path, md_path = write_report(report, output, markdown)
    summary = {"output": str(json_path), **{t: report[t] for t in task_names(report)}, "mrv": report.get("mrv")}
    if as_json:
        print_json(summary)
    else:
        for name in task_names(report):
            m = report[name]
            console.print(f"{name}: R@1 {m['recall@1']:.3f}, R@5 {m['recall@5']:.3f}, R@10 {m['recall@10']:.3f}, "
                          f"mean rank {m['mean_rank']:.1f}", highlight=False)
        if report.get("mrv"):
            console.print(f"MRV across {', '.join(langs)}: {report['mrv']['mrv']}", highlight=False)
        console.print(f"wrote {json_path} and {md_path}", highlight=False)
    return report


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade)
