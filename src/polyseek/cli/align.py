"""``polyseek align``: train the aligner (image features -> a text encoder's space) from image-caption pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from polyseek.cli.common import print_json

console = Console(stderr=True)


def align(
    pairs: Path = typer.Option(..., "--pairs", help="Folder with pairs.jsonl ({image, captions} per line) and the images."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Model directory to write (omit to only report figures)."),
    backbone: str = typer.Option("lite0", "--backbone", help="Frozen image backbone: lite0, lite1 or lite2."),
    text_encoder: str = typer.Option("bge-small-onnx", "--text-encoder", help="Frozen text encoder: bge-small-onnx or minilm."),
    features: str = typer.Option("mean,logits", "--features", help="Pooled views fed to the projector, comma-separated: mean, max, gem, grid2, logits."),
    hidden: int = typer.Option(0, "--hidden", min=0, help="Width of the projector's hidden GELU branch (0: linear)."),
    hard_negatives: bool = typer.Option(False, "--hard-negatives/--no-hard-negatives", help="Mine nearest wrong captions and images with the current model."),
    epochs: int = typer.Option(12, "--epochs", min=1, help="Training epochs."),
    input_dropout: float = typer.Option(0.4, "--input-dropout", min=0.0, max=0.9, help="Dropout on the projector's input features."),
    batch_size: int = typer.Option(256, "--batch-size", min=2, help="Images per batch (each with all its captions)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (AdamW, cosine decay)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the holdout split, batches and initialisation."),
    holdout: int = typer.Option(1012, "--holdout", min=0, help="Images held out to tune the bridge weight and report figures (0: train on all)."),
    flip_augment: bool = typer.Option(True, "--flip-augment/--no-flip-augment", help="Train on mirrored images too."),
    flip_average: bool = typer.Option(True, "--flip-average/--no-flip-average", help="Average mirrored features at inference (2 backbone passes per image)."),
    low_res_augment: int = typer.Option(128, "--low-res-augment", min=0, help="Also train on the photos shrunk to N x N pixels, for small photos (0: off)."),
    bridge: bool = typer.Option(True, "--bridge/--no-bridge", help="Fuse the training-free label bridge."),
    projector: bool = typer.Option(True, "--projector/--no-projector", help="Train the projector (off: bridge only)."),
    bridge_weight: Optional[float] = typer.Option(None, "--bridge-weight", min=0.0, max=1.0, help="Fix the bridge's share (default: tuned on the holdout)."),
    bridge_temperature: Optional[float] = typer.Option(None, "--bridge-temperature", min=0.01, help="Fix the softmax temperature of the bridge's class probabilities (default: tuned on the holdout)."),
    negatives: int = typer.Option(0, "--negatives", min=0, help="Train with N synthetic renders of pages, tables, charts and slides as modality-aware negatives (0: photos only)."),
    modality_check: int = typer.Option(0, "--modality-check", min=0, help="Measure holdout photos against N renders of another seed (photo share of neighbours)."),
    cache: Optional[Path] = typer.Option(Path(".cache/align"), "--cache", help="Where extracted features and caption embeddings are cached."),
    matryoshka: str = typer.Option("", "--matryoshka", help="Also train these leading dimensions to rank alone (Matryoshka loss), e.g. 64,128,256."),
    threads: int = typer.Option(0, "--threads", min=0, help="Torch threads (0: torch's default)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
) -> None:
    """Train the aligner's projector from image-caption pairs and write a model directory.

    Reproduce the shipped default: polyseek align --pairs ../shared/train/flickr8k --output my-aligner
    """
    from polyseek.align.pipeline import AlignOptions, run_align
    from polyseek.align.train import TrainOptions, parse_dims

    if threads:
        import torch

        torch.set_num_threads(threads)
    options = AlignOptions(
        pairs=str(pairs), output=str(output) if output else None, backbone=backbone, text_encoder=text_encoder,
        features=[f.strip() for f in features.split(",") if f.strip()], flip_augment=flip_augment,
        flip_average=flip_average, low_res_augment=low_res_augment, holdout=holdout, bridge=bridge, projector=projector, bridge_weight=bridge_weight,
        bridge_temperature=bridge_temperature,
        cache=str(cache) if cache else None, negatives=negatives, modality_check=modality_check,
        train=TrainOptions(epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden, hard_negatives=hard_negatives, seed=seed,
                           input_dropout=input_dropout, matryoshka=parse_dims(matryoshka)),
    )
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[detail]}")]
    with Progress(*columns, console=console, disable=as_json or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int, figures: dict) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, detail="")
            detail = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
            bar.update(tasks[stage], completed=done, total=total, detail=detail)

        metrics = run_align(options, progress)
    if as_json:
        print_json({k: v for k, v in metrics.items() if k not in ("history", "holdout_fusion_grid")})
        return
    for name in ("holdout_bridge", "holdout_projector", "holdout_fused", "holdout_modality"):
        if name in metrics:
            figures = metrics[name]
            console.print(f"{name.removeprefix('holdout_')}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if k != "rsum"),
                          highlight=False)
    console.print(f"trained on {metrics['train_images']} images, measured on {metrics['holdout_images']} held out "
                  f"(galleries of 506) in {metrics['seconds']:.0f}s" + (f"; wrote {output}" if output else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(align)
