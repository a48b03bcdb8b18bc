"""``polyseek eval ask``: answer accuracy, citation precision and "not found" answers per generator (page sets)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)


def ask(
    folder: Path = typer.Argument(..., help="Folder with documents/*.pdf and queries.jsonl (qid, question, doc_id, evidence_pages, answer)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; the markdown table goes beside it (.md)."),
    generator: list[str] = typer.Option([], "--generator", "-g", help="Generator spec, repeatable: extractive (default), "
                                        "llama-cpp:gemma, openai:<model>@<base_url>."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the index here (a re-run re-indexes nothing). Default: a temporary folder."),
    store: Optional[str] = typer.Option(None, "--store", help="Use this existing index as it is (nothing is indexed; only the "
                                        "questions on PDFs it holds are asked)."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    split: str = typer.Option("all", "--split", help="Questions: all, tune or test (held out)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N questions."),
    model_limit: int = typer.Option(20, "--model-limit", min=1, help="Questions answered by each generator other than extractive "
                                    "(a small local model takes seconds per answer)."),
    depth: int = typer.Option(20, "--depth", min=1, max=200, help="Pages and regions retrieved within each question's PDF."),
    score_cache: Optional[Path] = typer.Option(None, "--score-cache", help="Keep the cross-encoder's scores in this JSON file "
                                               "between runs (a re-run that changes only the answerer reranks nothing)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary per generator as one JSON object."),
) -> None:
    """Answer accuracy (normalised match / token F1), citation precision and the share of "not found" answers."""
    import tempfile

    from polyseek.eval.ask import run_ask_eval, to_markdown
    from polyseek.eval.report import write_report

    if store and workdir:
        raise typer.BadParameter("give --store or --workdir, not both")
    with tempfile.TemporaryDirectory(prefix="polyseek-ask-") as scratch, stage_progress(console) as progress:
        uri = store or str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_ask_eval(folder, generators=generator or ["extractive"], store=uri, image_encoder=image_encoder,
                              text_encoder=text_encoder, split=split, limit=limit, model_limit=model_limit, depth=depth,
                              score_cache=score_cache, index=not store,
                              progress=progress)
    output, markdown = write_report(report, output, render=to_markdown)
    if as_json:
        print_json({"output": str(output), "markdown": str(markdown),
                    "generators": {g: {h: e[h] for h in ("all", "tune", "test")} for g, e in report["generators"].items()}})
        return
    Console().print(to_markdown(report), highlight=False, markup=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)




def expansion(
    folder: Path = typer.Argument(..., help="Folder with documents/*.pdf and queries.jsonl (qid, question, doc_id, evidence_pages)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; the markdown table goes beside it (.md)."),
    generator: str = typer.Option(..., "--generator", "-g", help="The model that rewrites queries: llama-cpp:gemma, openai:<model>@<base_url>."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the index here (a re-run re-indexes nothing). Default: a temporary folder."),
    store: Optional[str] = typer.Option(None, "--store", help="Use this existing index as it is (nothing is indexed; only the "
                                        "questions on PDFs it holds are asked)."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    split: str = typer.Option("all", "--split", help="Questions: all, tune or test (held out)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N questions."),
    rerank: Optional[bool] = typer.Option(None, "--rerank/--no-rerank", help="Force the cross-encoder rerank on or off (default: as shipped)."),
) -> None:
    """Page retrieval without and with query expansion (--expand) by a generator model, on the same questions."""
    import tempfile

    from polyseek.eval.ask import expansion_markdown, run_expansion_eval
    from polyseek.eval.report import write_report

    if store and workdir:
        raise typer.BadParameter("give --store or --workdir, not both")
    with tempfile.TemporaryDirectory(prefix="polyseek-expand-") as scratch, stage_progress(console) as progress:
        uri = store or str((workdir.expanduser().absolute() if workdir else Path(scratch)) / "store")
        report = run_expansion_eval(folder, generator=generator, store=uri, image_encoder=image_encoder,
                                    text_encoder=text_encoder, split=split, limit=limit, rerank=rerank, index=not store,
                                    progress=progress)
    output, markdown = write_report(report, output, render=expansion_markdown)
    Console().print(expansion_markdown(report), highlight=False, markup=False)
    console.print(f"wrote {output} and {markdown}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("ask")(ask)
    eval_app.command("expansion")(expansion)
