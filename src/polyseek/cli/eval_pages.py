"""``polyseek eval pages``: page retrieval on a folder of PDFs and questions (MMLongBench-Doc layout)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

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
    reranker: str | None = typer.Option(None, "--reranker", help="Rerank with this reranker (cross-encoder as shipped, colbert)."),
    statements: str | None = typer.Option(None, "--statements", help="Financial-statement rule: off, named (a statement the question names) or implied (also one its metric implies); default as shipped."),
    split: str = typer.Option("all", "--split", help="Questions to use: all, tune (chose the defaults) or test (held out)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N questions."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline metrics as one JSON object."),
) -> None:
    """Page retrieval within each question's document and across the corpus: recall@k, hit@k, nDCG@5, MRR@10."""
    import tempfile

    from polyseek.eval.pages import TASKS, run_pages_eval, to_markdown
    from polyseek.eval.report import write_report

    with tempfile.TemporaryDirectory(prefix="polyseek-pages-") as scratch, stage_progress(console) as progress:
        store = str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_pages_eval(folder, store=store, image_encoder=image_encoder, text_encoder=text_encoder,
                                signals=signal, rerank=rerank, split=split, limit=limit,
                                image_for_documents=image_for_documents, progress=progress,
                                reranker=reranker, statements=statements)
    output, markdown = write_report(report, output, render=to_markdown)
    summary = {"output": str(output), "markdown": str(markdown), "n_queries": report["n_queries"],
               **{task: report[task] for task in TASKS}, "failed_files": report["failed_files"]}
    if as_json:
        print_json(summary)
        return
    for task in TASKS:
        m = report[task]
        console.print(f"{task}: " + ", ".join(f"{name} {m[name]:.3f}" for name in ("recall@1", "recall@5", "recall@10", "hit@5", "ndcg@5", "mrr@10")),
                      highlight=False)
    for facet, groups in report.get("breakdown", {}).items():
        console.print(f"by {facet} (within hit@5, within R@5, corpus hit@10; n):", highlight=False)
        for value, entry in groups.items():
            w, c = entry["within_document"], entry["corpus"]
            console.print(f"  {value}: {w['hit@5']:.3f}, {w['recall@5']:.3f}, {c['hit@10']:.3f}; {entry['n_queries']}",
                          highlight=False, markup=False)
    failed = report.get("failed_files", [])
    console.print(f"files that failed to index: {len(failed)}", highlight=False)
    for failure in failed:
        console.print(f"  {failure['file']}: {failure['reason']}", highlight=False, markup=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("pages")(pages)
