"""``polyseek eval upgrade``: an upgrade OLD → NEW measured at 0 / 50 / 100 % backfill, after the switch and from scratch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import print_json, stage_progress

console = Console(stderr=True)


def eval_upgrade(
    folder: Path = typer.Argument(..., help="Captions folder (captions.json; captions_multilingual.json for --lang), or a "
                                  "pages folder (documents/*.pdf and queries.jsonl: MMLongBench-Doc, FinanceBench)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md)."),
    space: str = typer.Option("text", "--space", help="Space upgraded: text (caption → captions) or image (caption → its photo)."),
    old: Optional[str] = typer.Option(None, "--old", help="Encoder the index is built with [text: bge-small-onnx; image: aligner]."),
    new: Optional[str] = typer.Option(None, "--new", help="Encoder to upgrade to [text: e5-multilingual; image: required, "
                                      "e.g. aligner:DIR from polyseek align --backbone lite2]."),
    limit: Optional[int] = typer.Option(None, "--limit", min=2, help="Captions folder: photos whose captions are indexed and "
                                        "queried [100]. Pages folder: the first N questions [all]; every document is indexed."),
    lang: str = typer.Option("en", "--lang", help="Query language (relevant items stay the English captions)."),
    sample: int = typer.Option(200, "--sample", min=8, help="Items re-encoded to fit the projection."),
    projection: Optional[Path] = typer.Option(None, "--projection", help="A ready projection folder instead of fitting one."),
    anchor: float = typer.Option(0.5, "--anchor", min=0.0, max=0.99, help="Weight of the old model's own query while queries "
                                 "meet old vectors (0: the projected new query alone)."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the stores here (default: a temporary folder)."),
    during_backfill: bool = typer.Option(False, "--during-backfill", help="Backfill the first half in a thread while searching "
                                         "(search latency beside the backfill, backfill speed beside searches)."),
    throttle: float = typer.Option(0.0, "--throttle", min=0.0, help="Backfill pause per second of work (as polyseek upgrade --throttle)."),
    search_pause: float = typer.Option(0.0, "--search-pause", min=0.0, help="With --during-backfill: seconds between searches "
                                       "(0: back to back)."),
    batch_files: int = typer.Option(16, "--batch-files", min=1, help="Files per backfill batch (as polyseek upgrade --batch-files)."),
    backfill_threads: int = typer.Option(1, "--backfill-threads", min=0, help="Intra-op threads of the backfill's encoder "
                                         "(0: the runtime's default, every core)."),
    backfill_process: bool = typer.Option(False, "--backfill-process", help="With --during-backfill: the backfill runs in a "
                                          "child process (as polyseek upgrade --resume beside a server), not a thread."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Upgrade the text or image space OLD → NEW on a captions or pages folder and measure each step through Engine.search."""
    from polyseek.errors import InvalidInputError
    from polyseek.eval.upgrade import is_pages_folder, pages_markdown, run_upgrade_eval, run_upgrade_pages_eval, to_markdown

    if space not in ("text", "image"):
        raise InvalidInputError(f"unknown space {space!r}", hint="--space text or --space image")
    if space == "image" and not new:
        raise InvalidInputError("--space image needs --new: an image-text encoder to upgrade to",
                                hint="e.g. --new aligner:DIR, DIR written by polyseek align --backbone lite2 --output DIR")
    old = old or ("bge-small-onnx" if space == "text" else "aligner")
    new = new or "e5-multilingual"
    if not is_pages_folder(folder) and not (folder / "captions.json").is_file():
        raise InvalidInputError(f"{folder} is neither a captions folder nor a pages folder" if folder.is_dir() else f"no folder {folder}",
                                hint="give a captions folder (captions.json and images/, e.g. ../shared/eval/flickr8k) or a pages "
                                     "folder (documents/*.pdf and queries.jsonl, e.g. ../shared/eval/mmlongbench-doc)")
    if is_pages_folder(folder):
        with stage_progress(console) as progress:
            report = run_upgrade_pages_eval(folder, old=old, new=new, space=space, sample=sample, projection=projection,
                                            anchor=anchor, workdir=workdir, limit=limit, progress=progress,
                                            batch_files=batch_files, backfill_threads=backfill_threads or None)
        _write(report, output, pages_markdown(report), as_json)
        return
    with stage_progress(console) as progress:
        report = run_upgrade_eval(folder, old=old, new=new, space=space, limit=limit or 100, lang=lang, sample=sample, projection=projection,
                                  anchor=anchor, workdir=workdir, progress=progress,
                                  during_backfill=during_backfill, throttle=throttle, search_pause=search_pause,
                                  batch_files=batch_files, backfill_threads=backfill_threads or None,
                                  backfill_process=backfill_process)
    _write(report, output, to_markdown(report), as_json)


def _write(report: dict, output: Path, markdown: str, as_json: bool) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(markdown, encoding="utf-8")
    if as_json:
        print_json(report)
    else:
        typer.echo(markdown, nl=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("upgrade")(eval_upgrade)
