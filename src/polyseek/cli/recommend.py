"""``polyseek recommend`` (more like these, or next after a history) and ``polyseek train-recommender``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, StoreOption, TextEncoderOption, make_engine, print_json, stage_progress
from polyseek.errors import InvalidInputError
from polyseek.types import Filters, Modality

console = Console(stderr=True)
METHODS = ("multimodal (default with examples), average_vector, best_score, history (default with a history), "
           "sequential (default with a history once trained), content_cf (ranks items nobody has interacted with yet)")


def _example(value: str) -> tuple[str, float]:
    """``ITEM`` or ``ITEM:WEIGHT`` (a path may hold colons: only a numeric tail is a weight)."""
    head, colon, tail = value.rpartition(":")
    if colon and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return value, 1.0


def read_history(path: Path) -> list[dict[str, Any]]:
    """A history file: JSON ``[{"item", "timestamp", "rating"}]`` or CSV with ``item,timestamp[,rating]``."""
    if not path.is_file():
        raise InvalidInputError(f"history file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, list):
            raise InvalidInputError(f"{path.name}: expected a JSON list of {{item, timestamp, rating}}")
        return data
    import csv

    rows = list(csv.DictReader(text.splitlines()))
    if rows and "item" not in rows[0]:
        raise InvalidInputError(f"{path.name}: the CSV header needs an 'item' column (and timestamp, rating)")
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            out.append({"item": row["item"], "timestamp": float(row.get("timestamp") or 0),
                        "rating": float(row["rating"]) if row.get("rating") else None})
        except ValueError:
            raise InvalidInputError(f"{path.name} line {line}: timestamp and rating must be numbers") from None
    return out


def recommend(
    like: list[str] = typer.Option([], "--like", "-l", help="Positive example: item id, indexed file, CATALOGUE#RECORD or image file; ITEM:WEIGHT to weigh it. Repeatable."),
    unlike: list[str] = typer.Option([], "--unlike", "-u", help="Negative example (same forms). Repeatable."),
    history: Optional[Path] = typer.Option(None, "--history", help="History file: JSON [{item, timestamp, rating}] or CSV item,timestamp,rating."),
    method: Optional[str] = typer.Option(None, "--method", help="Recommender: " + METHODS + "."),
    k: int = typer.Option(10, "--k", "-k", min=1, max=1000, help="Number of results."),
    exclude: list[str] = typer.Option([], "--exclude", help="Items not to recommend (what the person already has). Repeatable."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Let items of the history come back."),
    diversity: float = typer.Option(0.0, "--diversity", min=0.0, max=1.0, help="MMR diversity, 0 (off) to 1."),
    modality: list[str] = typer.Option([], "--modality", "-m", help="Only these modalities. Repeatable."),
    path_glob: Optional[str] = typer.Option(None, "--path", help="Only paths matching this glob."),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Trained model: sequential and content_cf (default: STORE/recommender)."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    as_json: bool = typer.Option(False, "--json", help='Print {"hits": [...]} as one JSON object.'),
) -> None:
    """Recommend items like some examples (and unlike others), or what comes next after a history."""
    from polyseek.cli.core import print_hits
    from polyseek.recommend import recommend as run

    filters = Filters(path_glob=path_glob, modalities=tuple(Modality.parse(m) for m in modality))
    events = read_history(history) if history else []
    engine = make_engine(store, image_encoder, text_encoder)
    try:
        hits = run(engine, positive=[_example(v) for v in like], negative=[_example(v) for v in unlike], history=events,
                   method=method, k=k, filters=filters, exclude=exclude, exclude_seen=not include_seen,
                   diversity=diversity, model_dir=model_dir)
    finally:
        engine.close()
    if as_json:
        print_json({"hits": [h.to_dict() for h in hits]})
    else:
        print_hits(hits)


def train_recommender(
    interactions: Path = typer.Argument(..., help="CSV with a header: user, item, timestamp[, rating] (column names: see options)."),
    catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="Indexed catalogue whose record ids the item column holds."),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Where to save (default: STORE/recommender, beside the index)."),
    user_column: str = typer.Option("user", "--user-column"),
    item_column: str = typer.Option("item", "--item-column"),
    time_column: str = typer.Option("timestamp", "--time-column"),
    rating_column: str = typer.Option("rating", "--rating-column"),
    epochs: int = typer.Option(40, "--epochs", min=1, max=500, help="Default: the epoch chosen on the MovieLens dev targets."),
    dim: int = typer.Option(64, "--dim", min=8, max=512),
    negatives: int = typer.Option(0, "--negatives", min=0, help="Sampled negatives per batch; 0: full softmax (as evaluated; use 256 above ~50k items)."),
    max_len: int = typer.Option(50, "--max-len", min=2, max=500, help="History length the model reads."),
    seed: int = typer.Option(0, "--seed"),
    store: Optional[str] = StoreOption,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Train the sequential recommender (a small transformer over the items' image and text vectors) on CPU, and the
    content → collaborative map that ranks items nobody has interacted with (new catalogue items too)."""
    from polyseek.recommend.sasrec import TrainConfig
    from polyseek.recommend.training import train_recommender as run

    engine = make_engine(store)
    try:
        with stage_progress(console) as progress:
            summary = run(engine, interactions, catalogue=catalogue, model_dir=model_dir,
                          config=TrainConfig(epochs=epochs, dim=dim, max_len=max_len, seed=seed, negatives=negatives),
                          columns={"user": user_column, "item": item_column, "timestamp": time_column, "rating": rating_column},
                          progress=progress)
    finally:
        engine.close()
    if as_json:
        print_json(summary)
        return
    console.print(f"trained on {summary['n_interactions']:,} interactions of {summary['n_users']:,} users over "
                  f"{summary['n_items']:,} items; saved to {summary['model_dir']}", highlight=False)
    for problem in summary["problems"]:
        console.print(f"  [red]skipped[/red] {problem}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)
    app.command("train-recommender")(train_recommender)
