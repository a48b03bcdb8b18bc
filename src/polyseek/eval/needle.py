"""Needles in large images: photos stitched into N×N grids, each query one cell's caption, found by tiles.

From a captions folder (Flickr8k layout), the photos are shuffled with a seed and stitched into N×N grids of
square cells (each photo centre-cropped to a square and resized to ``cell`` pixels). Each photo's query is one of
its captions (chosen with the seed). Two indexes are built through the real product path (``Engine.index``):
the grids indexed whole (tiles off: today's behaviour) and with tiles (:mod:`polyseek.ingest.tiles`). Every query
is one ``Engine.search`` restricted to its N's grids:

- ``grid_hit@k``: the query's grid is among the first k results;
- ``cell_box@1``: the first result is the query's grid and carries a box (a tile) whose IoU with the query's cell
  is at least 0.5. Whole-image indexing has no boxes, so it scores 0.

Grids are split by number: every third grid (0, 3, 6, ...) is the dev split the tile settings were chosen on;
the others are the test split the README reports. Cost: items indexed and indexing seconds per variant.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import load_captions
from polyseek.eval.runner import describe_engine
from polyseek.ingest import tiles as tiling
from polyseek.types import Filters, Modality, QueryPart
from polyseek.version import __version__

ProgressFn = Callable[[str, int, int], None]
IOU_HIT = 0.5
DEV_EVERY = 3  # grid i is dev when i % DEV_EVERY == 0
K = 10


@dataclass(frozen=True)
class NeedleOptions:
    """What to build and measure. ``tiles``: the tile settings of the tiled index (``min_side`` is lowered to
    the smallest grid so every grid is tiled); ``limit``: use only the first N photos of the folder."""

    grids: tuple[int, ...] = (2, 4, 8)
    cell: int = 200
    seed: int = 0
    limit: int | None = None
    tiles: tiling.TileSettings = field(default_factory=lambda: tiling.with_defaults(min_side=256))
    baseline: bool = True
    ceiling: bool = True  # also index every cell alone: the bound on cell_box@1 that the image-text model sets

    def __post_init__(self) -> None:
        if not self.grids or not all(isinstance(n, int) and 2 <= n <= 16 for n in self.grids):
            raise InvalidInputError(f"--grid must be whole numbers from 2 to 16, got {list(self.grids)}")
        if not 32 <= self.cell <= 1024:
            raise InvalidInputError(f"--cell must be from 32 to 1024 pixels, got {self.cell}")


@dataclass(frozen=True)
class Cell:
    query_id: str
    caption: str
    grid: str  # grid file's absolute path
    box: tuple[float, float, float, float]  # the cell in the grid's pixels
    split: str
    photo: str = ""  # the photo in the cell (its file name)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1).

    >>> iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    """
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def square(path: Path, side: int) -> Image.Image:
    """A photo centre-cropped to a square, ``side`` pixels."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    return ImageOps.fit(upright, (side, side), Image.Resampling.BICUBIC)


def build_grids(photos: Sequence[tuple[Path, list[str]]], n: int, folder: Path, cell: int, seed: int) -> list[Cell]:
    """Stitch the photos (shuffled with ``seed``) into n×n grids under ``folder``; one query per cell.
    A grid file that exists is kept (the same seed and photos make the same grid), so a kept index stays valid."""
    rng = random.Random(f"needle:{seed}:{n}")
    order = list(range(len(photos)))
    rng.shuffle(order)
    per_grid = n * n
    folder.mkdir(parents=True, exist_ok=True)
    cells: list[Cell] = []
    for number in range(len(order) // per_grid):
        members = order[number * per_grid:(number + 1) * per_grid]
        path = Path(file_key(folder / f"grid-{number:04d}.jpg"))
        make = not path.is_file()
        canvas = Image.new("RGB", (n * cell, n * cell)) if make else None
        for position, index in enumerate(members):
            row, col = divmod(position, n)
            image_path, captions = photos[index]
            if canvas is not None:
                canvas.paste(square(image_path, cell), (col * cell, row * cell))
            caption = captions[rng.randrange(len(captions))]
            cells.append(Cell(query_id=f"{n}x{n}/{number:04d}/{row},{col}:{image_path.name}", caption=caption, grid=str(path),
                              box=(col * cell, row * cell, (col + 1) * cell, (row + 1) * cell),
                              split="dev" if number % DEV_EVERY == 0 else "test", photo=image_path.name))
        if canvas is not None:
            partial = path.with_suffix(".part.jpg")
            canvas.save(partial, quality=90)
            partial.replace(path)
    return cells


def write_cells(photos: Sequence[tuple[Path, list[str]]], folder: Path, cell: int) -> Path:
    """Every photo as its grid cell alone (the same crop and size), for the ceiling: cells indexed one by one."""
    folder.mkdir(parents=True, exist_ok=True)
    for image_path, _captions in photos:
        target = folder / (image_path.stem + ".jpg")
        if not target.is_file():
            partial = target.with_suffix(".part.jpg")
            square(image_path, cell).save(partial, quality=90)
            partial.replace(target)
    return folder


def hit_box(hit) -> tuple[float, float, float, float] | None:
    """The box a hit carries: its best tile's, or its own when the hit is a tile."""
    region = hit.best_region
    if region is not None and region.locator.bbox is not None:
        return region.locator.bbox
    if hit.item.modality == Modality.REGION and hit.item.locator.page is None:
        return hit.item.locator.bbox
    return None


