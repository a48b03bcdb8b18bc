"""``polyseek eval context``: fixed top-k versus adaptive context selection for ``ask`` (MMLongBench-Doc layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

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
    from polyseek.eval.report import write_report

    with tempfile.TemporaryDirectory(prefix="polyseek-context-") as scratch, stage_progress(console) as progress:
        store = str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_context_eval(folder, store=store, image_encoder=image_encoder, text_encoder=text_encoder,
                                  signals=signal, split=split, limit=limit, depth=depth, extractive=not no_extractive,
                                  progress=progress)
    output, markdown = write_report(report, output, render=to_markdown)
    if as_json:
        print_json({"output": str(output), "markdown": str(markdown), "n_questions": report["n_questions"], "table": report["all"]})
        return
    Console().print(to_markdown(report), highlight=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("context")(context)
