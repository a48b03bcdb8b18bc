"""Fixtures for the evaluation tests: tiny generated captions folders and a tiny mixed pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.ingest._pdf import PageSpec, write_pdf

COLOURS = [(220, 20, 20), (20, 200, 40), (30, 40, 220), (200, 200, 30)]


@pytest.fixture
def make_captions():
    """``make(root, {"a.jpg": ["caption", ...]})``: solid-colour images in ``root/images`` plus ``captions.json``."""
    def make(root: Path, entries: dict[str, list[str]]) -> Path:
        (root / "images").mkdir(parents=True)
        for n, name in enumerate(entries):
            Image.new("RGB", (40, 30), COLOURS[n % len(COLOURS)]).save(root / "images" / name)
        (root / "captions.json").write_text(json.dumps([{"image": k, "captions": v} for k, v in entries.items()]))
        return root

    return make


def topic_page(words: str) -> PageSpec:
    return PageSpec(lines=[(72, 72, 14, words.title()), (72, 110, 11, f"This page is about {words} and little else."),
                           (72, 126, 11, f"More sentences on {words}, so the paragraph is long enough.")])


@pytest.fixture
def pool(tmp_path: Path, make_captions) -> dict[str, Path]:
    """A tiny mixed pool for `eval universal`: 4 colour photos with captions, 2 PDFs with 2 questions, a note and a
    poster as distractors (keys ``captions``, ``pages``, ``distractors``)."""
    captions = make_captions(tmp_path / "flickr", {
        "red.jpg": ["red", "a red thing"], "green.jpg": ["green", "a green thing"],
        "blue.jpg": ["blue", "a blue thing"], "yellow.jpg": ["red green", "a red and green thing"],
    })
    pages = tmp_path / "reports"
    (pages / "documents").mkdir(parents=True)
    write_pdf(pages / "documents" / "fruit.pdf", [topic_page(w) for w in ("apples", "bananas", "cherries")])
    write_pdf(pages / "documents" / "tools.pdf", [topic_page(w) for w in ("hammers", "saws")])
    questions = [{"qid": 1, "question": "Which page talks about bananas?", "doc_id": "fruit.pdf", "evidence_pages": [2]},
                 {"qid": 2, "question": "Where are saws described?", "doc_id": "tools.pdf", "evidence_pages": [2]}]
    (pages / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    distractors = tmp_path / "misc"
    distractors.mkdir()
    (distractors / "note.txt").write_text("red red red: a note about the colour red and about bananas\n")
    Image.new("RGB", (30, 40), (210, 30, 30)).save(distractors / "poster.jpg")
    return {"captions": captions, "pages": pages, "distractors": distractors}
