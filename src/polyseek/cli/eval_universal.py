"""``polyseek eval universal``: several eval sets in one index, each set's queries on its own items and on the whole pool."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)


def universal(
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md)."),
    captions: Optional[Path] = typer.Option(None, "--captions", help="Captions folder (Flickr8k layout: captions.json + images/)."),
    pages: list[Path] = typer.Option([], "--pages", help="Page set (MMLongBench-Doc layout: documents/*.pdf + queries.jsonl); repeatable."),
    moments: Optional[Path] = typer.Option(None, "--moments", help="Generated moments benchmark (manifest.json + videos; benchmarks/moments/generate.py)."),
    distractors: list[Path] = typer.Option([], "--distractors", help="Any folder indexed as is (notes, audio, posters); repeatable."),
    split: str = typer.Option("all", "--split", help="Queries to run: all, dev (fit calibration here) or test (report here)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N photos of the captions set (pool and queries)."),
    max_pages: list[int] = typer.Option([], "--max-pages", min=1, help="Per page set: whole PDFs in name order while they fit in N pages; "
                                        "once for every set, or once per --pages in order."),
    max_queries: Optional[int] = typer.Option(None, "--max-queries", min=1, help="Per task: only the first N queries of the split."),
    max_distractors: Optional[int] = typer.Option(None, "--max-distractors", min=1, help="Per distractor folder: only the first N files."),
    image_queries: Optional[int] = typer.Option(None, "--image-queries", min=0, help="Photo queries: the first N photos of the split (default: all; 0: none)."),
    k: int = typer.Option(10, "--k", min=10, max=1000, help="Results asked per query."),
    own: bool = typer.Option(True, "--own/--no-own", help="Also run each task on its own items (--no-own: the whole pool only)."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="Standardise each kind's scores before kinds are fused."),
    kind_prior: float = typer.Option(1.0, "--kind-prior", min=0.0, help="Weight of the query-side kind prior, as a multiple of the fitted one (0: off)."),
    reuse_index: list[Path] = typer.Option([], "--reuse-index", help="An index built before (store folder or eval workdir): "
                                            "files it holds unchanged are copied; spaces of another encoder are re-encoded. Repeatable."),
    reused_only: bool = typer.Option(False, "--reused-only", help="Page sets: only the PDFs a --reuse-index holds completely."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the index here (a re-run re-indexes nothing). Default: a temporary folder."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Where to write the markdown table (default: OUTPUT with .md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline figures as one JSON object."),
) -> None:
    """Universal retrieval: one index of every set; each task's gap between its own pool and the whole pool."""
    from polyseek.eval.report import write_report
    from polyseek.eval.universal import UniversalOptions, run_universal, to_markdown
    from polyseek.search.config import SearchConfig

    options = UniversalOptions(captions=captions, pages=tuple(pages), moments=moments, distractors=tuple(distractors),
                               split=split, limit=limit,
                               max_pages=(max_pages[0] if len(max_pages) == 1 else tuple(max_pages) or None), max_queries=max_queries,
                               max_distractors=max_distractors, image_queries=image_queries, k=k, own=own,
                               reuse=tuple(reuse_index), reused_only=reused_only)
    config = None if calibrate and kind_prior == 1.0 else SearchConfig(calibrate=calibrate, kind_prior=kind_prior)
    with stage_progress(console) as progress:
        report = run_universal(options, workdir=workdir, image_encoder=image_encoder, text_encoder=text_encoder,
                               config=config, progress=progress)
    json_path, md_path = write_report(report, output, markdown, render=to_markdown)
    summary = {"output": str(json_path), "markdown": str(md_path),
               **{key: report[key] for key in ("tasks", "modality_top1")},
               "photo_share_top5": report["image_queries"].get("photo_share_top5")}
    if as_json:
        print_json(summary)
        return
    for name, data in report["tasks"].items():
        console.print(f"{name} ({data['n_queries']} queries): own " + ", ".join(f"{m} {v:.3f}" for m, v in data.get("own", {}).items())
                      + " | universal " + ", ".join(f"{m} {v:.3f}" for m, v in data["universal"].items())
                      + f" | top-1 modality {report['modality_top1'][name]:.3f}", highlight=False)
    share = report["image_queries"].get("photo_share_top5")
    if share is not None:
        console.print(f"photo queries ({report['image_queries']['n_queries']}): photo_share_top5 {share:.3f}", highlight=False)
    console.print(f"wrote {json_path} and {md_path}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("universal")(universal)