def score_query(hits, cell: Cell) -> dict[str, Any]:
    paths = [h.item.path for h in hits]
    rank = next((i + 1 for i, p in enumerate(paths) if p == cell.grid), None)
    first_box = hit_box(hits[0]) if hits else None
    overlap = iou(first_box, cell.box) if first_box is not None and rank == 1 else 0.0
    return {"rank": rank, "iou@1": round(overlap, 4), "box@1": list(first_box) if first_box else None,
            "grid_hit@1": float(rank == 1), "grid_hit@5": float(rank is not None and rank <= 5),
            "grid_hit@10": float(rank is not None and rank <= 10), "cell_box@1": float(overlap >= IOU_HIT)}


METRICS = ("grid_hit@1", "grid_hit@5", "grid_hit@10", "cell_box@1")


def summarise(results: dict[str, dict[str, Any]], cells: Sequence[Cell]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for split in ("dev", "test", "all"):
        chosen = [results[c.query_id] for c in cells if split == "all" or c.split == split]
        if chosen:
            out[split] = {m: round(sum(r[m] for r in chosen) / len(chosen), 4) for m in METRICS} | {"n_queries": len(chosen)}
    return out


def _index(engine: Engine, folder: Path, stage: str, progress: ProgressFn | None) -> dict[str, Any]:
    def on_progress(event) -> None:
        if progress and event.files_done >= 0:
            progress(stage, event.files_done, event.files_total)

    started = time.perf_counter()
    summary = engine.index([str(folder)], on_progress=on_progress)
    seconds = time.perf_counter() - started
    record_items = sum(r.items for k, r in engine.catalog.files().items() if k.startswith(str(folder)))
    return {"files": summary.added + summary.updated + summary.unchanged, "items": record_items,
            "items_added": summary.items, "index_seconds": round(seconds, 3), "failed": list(summary.failed)}


def run_needle(folder: str | Path, options: NeedleOptions, *, workdir: str | Path | None = None,
               image_encoder: str | None = None, text_encoder: str | None = None,
               progress: ProgressFn | None = None) -> dict[str, Any]:
    """Build the grids, index them whole and tiled, run every cell's caption; returns the report."""
    dataset = load_captions(folder, limit_images=options.limit)
    text_task = next(t for t in dataset.tasks if t.name == "text_to_image")
    captions: dict[str, list[str]] = {}
    for query in text_task.queries:
        image_id = next(iter(text_task.qrels[query.id]))
        captions.setdefault(image_id, []).append(query.text or "")
    photos = [(c.image, captions[c.id]) for c in dataset.candidates if c.image is not None and captions.get(c.id)]
    smallest = min(options.grids)
    if len(photos) < smallest * smallest:
        raise InvalidInputError(f"{folder}: {len(photos)} photos cannot fill one {smallest}x{smallest} grid")
    settings = options.tiles
    if settings.min_side > smallest * options.cell:
        raise InvalidInputError(f"tiles min_side {settings.min_side} would leave the {smallest}x{smallest} grids "
                                f"({smallest * options.cell} px) untiled", hint="lower min_side or raise --cell")
    variants = [("tiles", settings)] + ([("whole", tiling.TileSettings(enabled=False))] if options.baseline else [])
    report: dict[str, Any] = {"grids": {}}
    with ExitStack() as stack:
        if workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polyseek-needle-")))
        else:
            root = Path(workdir).expanduser().absolute()
            root.mkdir(parents=True, exist_ok=True)
        tag = hashlib.blake2b(json.dumps([str(Path(folder).absolute()), options.seed, options.limit, options.cell]).encode(),
                              digest_size=6).hexdigest()
        cells_by_n = {n: build_grids(photos, n, root / f"grids-{tag}" / f"{n}x{n}", options.cell, options.seed)
                      for n in options.grids}
        configuration: dict[str, Any] = {}
        for variant, variant_settings in variants:
            # the tile settings are part of the store's name: a kept workdir never mixes two settings in one index
            store = root / f"store-{variant}-{hashlib.blake2b(variant_settings.describe().encode(), digest_size=4).hexdigest()}"
            engine = Engine(str(store), image_encoder=image_encoder, text_encoder=text_encoder)
            try:
                configuration = describe_engine(engine)
                for n in options.grids:
                    cells = cells_by_n[n]
                    grid_folder = Path(cells[0].grid).parent
                    with tiling.use(variant_settings):
                        cost = _index(engine, grid_folder, f"index {n}x{n} ({variant})", progress)
                    filters = Filters(path_glob=str(grid_folder) + "/*")
                    results: dict[str, dict[str, Any]] = {}
                    started = time.perf_counter()
                    for done, cell in enumerate(cells, 1):
                        hits = engine.search([QueryPart(text=cell.caption)], k=K, filters=filters)
                        results[cell.query_id] = {"query": cell.caption, "cell": list(cell.box), **score_query(hits, cell)}
                        if progress:
                            progress(f"search {n}x{n} ({variant})", done, len(cells))
                    seconds = time.perf_counter() - started
                    entry = report["grids"].setdefault(str(n), {
                        "n": n, "n_grids": len({c.grid for c in cells}), "n_queries": len(cells),
                        "grid_pixels": n * options.cell,
                        "chance_grid_hit@5": round(min(1.0, 5 / len({c.grid for c in cells})), 4),
                        "splits": {s: len({c.grid for c in cells if c.split == s}) for s in ("dev", "test")},
                    })
                    entry[variant] = {**summarise(results, cells),
                                      "cost": {**cost, "items_per_grid": round(cost["items"] / max(1, cost["files"]), 2),
                                               "search_seconds": round(seconds, 3)},
                                      "per_query": results}
            finally:
                engine.close()
        if options.ceiling:
            _ceiling(report, photos, cells_by_n, root / f"cells-{tag}", options, image_encoder, text_encoder, progress)
    for entry in report["grids"].values():
        whole = entry.get("whole", {}).get("cost")
        tiled = entry["tiles"]["cost"]
        if whole:
            entry["cost_ratio"] = {"items": round(tiled["items"] / max(1, whole["items"]), 2),
                                   "index_seconds": round(tiled["index_seconds"] / max(1e-9, whole["index_seconds"]), 2)}
    goal = report["grids"].get("4", {}).get("tiles", {}).get("test")
    report.update({
        "dataset": {"name": Path(folder).name, "kind": "needle", "path": str(Path(folder).absolute()), "n_photos": len(photos)},
        "config": {**configuration, "tiles": settings.describe(), "cell": options.cell, "seed": options.seed,
                   "limit": options.limit, "k": K, "iou_hit": IOU_HIT, "dev_split": f"grid number % {DEV_EVERY} == 0",
                   "search": "Engine.search with the caption as text, restricted to that N's grids (path filter)",
                   "polyseek_version": __version__},
        "goal": {"grid": 4, "grid_hit@5": 0.6, "cell_box@1": 0.4,
                 "met": bool(goal and goal["grid_hit@5"] >= 0.6 and goal["cell_box@1"] >= 0.4) if goal else None},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return report


def _ceiling(report: dict[str, Any], photos, cells_by_n: dict[int, list[Cell]], folder: Path, options: NeedleOptions,
             image_encoder: str | None, text_encoder: str | None, progress: ProgressFn | None) -> None:
    """The same queries against every cell indexed alone as its own photo: the first result is the query's photo
    at ``cell_r@1`` of queries, which roughly bounds ``cell_box@1`` (a tile leads about where its cell's photo would)."""
    write_cells(photos, folder, options.cell)
    engine = Engine(str(folder.parent / "store-cells"), image_encoder=image_encoder, text_encoder=text_encoder)
    try:
        with tiling.use(tiling.TileSettings(enabled=False)):
            cost = _index(engine, folder, "index cells alone", progress)
        for n, cells in cells_by_n.items():
            results: dict[str, dict[str, Any]] = {}
            for done, cell in enumerate(cells, 1):
                hits = engine.search([QueryPart(text=cell.caption)], k=K, filters=Filters(path_glob=str(folder) + "/*"))
                names = [Path(h.item.path).stem for h in hits]
                rank = names.index(Path(cell.photo).stem) + 1 if Path(cell.photo).stem in names else None
                results[cell.query_id] = {"cell_r@1": float(rank == 1), "cell_r@5": float(rank is not None and rank <= 5)}
                if progress:
                    progress(f"search {n}x{n} (cells alone)", done, len(cells))
            splits = {}
            for split in ("dev", "test", "all"):
                chosen = [results[c.query_id] for c in cells if split == "all" or c.split == split]
                if chosen:
                    splits[split] = {m: round(sum(r[m] for r in chosen) / len(chosen), 4) for m in ("cell_r@1", "cell_r@5")}
            report["grids"][str(n)]["cells_alone"] = {**splits, "cost": cost}
    finally:
        engine.close()


def to_markdown(report: dict[str, Any]) -> str:
    """The README table: per N, whole-image vs tiles on the test split, and the cost."""
    lines = [f"# polyseek eval needle: {report['dataset']['name']} ({report['dataset']['n_photos']} photos)", "",
             f"Tiles: `{report['config']['tiles']}`; cells {report['config']['cell']} px; seed {report['config']['seed']}; "
             f"image encoder `{report['config'].get('image_encoder_resolved', '?')}`.", "",
             "| grid | grids (test) | queries (test) | indexing | grid_hit@1 | grid_hit@5 | grid_hit@10 | cell_box@1 | chance grid_hit@5 | items | index s |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, entry in report["grids"].items():
        for variant in ("whole", "tiles"):
            data = entry.get(variant)
            if not data or "test" not in data:
                continue
            test, cost = data["test"], data["cost"]
            lines.append(f"| {key}×{key} | {entry['splits']['test']} | {test['n_queries']} | {variant} | "
                         + " | ".join(f"{test[m]:.3f}" for m in METRICS)
                         + f" | {entry['chance_grid_hit@5']:.3f} | {cost['items']} | {cost['index_seconds']:.1f} |")
    lines += ["", "Dev split (every third grid; the tile settings were chosen here):", "",
              "| grid | indexing | grid_hit@5 | cell_box@1 | queries |", "|---|---|---:|---:|---:|"]
    ceiling_lines = []
    for key, entry in report["grids"].items():
        for variant in ("whole", "tiles"):
            dev = entry.get(variant, {}).get("dev")
            if dev:
                lines.append(f"| {key}×{key} | {variant} | {dev['grid_hit@5']:.3f} | {dev['cell_box@1']:.3f} | {dev['n_queries']} |")
        alone = entry.get("cells_alone", {})
        if "test" in alone:
            ceiling_lines.append(f"| {key}×{key} | {alone['test']['cell_r@1']:.3f} | {alone['test']['cell_r@5']:.3f} |")
    if ceiling_lines:
        lines += ["", "Ceiling (test split): the same queries against every cell indexed alone as a photo; a tile leads",
                  "about as often as its cell's photo would, so cell_r@1 roughly bounds cell_box@1:", "",
                  "| grid | cell_r@1 | cell_r@5 |", "|---|---:|---:|", *ceiling_lines]
    goal = report.get("goal", {})
    lines += ["", f"Goal (4×4, test): grid_hit@5 ≥ {goal.get('grid_hit@5')} and cell_box@1 ≥ {goal.get('cell_box@1')}: "
              + {True: "met", False: "not met", None: "not measured"}[goal.get("met")] + "."]
    return "\n".join(lines) + "\n"
