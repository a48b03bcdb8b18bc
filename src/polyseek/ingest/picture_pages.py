"""Pages that are one picture with a thin text layer: the words the picture shows and the text layer lacks, by OCR.

A scanned book or data sheet often comes with an OCR text layer laid under a full-page picture. That layer holds
the body text but not always what the figures say: on MMLongBench-Doc's scanned data sheet the pages of timing
diagrams carry "EPROM programming and verification waveforms" and their signal names only in the picture, and on
a scanned 19th-century paper the figure captions ("Fig. 2. ...") are in the picture only. The PDF ingestor reads
OCR only for pages with no text layer and for pictures without words of their own, so these words were never
indexed. Here:

1. :func:`is_picture_page`: one picture covers the page (≥ :data:`MIN_COVER` of it) and the text layer is thin
   (fewer than :data:`MAX_TEXT_CHARS` visible characters: a page of figures, not of body text). A page of body
   text laid under a picture already holds its words; reading it again would cost an OCR pass for nothing.
2. :func:`missing_lines`: the OCR lines that bring a word the text layer does not hold (≥ 3 letters, compared
   case-folded); the line is kept whole, so a caption read there stays a line of its own ("Fig. 2. ...") and the
   named-figure rule (``search/policies/documents.py``) can find it.

The lines join the page's text (so BM25, the text encoder and the reranker see them). Cost: one Tesseract pass
per such page, and such pages are rare (42 of 920 MMLongBench-Doc pages are one picture, 9 of them thin; no
FinanceBench page is); see docs/documents.md.

3. :func:`sparse_read`: a *scanned* page (no text layer) whose OCR pass found (almost) no words (fewer than 25
   visible characters, the scan threshold) is read once more
   in Tesseract's sparse-text mode (``--psm 11``), which looks for words anywhere instead of paragraphs. A slide
   deck exported as pictures sets its few words over photos in display type ("4 REASONS YOUR PRESENTATIONS NEED
   IT'S ASTERISKS KICKED"), which the automatic page segmentation reads as nothing. Only confident words
   (:data:`SPARSE_CONFIDENCE`) of at least two letters or digits are kept: this mode also "reads" edges of the
   picture as ``|``, ``ee`` or ``Nem`` at low confidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from polyseek.ingest.layout import Box, Run

MIN_COVER = 0.85  # share of the page one picture covers
MAX_TEXT_CHARS = 1000  # visible characters of text layer below which a picture page is read by OCR
MIN_WORD = 3  # shorter OCR tokens are mostly noise from lines and shading
SPARSE_PSM = 11  # Tesseract's sparse-text page segmentation
SPARSE_CONFIDENCE = 70.0  # word confidence a sparse read must reach (the automatic pass keeps >= 30)
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]{3,}|\d[\d.,]*[^\W_]*", re.UNICODE)


def visible_chars(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def is_picture_page(images: Sequence[Box], width: float, height: float, text: str) -> bool:
    """Whether one picture covers the page while its text layer is thin (a figure page of a scan with a text layer)."""
    area = width * height
    if area <= 0:
        return False
    chars = visible_chars(text)
    if chars >= MAX_TEXT_CHARS:
        return False
    return any(_clipped_area(box, width, height) >= MIN_COVER * area for box in images)


def _clipped_area(box: Box, width: float, height: float) -> float:
    x0, y0, x1, y1 = max(0.0, box.x0), max(0.0, box.y0), min(width, box.x1), min(height, box.y1)
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def words(text: str) -> set[str]:
    """Case-folded words of at least three letters (or numbers) in ``text``."""
    return {w.casefold() for w in _WORD.findall(text) if len(w) >= MIN_WORD}


def missing_lines(lines: Sequence[Run], text: str) -> list[str]:
    """OCR lines (in reading order) that hold at least one word ``text`` lacks; a line is kept whole."""
    known = words(text)
    out: list[str] = []
    for line in lines:
        new = words(line.text) - known
        if new:
            out.append(line.text.strip())
            known |= new
    return out


def sparse_read(image: Any, scale: float = 1.0) -> tuple[list[Run], list[Run]]:
    """``(lines, words)`` of a sparse-text OCR pass over ``image`` (a page render), keeping only confident words
    with at least two letters or digits; lines keep their kept words, and a line left empty is dropped."""
    from polyseek.ingest import ocr

    lines, words = ocr.ocr_read(image, scale=scale, psm=SPARSE_PSM, min_confidence=SPARSE_CONFIDENCE)
    kept_words = [w for w in words if _real(w.text)]
    kept_lines = []
    for line in lines:
        text = " ".join(token for token in line.text.split() if _real(token))
        if text:
            kept_lines.append(Run(line.box, text))
    return kept_lines, kept_words


def _real(token: str) -> bool:
    return len(_ALNUM.findall(token)) >= 2


def better_read(first: tuple[list[Run], list[Run]], second: tuple[list[Run], list[Run]]) -> tuple[list[Run], list[Run]]:
    """The OCR read (``(lines, words)``) with more letters in words of three letters or more; the first on a tie.

    Counting every visible character would let the automatic pass's noise ("| ww N =5 — jad a 2 =P fun") beat
    the two words the sparse pass reads on the same slide ("TURRIBLE VISUALS").
    """
    def size(read: tuple[list[Run], list[Run]]) -> int:
        return sum(len(word) for line in read[0] for word in _LETTERS.findall(line.text))
    return second if size(second) > size(first) else first
