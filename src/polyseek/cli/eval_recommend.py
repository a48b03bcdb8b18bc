"""``polyseek eval recommend``: leave-last-out next-item recommendation against baselines (MovieLens layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, TextEncoderOption, print_json, stage_progress

console = Console(stderr=True)


def recommend(
    folder: Path = typer.Argument(..., help="Folder with items.jsonl, ratings.csv (userId, movieId, rating, timestamp) and posters/."),
    output: Path = typer.Option(..., "--output", "-o", help="Report JSON to write; the markdown table goes beside it (.md)."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Keep the catalogue and its index here (a re-run re-indexes nothing). Default: a temporary folder."),
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    epochs: int = typer.Option(30, "--epochs", min=1, max=500, help="Most epochs of the sequential model (the best on the dev targets is kept)."),
    models: int = typer.Option(1, "--models", min=1, max=10, help="Sequential models trained with successive seeds and averaged."),
    dim: int = typer.Option(64, "--dim", min=8, max=512, help="Width of the sequential model."),
    all_items: bool = typer.Option(False, "--all-items", help="Rank all films, also those without a poster (text only); default: the films with a poster."),
    train_minutes: Optional[float] = typer.Option(None, "--train-minutes", min=0.1, help="Stop training the sequential model after the epoch that passes this."),
    negatives: int = typer.Option(0, "--negatives", min=0, help="Sampled negatives per batch when training the sequential model (0: full softmax)."),
    limit_users: Optional[int] = typer.Option(None, "--limit-users", min=2, help="Tune and report on at most N users (quick runs)."),
    cold_share: float = typer.Option(0.2, "--cold-share", min=0.0, max=0.8, help="Share of items held out of training entirely for the cold-item protocol (0: skip it)."),
    resamples: int = typer.Option(1000, "--resamples", min=100, help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print the methods' headline metrics as one JSON object."),
) -> None:
    """HR@10 and NDCG@10 (with intervals, overall and on cold-start targets) of polyseek's recommenders and baselines."""
    import tempfile

    from polyseek.eval.recommend import run_recommend_eval, to_markdown
    from polyseek.eval.report import write_report

    with tempfile.TemporaryDirectory(prefix="polyseek-recommend-") as scratch, stage_progress(console) as progress:
        work = workdir.expanduser().absolute() if workdir else Path(scratch)
        report = run_recommend_eval(folder, work, seed=seed, resamples=resamples, epochs=epochs, models=models, dim=dim,
                                    limit_users=limit_users, posters_only=not all_items, negatives=negatives,
                                    time_budget_s=train_minutes * 60 if train_minutes else None, image_encoder=image_encoder, text_encoder=text_encoder,
                                    cold_share=cold_share, progress=progress)
    json_path, md_path = write_report(report, output, render=to_markdown)
    if as_json:
        print_json({"output": str(json_path), "markdown": str(md_path), "n_users": report["n_users"], "best": report["best"],
                    "methods": {n: {k: m[k] for k in ("hr@10", "ndcg@10")} for n, m in report["methods"].items()}})
        return
    Console().print(to_markdown(report), highlight=False)
    console.print(f"wrote {json_path} and {md_path}", highlight=False)


def register(eval_app: typer.Typer) -> None:
    eval_app.command("recommend")(recommend)
