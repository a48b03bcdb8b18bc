"""Robustness: how much ranking moves when a query or an indexed photo is perturbed, on a captions set.

Text query perturbations (text→photo): an inserted irrelevant attribute (XMAI-style), typos, a dilution
paragraph appended (content dilution), and a paraphrase by word-order shuffle. Image perturbations (crop to
75 % of each side, JPEG quality 20, rotation by 90°, downscale to 128 px, grayscale), applied to the image
queries (image→caption) and, separately, to the indexed photos (text→photo with clean captions). Each
perturbation is seeded per query or photo (``random.Random(f"{seed}:{name}:{id}")``), so a run repeats exactly.

The report gives every metric clean and perturbed and the relative drop ``(clean - perturbed) / clean``.
Everything goes through the product path: ``Engine.index`` into a fresh store per indexed variant,
``Engine.search`` per query with a modality filter (photos for text queries, captions for image queries).
"""

from __future__ import annotations

import io
import random
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import load_captions
from polyseek.eval.runner import describe_engine, materialise
from polyseek.types import Filters, Modality, QueryPart
from polyseek.version import __version__

ProgressFn = Callable[[str, int, int], None]
K = 10
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10")
GOAL_DROP = 0.20  # the bar: no perturbation costs more than 20 % relative on text→photo R@10

# ---- text perturbations -------------------------------------------------------------------------------
ATTRIBUTES = ("shiny", "wooden", "tiny", "striped", "plastic", "famous", "antique", "purple", "expensive", "noisy")
DETERMINERS = {"a", "an", "the", "two", "three", "some", "his", "her", "their", "one", "several"}
DILUTION = (
    "The weather report for the weekend mentions light winds and a chance of rain in the afternoon.",
    "Quarterly results were published on Tuesday and the committee will meet again next month.",
    "Please remember to update the software before the end of the year to keep the system secure.",
    "The library extended its opening hours during the exam period for all registered members.",
    "A new recipe book collects traditional dishes from several regions and their histories.",
    "Train services on the northern line are reduced while the tracks are being repaired.",
    "The museum's annual report thanks its volunteers and lists the exhibitions planned ahead.",
    "Several participants asked for the slides, which will be shared after the meeting.",
)
# a key's neighbour on its row (the right one; the last key of a row takes its left one)
KEYBOARD = {row[i]: row[i + 1] if i + 1 < len(row) else row[i - 1] for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
            for i in range(len(row))}


def _rng(seed: int, name: str, key: str) -> random.Random:
    return random.Random(f"{seed}:{name}:{key}")


def insert_attribute(text: str, rng: random.Random) -> str:
    """An irrelevant adjective after a determiner (``a dog`` → ``a purple dog``), else in front."""
    words = text.split()
    spots = [i for i, w in enumerate(words[:-1]) if w.lower() in DETERMINERS]
    adjective = rng.choice(ATTRIBUTES)
    if not spots:
        return f"{adjective} {text}"
    at = rng.choice(spots)
    if words[at].lower() in ("a", "an"):
        words[at] = ("An" if words[at][0].isupper() else "an") if adjective[0] in "aeiou" else ("A" if words[at][0].isupper() else "a")
    return " ".join(words[: at + 1] + [adjective] + words[at + 1:])


