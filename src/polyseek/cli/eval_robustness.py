"""``polyseek eval robustness``: the relative drop of each metric under query and photo perturbations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)


def _names(values: list[str], default: tuple[str, ...]) -> tuple[str, ...]:
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    return () if names == ["none"] else tuple(names) or default


def robustness(
    folder: Path = typer.Argument(..., help="Captions folder (Flickr8k layout: captions.json + images/)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; a markdown table goes beside it (.md)."),
    limit: int = typer.Option(200, "--limit", min=1, help="Use only the first N photos (bounded by default: 200)."),
    captions_per_image: int = typer.Option(2, "--captions-per-image", min=1, max=5, help="Caption queries per photo (its first ones)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every perturbation (per query or photo)."),
    text: list[str] = typer.Option([], "--text", help="Text perturbations to run (default all: attribute, typos, dilution, shuffle; none: no text)."),
    image: list[str] = typer.Option([], "--image", help="Image perturbations to run (default all: crop, jpeg20, rotate90, downscale128, "
                                    "grayscale, rotate90+exif; none: no image)."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Keep indexes and perturbed photos here (a re-run re-indexes nothing)."),
    image_encoder: str | None = ImageEncoderOption,
    text_encoder: str | None = TextEncoderOption,
    markdown: Path | None = typer.Option(None, "--markdown", help="Where to write the markdown table (default: OUTPUT with .md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the headline figures as one JSON object."),
) -> None:
    """Perturb caption queries (attribute, typos, dilution, shuffle) and photos (crop, JPEG q20, rotation, downscale,
    grayscale) as queries and as indexed items; report each metric's relative drop."""
    from polyseek.eval.report import write_report
    from polyseek.eval.robustness import (
        FIXES,
        IMAGE_PERTURBATIONS,
        TEXT_PERTURBATIONS,
        RobustnessOptions,
        run_robustness,
        to_markdown,
    )

    options = RobustnessOptions(limit=limit, captions_per_image=captions_per_image, seed=seed,
                                text=_names(text, tuple(TEXT_PERTURBATIONS)),
                                images=_names(image, (*IMAGE_PERTURBATIONS, *FIXES)))
    with stage_progress(console) as progress:
        report = run_robustness(folder, options, workdir=workdir, image_encoder=image_encoder, text_encoder=text_encoder,
                                progress=progress)
    json_path, md_path = write_report(report, output, markdown, render=to_markdown)
    if as_json:
        print_json({"output": str(json_path), "markdown": str(md_path), "worst_r@10_drop": report["worst_r@10_drop"],
                    "over_goal": report["goal"]["over"]})
        return
    for section in ("text_to_photo", "indexed_photo", "image_query"):
        for name, entry in report[section].items():
            drop = entry.get("relative_drop", {}).get("recall@10")
            console.print(f"{section} {name}: R@10 {entry['metrics']['recall@10']:.3f}"
                          + (f" ({drop:+.1%})" if drop is not None else ""), highlight=False)
    console.print(f"wrote {json_path} and {md_path}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("robustness")(robustness)
