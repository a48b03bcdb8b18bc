"""Modality-aware negatives for the aligner: synthetic renders of non-photo items (pages, tables, charts, slides).

MM-Embed (Lin et al. 2024) finds that a universal retriever trained on photos pulls every other modality toward
every photo, and fixes it with negatives of the other modalities. polyseek trains its aligner on Flickr8k photos
only, so page renders land next to photos in the image-text space (an image query ranked PDF pages above similar
photos). No document images ship in a registry package and the eval sets must stay clean, so these negatives are
drawn here with PIL from a seed: text pages (one or two columns, headings), tables, bar and line charts, slides,
forms, receipts, code listings and greyish "scans". Each render gets five generic captions of its kind ("a page
of a text document", "a bar chart", ...) as its positives: in a batch, photos are contrasted with renders (a
caption of a photo must not pick a render; a photo must not pick a render's caption) and each render learns to
sit near the words for what it is.

Words come from the training captions (never from an eval set), shuffled: the content is meaningless on purpose.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from pathlib import Path

KINDS = ("text", "columns", "table", "bars", "lines", "slide", "form", "receipt", "code", "scan")
CAPTIONS = {
    "text": ["a page of a text document", "a printed page with paragraphs of text", "a document page full of small text",
             "a page from a report", "black text on a white page"],
    "columns": ["a page of an article in two columns", "a printed page with columns of text", "a page from a scientific paper",
                "a document page with a heading and text", "a page of a magazine or journal"],
    "table": ["a table of numbers", "a page with a table", "a spreadsheet with rows and columns", "a financial table in a report",
              "a grid of figures on a page"],
    "bars": ["a bar chart", "a chart with bars", "a page with a bar graph", "a diagram of statistics", "a figure from a report showing bars"],
    "lines": ["a line chart", "a graph with lines and axes", "a plot of data over time", "a figure with a line graph",
              "a chart in a document"],
    "slide": ["a presentation slide", "a slide with a title and bullet points", "a slide from a talk", "a page of a slide deck",
              "a slide with text and a heading"],
    "form": ["a form with fields", "a printed form to fill in", "a document with boxes and labels", "a page of a form",
             "an application form"],
    "receipt": ["a receipt", "a printed invoice with prices", "a list of items and amounts", "a bill with numbers",
                "a narrow receipt with text"],
    "code": ["a screenshot of source code", "a computer screen with code", "lines of code on a dark background",
             "a text editor with program code", "a screenshot of a terminal"],
    "scan": ["a scanned page of a document", "a photocopy of a printed page", "a grey scanned document with text",
             "an old scanned page", "a scan of a typed letter"],
}
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype")
RENDER_VERSION = 1


def _font(size: int, bold: bool = False, mono: bool = False):
    from PIL import ImageFont

    name = "DejaVuSansMono.ttf" if mono else ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()  # still text, just a fixed bitmap size


class _Words:
    def __init__(self, vocabulary: list[str], rng: random.Random) -> None:
        self.vocabulary, self.rng = vocabulary, rng

    def line(self, n: int) -> str:
        return " ".join(self.rng.choice(self.vocabulary) for _ in range(n))

    def title(self, n: int = 4) -> str:
        return self.line(n).title()

    def number(self) -> str:
        value = self.rng.uniform(0, 10_000)
        return f"{value:,.{self.rng.choice((0, 1, 2))}f}"


def _page(rng: random.Random, landscape: bool = False):
    from PIL import Image

    width = rng.randint(560, 820)
    height = int(width * (rng.uniform(0.56, 0.8) if landscape else rng.uniform(1.25, 1.45)))
    shade = rng.randint(235, 255)
    return Image.new("RGB", (width, height), (shade, shade, shade - rng.randint(0, 12)))


def _paragraphs(draw, words: _Words, rng: random.Random, box: tuple[int, int, int, int], size: int) -> None:
    x0, y, x1, y1 = box
    font = _font(size)
    per_line = max(3, (x1 - x0) // (size * 3))
    ink = (rng.randint(0, 60),) * 3
    while y < y1 - size:
        if rng.random() < 0.12:
            y += size  # paragraph break
            continue
        draw.text((x0, y), words.line(per_line), fill=ink, font=font)
        y += int(size * 1.45)


def _render(kind: str, words: _Words, rng: random.Random):
    from PIL import ImageDraw, ImageFilter

    landscape = kind in ("slide", "code") or (kind in ("bars", "lines") and rng.random() < 0.5)
    image = _page(rng, landscape)
    draw = ImageDraw.Draw(image)
    w, h = image.size
    margin = int(w * rng.uniform(0.06, 0.12))
    ink = (rng.randint(0, 50),) * 3
    accent = tuple(rng.randint(20, 220) for _ in range(3))
    if kind in ("text", "scan"):
        draw.text((margin, margin), words.title(), fill=ink, font=_font(rng.randint(18, 26), bold=True))
        _paragraphs(draw, words, rng, (margin, margin + 50, w - margin, h - margin), rng.randint(10, 14))
    elif kind == "columns":
        draw.text((margin, margin), words.title(6), fill=ink, font=_font(rng.randint(16, 22), bold=True))
        middle = w // 2
        _paragraphs(draw, words, rng, (margin, margin + 60, middle - 10, h - margin), 10)
        _paragraphs(draw, words, rng, (middle + 10, margin + 60, w - margin, h - margin), 10)
    elif kind == "table":
        draw.text((margin, margin), words.title(), fill=ink, font=_font(18, bold=True))
        rows, cols = rng.randint(8, 24), rng.randint(3, 7)
        top, cell_h = margin + 50, min(32, (h - 2 * margin - 50) // rows)
        cell_w = (w - 2 * margin) // cols
        font = _font(max(8, cell_h // 2))
        for r in range(rows):
            y = top + r * cell_h
            if r == 0 or rng.random() < 0.3:
                draw.rectangle((margin, y, w - margin, y + cell_h), fill=(225, 228, 235) if r else accent)
            for c in range(cols):
                text = words.line(1) if c == 0 or r == 0 else words.number()
                draw.text((margin + c * cell_w + 4, y + 3), text, fill=ink, font=font)
            draw.line((margin, y, w - margin, y), fill=(150, 150, 150))
    elif kind in ("bars", "lines"):
        draw.text((margin, margin // 2), words.title(), fill=ink, font=_font(18, bold=True))
        left, bottom, right, top = margin + 30, h - margin, w - margin, margin + 40
        draw.line((left, top, left, bottom), fill=ink, width=2)
        draw.line((left, bottom, right, bottom), fill=ink, width=2)
        series = rng.randint(1, 3) if kind == "lines" else 1
        points = rng.randint(4, 14)
        step = (right - left) / points
        for s in range(series):
            colour = tuple(rng.randint(20, 220) for _ in range(3))
            values = [rng.uniform(0.1, 1.0) for _ in range(points)]
            if kind == "bars":
                for i, v in enumerate(values):
                    x = left + i * step + step * 0.15
                    draw.rectangle((x, bottom - v * (bottom - top), x + step * 0.7, bottom), fill=colour)
            else:
                coords = [(left + (i + 0.5) * step, bottom - v * (bottom - top)) for i, v in enumerate(values)]
                draw.line(coords, fill=colour, width=3)
        for i in range(points):
            draw.text((left + i * step + 2, bottom + 4), words.line(1)[:6], fill=ink, font=_font(9))
    elif kind == "slide":
        band = rng.randint(50, 90)
        draw.rectangle((0, 0, w, band), fill=accent)
        draw.text((margin, band // 3), words.title(), fill=(255, 255, 255), font=_font(rng.randint(20, 28), bold=True))
        y = band + 30
        for _ in range(rng.randint(3, 6)):
            draw.ellipse((margin, y + 6, margin + 8, y + 14), fill=ink)
            draw.text((margin + 20, y), words.line(rng.randint(3, 7)), fill=ink, font=_font(rng.randint(16, 22)))
            y += 42
    elif kind == "form":
        draw.text((margin, margin), words.title(3).upper(), fill=ink, font=_font(20, bold=True))
        y = margin + 50
        while y < h - margin - 30:
            draw.text((margin, y), words.line(2) + ":", fill=ink, font=_font(11))
            draw.rectangle((margin + 140, y - 4, w - margin, y + 18), outline=(90, 90, 90))
            y += rng.randint(34, 52)
    elif kind == "receipt":
        image = image.resize((rng.randint(240, 320), rng.randint(600, 900)))
        draw = ImageDraw.Draw(image)
        w, h = image.size
        y = 20
        draw.text((20, y), words.title(2).upper(), fill=ink, font=_font(16, bold=True))
        y += 40
        font = _font(11, mono=True)
        while y < h - 40:
            draw.text((14, y), f"{words.line(2)[:18]:<18} {words.number():>9}", fill=ink, font=font)
            y += 18
    elif kind == "code":
        background = (rng.randint(20, 45),) * 3
        draw.rectangle((0, 0, w, h), fill=background)
        font = _font(12, mono=True)
        y, indent = 12, 0
        while y < h - 14:
            indent = max(0, min(4, indent + rng.choice((-1, 0, 0, 1))))
            colour = rng.choice(((200, 200, 200), (120, 200, 120), (220, 160, 90), (120, 170, 230)))
            draw.text((12 + indent * 24, y), words.line(rng.randint(1, 5)).replace(" ", rng.choice(("_", ".", "(", " "))),
                      fill=colour, font=font)
            y += 17
    if kind == "scan":
        image = image.convert("L").rotate(rng.uniform(-2.5, 2.5), fillcolor=rng.randint(150, 210))
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))).convert("RGB")
    return image


def _vocabulary(captions: list[str]) -> list[str]:
    words = sorted({w.strip(".,!?;:\"'()").lower() for c in captions for w in c.split()} - {""})
    return words or ["text"]


def render_negatives(count: int, folder: str | Path, captions: list[str], seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """``count`` renders (PNG) in ``folder``, made once per (count, seed, vocabulary); returns (paths, captions per render).

    The kinds cycle evenly; ``seed`` fixes every render, so a run is reproducible and a cached folder is reused.
    """
    vocabulary = _vocabulary(captions)
    key = hashlib.sha1(json.dumps([RENDER_VERSION, count, seed, vocabulary]).encode()).hexdigest()[:12]
    out = Path(folder) / f"renders-{count}-{seed}-{key}"
    manifest = out / "renders.json"
    if manifest.is_file():
        rows = json.loads(manifest.read_text(encoding="utf-8"))
        if all((out / row["file"]).is_file() for row in rows):
            return [str(out / row["file"]) for row in rows], [row["captions"] for row in rows]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(count):
        kind = KINDS[number % len(KINDS)]
        rng = random.Random(f"{seed}:{number}")
        image = _render(kind, _Words(vocabulary, rng), rng)
        name = f"{number:05d}-{kind}.png"
        image.save(out / name)
        rows.append({"file": name, "kind": kind, "captions": CAPTIONS[kind]})
    tmp = manifest.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(rows), encoding="utf-8")
    os.replace(tmp, manifest)
    return [str(out / row["file"]) for row in rows], [row["captions"] for row in rows]


def modality_separation(photos, renders, caption_queries, caption_owner) -> dict[str, float]:
    """How well photos stand apart from renders in the space (vectors are unit rows).

    ``photo_share_top5``: each photo as a query over photos + renders (itself left out): share of its top 5 that are
    photos. ``caption_top1_photo``: each caption query over photos + renders: share whose top hit is a photo.
    ``caption_r1_mixed``: caption queries whose top hit is their own photo, with the renders in the gallery.
    """
    import numpy as np

    gallery = np.concatenate([photos, renders])
    n = photos.shape[0]
    sims = photos @ gallery.T
    sims[np.arange(n), np.arange(n)] = -math.inf
    top5 = np.argsort(-sims, axis=1)[:, : min(5, gallery.shape[0] - 1)]  # never the photo itself
    caption_sims = caption_queries @ gallery.T
    best = caption_sims.argmax(1)
    return {"photo_share_top5": float((top5 < n).mean()), "caption_top1_photo": float((best < n).mean()),
            "caption_r1_mixed": float((best == caption_owner).mean())}