def _typo(word: str, rng: random.Random) -> str:
    """One edit inside ``word`` (its first letter kept): swap, drop, double, or hit a neighbouring key."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0 and word[i] != word[i + 1]:  # swap two neighbours (two equal letters: doubled instead)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 0:
        kind = 2
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    if kind == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    return word[:i] + KEYBOARD.get(word[i].lower(), word[i]) + word[i + 1:]  # a neighbouring key


def typos(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """About ``rate`` of the words of four letters or more get one typo (at least one word does)."""
    words = text.split()
    eligible = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not eligible:
        return text
    chosen = [i for i in eligible if rng.random() < rate] or [rng.choice(eligible)]
    for i in chosen:
        words[i] = _typo(words[i], rng)
    return " ".join(words)


def dilute(text: str, rng: random.Random, sentences: int = 3) -> str:
    """The query followed by a paragraph of unrelated sentences."""
    return text.rstrip(". ") + ". " + " ".join(rng.sample(DILUTION, sentences))


def shuffle_words(text: str, rng: random.Random) -> str:
    """The same words in another order (a paraphrase by word-order shuffle)."""
    words = re.sub(r"[.!?]+$", "", text.strip()).split()
    original = list(words)
    for _ in range(5):
        rng.shuffle(words)
        if words != original or len(set(words)) < 2:
            break
    return " ".join(words)


TEXT_PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "attribute": insert_attribute, "typos": typos, "dilution": dilute, "shuffle": shuffle_words,
}


# ---- image perturbations ------------------------------------------------------------------------------
def crop(image: Image.Image, rng: random.Random, keep: float = 0.75) -> Image.Image:
    w, h = image.size
    cw, ch = max(1, round(w * keep)), max(1, round(h * keep))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return image.crop((x, y, x + cw, y + ch))


def jpeg(image: Image.Image, rng: random.Random, quality: int = 20) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def rotate90(image: Image.Image, rng: random.Random) -> Image.Image:
    return image.transpose(Image.Transpose.ROTATE_90)


def downscale(image: Image.Image, rng: random.Random, side: int = 128) -> Image.Image:
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.BICUBIC)
    return small


def grayscale(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


IMAGE_PERTURBATIONS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "crop": crop, "jpeg20": jpeg, "rotate90": rotate90, "downscale128": downscale, "grayscale": grayscale,
}
# a fix measured beside its perturbation: the pixels rotated by 90° with the EXIF orientation tag that says so
# (what a phone writes); the product reads the tag and turns the photo upright before embedding it
FIXES = {"rotate90+exif": "rotate90"}
EXIF_UNDO_ROTATE_90 = 6  # orientation 6: the stored pixels are shown after turning them 90° clockwise


def write_perturbed(source: Path, name: str, target: Path, seed: int) -> Path:
    """The photo at ``source`` perturbed by ``name`` (or a fix), written to ``target`` (kept if it exists)."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    base = FIXES.get(name, name)
    out = IMAGE_PERTURBATIONS[base](image, _rng(seed, base, source.name))
    partial = target.with_name(target.name + ".part")
    if name == "rotate90+exif":
        exif = Image.Exif()
        exif[0x0112] = EXIF_UNDO_ROTATE_90
        out.save(partial, format="JPEG", quality=95, exif=exif.tobytes())
    elif name == "jpeg20":
        out.save(partial, format="JPEG", quality=20)
    else:
        out.save(partial, format="PNG")
    partial.replace(target)
    return target


# ---- the run ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RobustnessOptions:
    """``limit``: photos used (first N of the folder); ``captions_per_image``: text queries per photo (its
    first captions); every caption of a photo is indexed for the image queries."""

    limit: int | None = 200
    captions_per_image: int = 2
    seed: int = 0
    text: tuple[str, ...] = tuple(TEXT_PERTURBATIONS)
    images: tuple[str, ...] = (*IMAGE_PERTURBATIONS, *FIXES)

    def __post_init__(self) -> None:
        unknown = [n for n in self.text if n not in TEXT_PERTURBATIONS]
        unknown += [n for n in self.images if n not in IMAGE_PERTURBATIONS and n not in FIXES]
        if unknown:
            raise InvalidInputError(f"unknown perturbation {unknown[0]!r}", hint="text: " + ", ".join(TEXT_PERTURBATIONS)
                                    + "; image: " + ", ".join([*IMAGE_PERTURBATIONS, *FIXES]))
        if self.captions_per_image < 1:
            raise InvalidInputError("captions per image must be at least 1")


def ranks_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """recall@k (success) and MRR@10 from each query's first relevant rank (None: not in the top k).

    >>> ranks_metrics([1, 3, None])["recall@5"]
    0.6667
    """
    n = max(1, len(ranks))
    out = {f"recall@{k}": round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) for k in (1, 5, 10)}
    out["mrr@10"] = round(sum(1.0 / r for r in ranks if r is not None and r <= 10) / n, 4)
    return out


