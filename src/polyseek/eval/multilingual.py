"""Captions in other languages (``captions_multilingual.json``) as text→image tasks, and mean rank variance (MRV).

``captions_multilingual.json`` beside ``captions.json`` maps each image to ``{key: [captions]}``. A language name is
read as its key (``zh``, ``de``, ``nl``) or, where only a translation exists, its translation key (``fr`` →
``fr_translation``, ``cs`` → ``cs_translation``, ``ar`` → ``ar_mt_postedited``); any key may also be given as is.
``en`` is ``captions.json`` itself. Every language searches the same gallery (all images of the folder), so ranks
are comparable across languages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import Candidate, Dataset, EvalQuery, Task, load_captions
from polyseek.types import Modality

FILE = "captions_multilingual.json"
ALIASES = {"fr": "fr_translation", "cs": "cs_translation", "ar": "ar_mt_postedited"}


def language_key(lang: str, available: set[str]) -> str:
    key = lang if lang in available else ALIASES.get(lang, lang)
    if key not in available:
        raise InvalidInputError(f"no captions in language {lang!r}",
                                hint="accepted: en, " + ", ".join(sorted(available | {a for a, k in ALIASES.items() if k in available})))
    return key


def task_name(lang: str, several: bool) -> str:
    return f"text_to_image_{lang}" if several else "text_to_image"


def load_captions_lang(folder: str | Path, langs: list[str], *, limit_images: int | None = None,
                       per_image: int | None = None) -> Dataset:
    """Text→image tasks, one per language in ``langs`` (one task named ``text_to_image`` when only one language).

    ``per_image``: only the first N captions of each image in each language (the gallery stays every image)."""
    if not langs:
        raise InvalidInputError("no language given", hint="e.g. --lang zh or --lang en,zh,de")
    root = Path(folder).expanduser()
    english = load_captions(root, limit_images=limit_images)
    images = [c for c in english.candidates if c.modality == Modality.IMAGE]
    image_ids = {c.id for c in images}
    path = root / FILE
    multilingual: dict[str, dict[str, list[str]]] = {}
    if any(lang != "en" for lang in langs):
        try:
            multilingual = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"missing file {path}", hint="--lang other than en reads it beside captions.json") from None
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(multilingual, dict):
            raise InvalidInputError(f"{path} must map each image to {{language: [captions]}}")
    available = {k for entry in multilingual.values() if isinstance(entry, dict) for k in entry}
    several = len(langs) > 1
    tasks = []
    counts: dict[str, int] = {"n_images": len(images)}
    for lang in dict.fromkeys(langs):
        if lang == "en":
            task = next(t for t in english.tasks if t.name == "text_to_image")
            queries = tuple(q for q in task.queries if per_image is None or int(q.id.rsplit("#", 1)[1]) < per_image)
            tasks.append(Task(task_name("en", several), queries, {q.id: task.qrels[q.id] for q in queries}, task.target, task.relevance))
            counts["n_captions_en"] = len(queries)
            continue
        key = language_key(lang, available)
        found: list[EvalQuery] = []
        qrels: dict[str, dict[str, int]] = {}
        for image_id, entry in multilingual.items():
            if image_id not in image_ids or not isinstance(entry, dict):
                continue
            for n, caption in enumerate((entry.get(key) or [])[:per_image]):
                if not isinstance(caption, str) or not caption.strip():
                    continue
                qid = f"{image_id}#{key}#{n}"
                found.append(EvalQuery(id=qid, text=caption.strip()))
                qrels[qid] = {image_id: 1}
        if not found:
            raise InvalidInputError(f"no {key!r} caption for any image of {root}")
        tasks.append(Task(task_name(lang, several), tuple(found), qrels, (Modality.IMAGE,),
                          f"the caption's own image (exactly one); captions: {key}"))
        counts[f"n_captions_{lang}"] = len(found)
    counts["n_captions"] = sum(len(t.queries) for t in tasks)
    return Dataset(name=root.name, kind="captions", path=str(root.absolute()), candidates=tuple(Candidate(c.id, c.modality, image=c.image) for c in images),
                   tasks=tuple(tasks), counts=counts, notes=(f"text→image only, languages: {', '.join(langs)}"
                          + (f"; first {per_image} caption(s) per image and language" if per_image else ""),))


def mean_rank_variance(report: dict[str, Any], langs: list[str]) -> dict[str, Any]:
    """MRV (Wang et al. 2024, 1-to-K contrastive learning): the variance across languages of an image's rank, averaged
    over images. An image's rank in a language is the rank of its first caption in that language (caption #0), so
    every language contributes one query per image; only images with a caption in every language count.
    """
    several = len(langs) > 1
    ranks: dict[str, dict[str, int]] = {}
    for lang in langs:
        per_query = report.get("per_query", {}).get(task_name(lang, several), {})
        firsts: dict[str, int] = {}
        for qid, result in per_query.items():
            image_id, _, rest = qid.partition("#")
            if rest.split("#")[-1] != "0" or result.get("first_relevant_rank") is None:
                continue
            firsts[image_id] = int(result["first_relevant_rank"])
        ranks[lang] = firsts
    common = set.intersection(*(set(r) for r in ranks.values())) if ranks else set()
    if len(langs) < 2 or not common:
        return {"mrv": None, "languages": langs, "n_images": len(common)}
    matrix = np.array([[ranks[lang][image] for lang in langs] for image in sorted(common)], dtype=np.float64)
    return {"mrv": round(float(matrix.var(axis=1).mean()), 4), "languages": langs, "n_images": len(common),
            "mean_rank_by_language": {lang: round(float(matrix[:, i].mean()), 3) for i, lang in enumerate(langs)},
            "definition": "mean over images (those with a caption in every language) of the population variance, across "
                          "languages, of the 1-based rank of the image for its first caption in that language"}


def by_half(report: dict[str, Any], order: list[str], metrics: tuple[str, ...] = ("recall@1", "recall@5", "recall@10")) -> dict[str, Any]:
    """Per task, the report's per-query metrics averaged separately over the images at even positions of ``order``
    (the gallery order of ``captions.json``: the *dev* half, where choices are made) and at odd positions (the
    *held-out* half, never used for a choice). A query counts in the half of its relevant image."""
    position = {image: i for i, image in enumerate(order)}
    out: dict[str, Any] = {}
    for task, per_query in (report.get("per_query") or {}).items():
        halves: dict[str, list[dict[str, Any]]] = {"dev": [], "heldout": []}
        for qid, result in per_query.items():
            image = qid.partition("#")[0]
            if image not in position:
                continue
            halves["dev" if position[image] % 2 == 0 else "heldout"].append(result)
        out[task] = {name: {"queries": len(rows), **{m: round(float(np.mean([r[m] for r in rows])), 4) if rows else None for m in metrics}}
                     for name, rows in halves.items()}
    langs = list(report.get("languages") or [])
    if len(langs) > 1:  # MRV of each half: the report restricted to the half's images
        for name, h in (("dev", 0), ("heldout", 1)):
            part = {task: {q: r for q, r in per_query.items() if position.get(q.partition("#")[0], -1) % 2 == h}
                    for task, per_query in report["per_query"].items()}
            found = mean_rank_variance({"per_query": part}, langs)
            out.setdefault("mrv", {})[name] = {"mrv": found["mrv"], "n_images": found["n_images"], "languages": langs}
    return out
