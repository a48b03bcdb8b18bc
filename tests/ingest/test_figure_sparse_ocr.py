"""A scanned slide whose automatic OCR reads (almost) nothing is read again in sparse-text mode (picture_pages.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from polyseek.ingest import ocr
from polyseek.ingest.layout import Box, Run
from polyseek.ingest.pdf import PdfIngestor
from polyseek.ingest.picture_pages import SPARSE_CONFIDENCE, SPARSE_PSM, better_read, sparse_read
from tests.ingest.test_figure_picture_pages import picture_page_pdf

WORDS = [(120, 150, "ASTERISKS"), (900, 520, "KICKED"), (300, 950, "REASONS")]


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def slide(words=WORDS) -> Image.Image:
    """A photo-like slide (blurred colour patches) with a few words in display type scattered over it, and bars."""
    rng = np.random.default_rng(0)
    patches = Image.fromarray(rng.integers(0, 140, (24, 32, 3), dtype=np.uint8)).resize((1700, 1275), Image.NEAREST)
    image = patches.filter(ImageFilter.GaussianBlur(20))
    draw = ImageDraw.Draw(image)
    for x, y, word in words:
        draw.text((x, y), word, fill="white", font=_font(110))
    for x in (1200, 1260, 1320):  # short bars, which sparse mode reads as a confident "|"
        draw.line((x, 900, x, 1010), fill="white", width=10)
    return image


def _needs_tesseract() -> None:
    from polyseek.ingest.ocr import ocr_available

    if not ocr_available():
        pytest.skip("Tesseract is not installed (Debian: tesseract-ocr tesseract-ocr-eng)")


def test_sparse_read_keeps_the_display_words_and_drops_one_character_noise():
    _needs_tesseract()
    lines, words = sparse_read(slide(), scale=2.0)
    text = " ".join(line.text for line in lines).upper()
    for _, _, word in WORDS:
        assert word in text
    tokens = [token for line in lines for token in line.text.split()] + [w.text for w in words]
    raw = ocr.ocr_read(slide(), scale=2.0, psm=SPARSE_PSM, min_confidence=SPARSE_CONFIDENCE)[1]
    assert any(w.text == "|" for w in raw)  # the bars are read, confidently, and then dropped
    assert tokens and all(sum(ch.isalnum() for ch in token) >= 2 for token in tokens)
    kicked = next(w for w in words if "KICKED" in w.text.upper())
    assert 900 / 2 - 10 <= kicked.box.x0 <= 900 / 2 + 30 and 520 / 2 - 10 <= kicked.box.y0 <= 520 / 2 + 40  # boxes / scale


def test_better_read_takes_the_read_with_more_characters():
    empty: tuple[list[Run], list[Run]] = ([Run(Box(0, 0, 1, 1), "|")], [])
    full = ([Run(Box(0, 0, 9, 1), "REASONS YOUR SLIDES")], [Run(Box(0, 0, 3, 1), "REASONS")])
    assert better_read(empty, full) is full
    assert better_read(full, empty) is full
    assert better_read(full, full) is full
    noise = ([Run(Box(0, 0, 1, 1), "| ww N =5 \u2014 jad a 2 =P fun")], [])  # an automatic read of a slide: noise
    words = ([Run(Box(0, 0, 1, 1), "TURRIBLE VISUALS")], [])  # fewer characters, but words
    assert better_read(noise, words) is words


def test_a_scanned_slide_with_few_words_keeps_them(tmp_path):
    """The wiring in read_page: a scan whose first read has < 25 characters goes through the second read too."""
    _needs_tesseract()
    path = picture_page_pdf(tmp_path / "slide.pdf", ["ASTERISKS KICKED"], [])
    page = next(iter(PdfIngestor().ingest(path)))
    assert page.metadata["ocr"] is True
    assert "ASTERISKS" in page.text.upper() and "KICKED" in page.text.upper()
