"""A small generated catalogue: coloured pictures with text, indexed with the deterministic plumbing encoders."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

# (record id, colour, title, text): two clusters, red things about dogs and blue things about the sea
RECORDS = [
    ("r1", (220, 20, 20), "Red dog", "a red dog runs"),
    ("r2", (210, 30, 25), "Red puppy", "a red dog plays"),
    ("r3", (200, 25, 35), "Crimson hound", "a red dog sleeps"),
    ("b1", (20, 30, 220), "Blue sea", "the blue sea waves"),
    ("b2", (30, 40, 210), "Blue ocean", "the blue sea shore"),
    ("b3", (25, 35, 200), "Navy water", "the blue sea boat"),
    ("g1", (20, 200, 40), "Green field", "a green field grass"),
]


def write_catalogue(folder: Path, records=RECORDS, extra_lines: list[str] = ()) -> Path:
    (folder / "pictures").mkdir(parents=True, exist_ok=True)
    lines = []
    for record_id, rgb, title, text in records:
        Image.new("RGB", (32, 32), rgb).save(folder / "pictures" / f"{record_id}.png")
        lines.append(json.dumps({"id": record_id, "image": f"pictures/{record_id}.png", "title": title, "text": text,
                                 "metadata": {"colour": list(rgb)}}))
    path = folder / "catalogue.jsonl"
    path.write_text("\n".join(lines + list(extra_lines)) + "\n")
    return path
