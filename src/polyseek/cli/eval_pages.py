"""``polyseek eval pages``: page retrieval on a folder of PDFs and questions (MMLongBench-Doc layout)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json

console = Console(stderr=True)


def pages(
    folder: Path = typer.Argument(..., help="Folder with documents/*.pdf and queries.jsonl (qid, question, doc_id, evidence_pages)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md)."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Keep the index here (a re-run re-indexes nothing). Default: a temporary folder."),
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    signal: list[str] = typer.Option([], "--signal", help="Use only these signals (image, text, lexical); default all, as shipped."),
    rerank: bool | None = typer.Option(None, "--rerank/--no-rerank", help="Force the cross-encoder rerank on or off (default: as shipped)."),
    image_for_documents: bool = typer.Option(False, "--image-for-documents", help="Fuse the image space into page ranking too (off as shipped)."),
    split: str = typer.Option("all", "--split", help="Questions to use: all, tune (chose the defaults) or test (held out)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N questions."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline metrics as one JSON object."),
) -> None:
    """Page retrieval within each question's document and across the corpus: recall@k, hit@k, nDCG@5, MRR@10."""
    import tempfile

    from polyseek.eval.pages import TASKS, run_pages_eval, to_markdown

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with tempfile.TemporaryDirectory(prefix="polyseek-pages-") as scratch, \
            Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        store = str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_pages_eval(folder, store=store, image_encoder=image_encoder, text_encoder=text_encoder,
                                signals=signal, rerank=rerank, split=split, limit=limit,
                                image_for_documents=image_for_documents, progress=progress)
    output = output.expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = output.with_suffix(".md")
    markdown.write_text(to_markdown(report), encoding="utf-8")
    summary = {"output": str(output), "markdown": str(markdown), "n_queries": report["n_queries"],
               **{task: report[task] for task in TASKS}}
    if as_json:
        print_json(summary)
        return
    for task in TASKS:
        m = report[task]
        console.print(f"{task}: " + ", ".join(f"{name} {m[name]:.3f}" for name in ("recall@1", "recall@5", "recall@10", "hit@5", "ndcg@5", "mrr@10")),
                      highlight=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("pages")(pages)
