"""``polyseek eval``: retrieval evaluation through the real product path, and paired comparison of reports."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)
eval_app = typer.Typer(help="Evaluate retrieval on a dataset (index into a fresh store, search with the engine).",
                       no_args_is_help=True)

# Optional command modules written by others; each provides ``register(eval_app)``.
EVAL_EXTENSIONS = ["polyseek.cli.eval_pages", "polyseek.cli.eval_moments", "polyseek.cli.eval_context",
                   "polyseek.cli.eval_universal", "polyseek.cli.eval_recommend",
                   "polyseek.cli.eval_upgrade", "polyseek.cli.eval_ask",
                   "polyseek.cli.eval_needle", "polyseek.cli.eval_robustness"]

OutputOption = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md).")
MarkdownOption = typer.Option(None, "--markdown", help="Where to write the markdown table (default: OUTPUT with .md).")
StoreKindOption = typer.Option("lancedb", "--backend", help="Store backend: lancedb (the shipped default backend, in a fresh folder) or memory.")
WorkdirOption = typer.Option(None, "--workdir", help="Keep the store and text files here (a re-run re-indexes nothing). Default: a temporary folder.")
DepthOption = typer.Option(100, "--depth", min=1, max=10_000, help="Results asked per query (k of Engine.search); metrics go to @50.")
ExactRanksOption = typer.Option(True, "--exact-ranks/--no-exact-ranks",
                                help="Search the whole pool again for queries that missed within --depth, to get exact mean rank.")


def run_and_write(dataset, output: Path, markdown: Optional[Path], image_encoder: Optional[str], text_encoder: Optional[str],
                  store: str, workdir: Optional[Path], depth: int, exact_ranks: bool, as_json: bool) -> dict[str, Any]:
    """Shared by every ``eval`` adapter command: progress bar, run, write JSON + markdown, print a summary."""
    from polyseek.eval.report import task_names, write_report
    from polyseek.eval.runner import run_dataset

    with stage_progress(console) as progress:
        report = run_dataset(dataset, image_encoder=image_encoder, text_encoder=text_encoder, store=store,
                             workdir=workdir, depth=depth, exact_ranks=exact_ranks, progress=progress)
    json_path, md_path = write_report(report, output, markdown)
    summary = {"output": str(json_path), "markdown": str(md_path), **{t: report[t] for t in task_names(report)}}
    if as_json:
        print_json(summary)
    else:
        for name in task_names(report):
            metrics = report[name]
            console.print(f"{name}: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in ("recall@1", "recall@5", "recall@10", "ndcg@10", "mrr@10"))
                          + f", mean rank {metrics['mean_rank']:.1f}", highlight=False)
        console.print(f"wrote {json_path} and {md_path}", highlight=False)
    return report


@eval_app.command("captions")
def captions(
    folder: Path = typer.Argument(..., help="Folder with captions.json ([{image, captions}]) and images/."),
    output: Path = OutputOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    markdown: Optional[Path] = MarkdownOption,
    store: str = StoreKindOption,
    workdir: Optional[Path] = WorkdirOption,
    depth: int = DepthOption,
    exact_ranks: bool = ExactRanksOption,
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N images (and their captions)."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline metrics as one JSON object."),
    lang: str = typer.Option("en", "--lang", help="Query language(s): en, or zh, de, fr, cs, nl, ar from captions_multilingual.json "
                             "(text→image only); a comma list (en,zh,de) also reports MRV."),
    query_encoder: Optional[str] = typer.Option(None, "--query-encoder", help="Answer queries with this encoder, projected into "
                                                "the index's spaces (e.g. e5-multilingual-bge)."),
    per_image: Optional[int] = typer.Option(None, "--per-image", min=1, help="With --lang: only the first N captions of each image per language."),
) -> None:
    """Text→image and image→text retrieval on a captions folder (e.g. Flickr8k)."""
    from polyseek.eval.datasets import load_captions

    if lang != "en" or query_encoder or per_image:
        from polyseek.cli.upgrade import eval_languages

        eval_languages(folder, lang, output, markdown, image_encoder, text_encoder, store, workdir, depth, exact_ranks,
                       limit, query_encoder, as_json, per_image)
        return

    dataset = load_captions(folder, limit_images=limit)
    run_and_write(dataset, output, markdown, image_encoder, text_encoder, store, workdir, depth, exact_ranks, as_json)


@eval_app.command("mbeir")
def mbeir(
    queries: Path = typer.Argument(..., help="M-BEIR query JSONL (qid, query_txt, query_img_path, query_modality, pos_cand_list)."),
    pool: Path = typer.Argument(..., help="M-BEIR candidate pool JSONL (did, txt, img_path, modality)."),
    output: Path = OutputOption,
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="qrels file 'qid 0 did relevance [task]' (default: pos_cand_list)."),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help="Folder the img_path fields are relative to (default: the pool's folder)."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    markdown: Optional[Path] = MarkdownOption,
    store: str = StoreKindOption,
    workdir: Optional[Path] = WorkdirOption,
    depth: int = DepthOption,
    exact_ranks: bool = ExactRanksOption,
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N queries."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline metrics as one JSON object."),
) -> None:
    """Any-to-any retrieval on M-BEIR-style JSONL (text, image or composed queries)."""
    from polyseek.eval.datasets import load_mbeir

    dataset = load_mbeir(queries, pool, qrels=qrels, image_root=image_root, limit_queries=limit)
    run_and_write(dataset, output, markdown, image_encoder, text_encoder, store, workdir, depth, exact_ranks, as_json)


@eval_app.command("beir")
def beir(
    folder: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
    output: Path = OutputOption,
    split: str = typer.Option("test", "--split", help="Which qrels/<split>.tsv to use."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    markdown: Optional[Path] = MarkdownOption,
    store: str = StoreKindOption,
    workdir: Optional[Path] = WorkdirOption,
    depth: int = DepthOption,
    exact_ranks: bool = ExactRanksOption,
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N judged queries."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline metrics as one JSON object."),
) -> None:
    """Text retrieval on a BEIR-style dataset."""
    from polyseek.eval.datasets import load_beir

    dataset = load_beir(folder, split=split, limit_queries=limit)
    run_and_write(dataset, output, markdown, image_encoder, text_encoder, store, workdir, depth, exact_ranks, as_json)


@eval_app.command("compare")
def compare(
    report_a: Path = typer.Argument(..., help="Baseline report JSON (A)."),
    report_b: Path = typer.Argument(..., help="Candidate report JSON (B)."),
    permutations: int = typer.Option(10_000, "--permutations", min=100, help="Sign flips in the randomisation test."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the comparison as JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of a markdown table."),
) -> None:
    """Paired comparison of two reports per query (B − A), with randomisation and Wilcoxon p-values."""
    import json

    from polyseek.eval.compare import compare_reports, comparison_markdown
    from polyseek.eval.report import read_report

    result = compare_reports(read_report(report_a), read_report(report_b), permutations=permutations)
    if output is not None:
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if as_json:
        print_json(result)
    else:
        typer.echo(comparison_markdown(result), nl=False)


def _register_extensions() -> None:
    for name in EVAL_EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that adapter is not written yet
                continue
            raise
        module.register(eval_app)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


_register_extensions()