def relative_drop(clean: dict[str, float], perturbed: dict[str, float]) -> dict[str, float | None]:
    return {m: (round((clean[m] - perturbed[m]) / clean[m], 4) if clean[m] > 0 else None) for m in METRICS}


def _first_rank(hits, relevant: set[str], key: Callable[[Any], str | None]) -> int | None:
    return next((i + 1 for i, hit in enumerate(hits) if key(hit) in relevant), None)


def run_robustness(folder: str | Path, options: RobustnessOptions, *, workdir: str | Path | None = None,
                   image_encoder: str | None = None, text_encoder: str | None = None,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    dataset = load_captions(folder, limit_images=options.limit)
    t2i = next(t for t in dataset.tasks if t.name == "text_to_image")
    photos = {c.id: c.image for c in dataset.candidates if c.modality == Modality.IMAGE and c.image is not None}
    per_photo: dict[str, list[Any]] = {}
    for query in t2i.queries:
        per_photo.setdefault(next(iter(t2i.qrels[query.id])), []).append(query)
    text_queries = [(q, photo) for photo, qs in per_photo.items() for q in qs[: options.captions_per_image]]
    report: dict[str, Any] = {"text_to_photo": {}, "image_query": {}, "indexed_photo": {}}
    timing: dict[str, float] = {}
    with ExitStack() as stack:
        if workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polyseek-robust-")))
        else:
            root = Path(workdir).expanduser().absolute()
            root.mkdir(parents=True, exist_ok=True)
        files = materialise(dataset.candidates, root)
        caption_of = {path: ids[0] for path, ids in files.ids_by_path.items()}
        photo_of = {file_key(p): pid for pid, p in photos.items()}
        engine = Engine(str(root / "store-clean"), image_encoder=image_encoder, text_encoder=text_encoder)
        stack.callback(engine.close)
        started = time.perf_counter()
        engine.index([*(str(p) for p in files.image_paths), *([str(files.text_dir)] if files.text_dir else [])])
        timing["index_clean"] = round(time.perf_counter() - started, 3)
        configuration = describe_engine(engine)
        photo_filter, text_filter = Filters(modalities=(Modality.IMAGE,)), Filters(modalities=(Modality.TEXT,))

        def text_run(search_engine: Engine, name: str, transform: Callable[[str, random.Random], str] | None,
                     path_to_photo: dict[str, str]) -> tuple[dict[str, float], dict[str, Any]]:
            ranks: list[int | None] = []
            examples: dict[str, str] = {}
            for done, (query, photo) in enumerate(text_queries, 1):
                text = query.text or ""
                if transform is not None:
                    text = transform(text, _rng(options.seed, name, query.id))
                hits = search_engine.search([QueryPart(text=text)], k=K, filters=photo_filter)
                ranks.append(_first_rank(hits, {photo}, lambda h: path_to_photo.get(h.item.path)))
                if len(examples) < 3:
                    examples[query.id] = text
                if progress:
                    progress(f"text→photo ({name})", done, len(text_queries))
            return ranks_metrics(ranks), examples

        def image_run(name: str, transform: str | None) -> dict[str, float]:
            ranks = []
            for done, (pid, path) in enumerate(photos.items(), 1):
                query_path = path if transform is None else write_perturbed(path, transform, root / "perturbed" / transform / f"{Path(pid).stem}.{'jpg' if transform in ('jpeg20', 'rotate90+exif') else 'png'}", options.seed)
                hits = engine.search([Path(query_path)], k=K, filters=text_filter)
                relevant = {q.id for q in per_photo.get(pid, [])}
                ranks.append(_first_rank(hits, relevant, lambda h: caption_of.get(h.item.path)))
                if progress:
                    progress(f"image→caption ({name})", done, len(photos))
            return ranks_metrics(ranks)

        clean_t2i, _ = text_run(engine, "clean", None, photo_of)
        report["text_to_photo"]["clean"] = {"metrics": clean_t2i}
        for name in options.text:
            metrics, examples = text_run(engine, name, TEXT_PERTURBATIONS[name], photo_of)
            report["text_to_photo"][name] = {"metrics": metrics, "relative_drop": relative_drop(clean_t2i, metrics),
                                             "examples": examples}
        clean_i2t = image_run("clean", None)
        report["image_query"]["clean"] = {"metrics": clean_i2t}
        for name in options.images:
            metrics = image_run(name, name)
            report["image_query"][name] = {"metrics": metrics, "relative_drop": relative_drop(clean_i2t, metrics)}
        report["indexed_photo"]["clean"] = {"metrics": clean_t2i}
        for name in options.images:
            folder_path = root / "perturbed" / name
            mapping = {}
            for pid, path in photos.items():
                target = write_perturbed(path, name, folder_path / f"{Path(pid).stem}.{'jpg' if name in ('jpeg20', 'rotate90+exif') else 'png'}", options.seed)
                mapping[file_key(target)] = pid
            variant = Engine(str(root / f"store-{name}"), image_encoder=image_encoder, text_encoder=text_encoder)
            try:
                started = time.perf_counter()
                variant.index([str(folder_path)])
                timing[f"index_{name}"] = round(time.perf_counter() - started, 3)
                metrics, _ = text_run(variant, f"indexed {name}", None, mapping)
            finally:
                variant.close()
            report["indexed_photo"][name] = {"metrics": metrics, "relative_drop": relative_drop(clean_t2i, metrics)}

    worst = {section: max(((n, e["relative_drop"]["recall@10"]) for n, e in report[section].items()
                           if n != "clean" and n not in FIXES and e["relative_drop"]["recall@10"] is not None),
                          key=lambda pair: pair[1], default=(None, None))
             for section in ("text_to_photo", "indexed_photo", "image_query")}
    over = sorted({f"{section}:{n}" for section in ("text_to_photo", "indexed_photo") for n, e in report[section].items()
                   if n != "clean" and n not in FIXES and (e["relative_drop"]["recall@10"] or 0) > GOAL_DROP})
    report.update({
        "dataset": {"name": Path(folder).name, "kind": "robustness", "path": str(Path(folder).absolute()),
                    "n_photos": len(photos), "n_text_queries": len(text_queries), "n_image_queries": len(photos),
                    "n_captions_indexed": sum(len(v) for v in per_photo.values())},
        "config": {**configuration, "seed": options.seed, "limit": options.limit, "k": K,
                   "captions_per_image": options.captions_per_image, "polyseek_version": __version__,
                   "search": "Engine.search; text queries restricted to photos, image queries to captions"},
        "definitions": {"relative_drop": "(clean - perturbed) / clean, per metric; positive = worse",
                        "text_to_photo": "caption queries perturbed; the clean photos indexed",
                        "indexed_photo": "clean caption queries; every indexed photo perturbed (a fresh index)",
                        "image_query": "photo queries perturbed, finding their captions among all indexed captions",
                        "rotate90+exif": "rotate90's pixels saved with the EXIF orientation tag that undoes it (a fix, not a perturbation)"},
        "worst_r@10_drop": {s: {"perturbation": n, "relative_drop": d} for s, (n, d) in worst.items()},
        "goal": {"max_relative_drop_t2photo_r@10": GOAL_DROP, "over": over},
        "timing": timing,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return report


def to_markdown(report: dict[str, Any]) -> str:
    data = report["dataset"]
    lines = [f"# polyseek eval robustness: {data['name']} ({data['n_photos']} photos, {data['n_text_queries']} caption "
             f"queries, {data['n_image_queries']} photo queries; seed {report['config']['seed']})", "",
             "| section | perturbation | R@1 | R@5 | R@10 | MRR@10 | R@10 relative drop |", "|---|---|---:|---:|---:|---:|---:|"]
    for section in ("text_to_photo", "indexed_photo", "image_query"):
        for name, entry in report[section].items():
            m = entry["metrics"]
            drop = entry.get("relative_drop", {}).get("recall@10")
            lines.append(f"| {section} | {name} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS)
                         + f" | {'–' if drop is None else f'{drop:+.1%}'} |")
    over = report["goal"]["over"]
    lines += ["", f"Over {report['goal']['max_relative_drop_t2photo_r@10']:.0%} relative on text→photo R@10: "
              + (", ".join(over) if over else "none") + "."]
    lines += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"
