"""``polyseek eval context``: fixed top-k versus adaptive context selection for ``ask`` (MMLongBench-Doc layout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json

console = Console(stderr=True)


def context(
    folder: Path = typer.Argument(..., help="Folder with documents/*.pdf and queries.jsonl (qid, question, doc_id, evidence_pages, answer)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; the markdown table goes beside it (.md)."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the index here (a re-run re-indexes nothing). Default: a temporary folder."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    signal: list[str] = typer.Option([], "--signal", help="Retrieve with only these signals (image, text, lexical); default all."),
    split: str = typer.Option("all", "--split", help="Questions: all, tune or test (held out)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N questions."),
    depth: int = typer.Option(20, "--depth", min=1, max=200, help="Candidates retrieved and reranked per question."),
    no_extractive: bool = typer.Option(False, "--no-extractive", help="Skip the extractive answerer (faster)."),
    as_json: bool = typer.Option(False, "--json", help="Print the table of all questions as one JSON object."),
) -> None:
    """Context answer recall, context precision and size of fixed top-k and adaptive selection, plus the extractive answerer."""
    import tempfile

    from polyseek.eval.context import run_context_eval, to_markdown

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with tempfile.TemporaryDirectory(prefix="polyseek-context-") as scratch, \
            Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        store = str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_context_eval(folder, store=store, image_encoder=image_encoder, text_encoder=text_encoder,
                                  signals=signal, split=split, limit=limit, depth=depth, extractive=not no_extractive,
                                  progress=progress)
    output = output.expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = output.with_suffix(".md")
    markdown.write_text(to_markdown(report), encoding="utf-8")
    if as_json:
        print_json({"output": str(output), "markdown": str(markdown), "n_questions": report["n_questions"], "table": report["all"]})
        return
    Console().print(to_markdown(report), highlight=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("context")(context)
