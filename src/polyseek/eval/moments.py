"""Moment retrieval on the generated benchmark (benchmarks/moments): its queries, temporal IoU and the R@k@IoU rule.

A moments folder holds ``manifest.json`` (written by ``benchmarks/moments/generate.py``) beside its videos. Every
shot has a caption query (a caption of its photo that is never spoken); a narrated shot also has a spoken query
(the caption its narrator said). A hit is correct when it is in the shot's file and its span overlaps the shot by
temporal IoU >= 0.5.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.errors import InvalidInputError

IOU = 0.5


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal intersection over union of two ``(start, end)`` spans in seconds.

    >>> iou((0.0, 2.0), (1.0, 3.0))
    0.3333333333333333
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """``folder/manifest.json`` of a generated moments benchmark, refusing anything else with one clear line."""
    path = Path(folder).expanduser() / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path.parent} has no manifest.json",
                                hint="generate a moments benchmark: benchmarks/moments/generate.py --out DIR") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("videos"), list):
        raise InvalidInputError(f"{path} is not a moments manifest (no 'videos' list)")
    return manifest


def moment_queries(manifest: dict, root: Path) -> list[dict]:
    """One caption query per shot, one spoken query per narrated shot; the target is the shot's span in its file."""
    out = []
    for video in manifest["videos"]:
        path = file_key(root / video["file"])
        for number, shot in enumerate(video["shots"]):
            base = {"path": path, "span": (shot["start"], shot["end"]), "narrated": bool(shot.get("narration")),
                    "image": shot.get("image", "")}
            out.append({**base, "id": f"{video['file']}#{number}", "kind": "caption", "text": shot["query"]})
            if shot.get("narration"):
                out.append({**base, "id": f"{video['file']}#{number}/spoken", "kind": "spoken", "text": shot["narration"]})
    return out


def moment_ious(hits: Sequence[Any], path: str, span: tuple[float, float]) -> list[float]:
    """The IoU of each hit with the target span (0 for a hit in another file or without a time span)."""
    return [iou((h.item.locator.start or 0.0, h.item.locator.end or 0.0), span)
            if h.item.path == path and h.item.locator.start is not None else 0.0 for h in hits]


def first_correct(ious: Sequence[float], threshold: float = IOU) -> int | None:
    """1-based rank of the first hit with IoU >= ``threshold``; None when there is none."""
    return next((rank for rank, value in enumerate(ious, 1) if value >= threshold), None)
