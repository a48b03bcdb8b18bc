"""``polyseek eval needle``: photos stitched into N×N grids, each query one cell's caption; tiles vs whole images."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)


def _grids(values: list[str]) -> tuple[int, ...]:
    from polyseek.errors import InvalidInputError

    out: list[int] = []
    for value in values or ["2,4,8"]:
        for part in str(value).split(","):
            try:
                out.append(int(part))
            except ValueError:
                raise InvalidInputError(f"--grid takes whole numbers (2, 4, 8 or 2,4,8), got {part!r}") from None
    return tuple(dict.fromkeys(out))


def needle(
    folder: Path = typer.Argument(..., help="Captions folder (Flickr8k layout: captions.json + images/)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md)."),
    grid: list[str] = typer.Option([], "--grid", help="N of the N×N grids; repeatable or a comma list (default 2,4,8)."),
    cell: int = typer.Option(200, "--cell", help="Side of a grid cell in pixels (each photo is centre-cropped to it)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N photos of the folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the photo order and the caption chosen per photo."),
    tiles: str = typer.Option("min_side=256,levels=2+4,overlap=0.5", "--tiles",
                              help="Tile settings of the tiled index (as POLYSEEK_TILES: key=value pairs; levels joined by +)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also index the grids whole (today's behaviour) in the same run."),
    ceiling: bool = typer.Option(True, "--ceiling/--no-ceiling", help="Also index every cell alone as a photo (the bound the model sets)."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Keep grids and indexes here (a re-run re-indexes nothing). Default: a temporary folder."),
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    markdown: Path | None = typer.Option(None, "--markdown", help="Where to write the markdown table (default: OUTPUT with .md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline figures as one JSON object."),
) -> None:
    """Needles in large images: grid_hit@5 and cell_box@1 (first hit's box overlaps the query's cell, IoU ≥ 0.5)."""
    from polyseek.eval.needle import METRICS, NeedleOptions, run_needle, to_markdown
    from polyseek.eval.report import write_report
    from polyseek.ingest.tiles import TileSettings

    options = NeedleOptions(grids=_grids(grid), cell=cell, seed=seed, limit=limit, tiles=TileSettings.parse(tiles),
                            baseline=baseline, ceiling=ceiling)
    with stage_progress(console) as progress:
        report = run_needle(folder, options, workdir=workdir, image_encoder=image_encoder, text_encoder=text_encoder,
                            progress=progress)
    json_path, md_path = write_report(report, output, markdown, render=to_markdown)
    summary = {"output": str(json_path), "markdown": str(md_path),
               "test": {n: {v: e[v]["test"] for v in ("whole", "tiles") if v in e and "test" in e[v]} for n, e in report["grids"].items()},
               "goal_met": report["goal"]["met"]}
    if as_json:
        print_json(summary)
        return
    for n, entry in report["grids"].items():
        for variant in ("whole", "tiles"):
            test = entry.get(variant, {}).get("test")
            if test:
                console.print(f"{n}x{n} {variant} (test, {test['n_queries']} queries): "
                              + ", ".join(f"{m} {test[m]:.3f}" for m in METRICS)
                              + f"; {entry[variant]['cost']['items']} items in {entry[variant]['cost']['index_seconds']:.1f}s",
                              highlight=False)
    console.print(f"wrote {json_path} and {md_path}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("needle")(needle)
