"""A scan's figure page under a thin text layer: the words its picture shows become searchable (ingest/picture_pages.py)."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from polyseek.ingest.layout import Box, Run
from polyseek.ingest.pdf import PdfIngestor
from polyseek.ingest.picture_pages import is_picture_page, missing_lines
from polyseek.types import Filters, Modality

PAGE_W, PAGE_H = 612, 792


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def picture_page_pdf(path: Path, picture_words: list[str], layer_text: list[str]) -> Path:
    """One page: a picture covering all of it (with ``picture_words`` drawn in it) and a text layer of ``layer_text``
    lines (what a scanner's OCR layer holds), the way scanned data sheets come."""
    image = Image.new("RGB", (1275, 1650), "white")  # letter at 150 dpi
    draw = ImageDraw.Draw(image)
    for i, words in enumerate(picture_words):
        draw.text((140, 300 + 110 * i), words, fill="black", font=_font(46))
    for x in range(140, 1100, 60):  # a waveform: the picture is not only words
        draw.line((x, 1200, x + 30, 1200, x + 30, 1260, x + 60, 1260), fill="black", width=4)
    raw = image.tobytes()
    data = zlib.compress(raw)
    ops = [f"q {PAGE_W} 0 0 {PAGE_H} 0 0 cm /Im1 Do Q"]
    for i, line in enumerate(layer_text):  # invisible text (render mode 3), as an OCR layer is
        ops.append(f"BT 3 Tr /F1 10 Tf 72 {PAGE_H - 80 - 14 * i} Td ({line}) Tj ET")
    content = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Resources << /Font << /F1 4 0 R >> "
         f"/XObject << /Im1 5 0 R >> >> /Contents 6 0 R >>").encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        (f"<< /Type /XObject /Subtype /Image /Width {image.width} /Height {image.height} /ColorSpace /DeviceRGB "
         f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>\nstream\n").encode() + data + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def _needs_tesseract() -> None:
    from polyseek.ingest.ocr import ocr_available

    if not ocr_available():
        pytest.skip("Tesseract is not installed (Debian: tesseract-ocr tesseract-ocr-eng)")


def test_picture_page_is_one_picture_over_a_thin_text_layer():
    page = Box(0, 0, PAGE_W, PAGE_H)
    assert is_picture_page([page], PAGE_W, PAGE_H, "Data sheet 272318\n16")
    assert not is_picture_page([page], PAGE_W, PAGE_H, "word " * 400)  # a page of body text: its words are there
    assert not is_picture_page([Box(72, 72, 300, 300)], PAGE_W, PAGE_H, "Data sheet")  # a figure, not the page
    assert not is_picture_page([], PAGE_W, PAGE_H, "")


def test_missing_lines_keep_whole_lines_that_bring_new_words():
    lines = [Run(Box(0, 0, 1, 1), "Fig. 2. Diagram of breccia gashes"), Run(Box(0, 2, 1, 3), "Data sheet"),
             Run(Box(0, 4, 1, 5), "~ | ."), Run(Box(0, 6, 1, 7), "TIMING WAVEFORMS")]
    assert missing_lines(lines, "data sheet 272318\nDiagram") == ["Fig. 2. Diagram of breccia gashes", "TIMING WAVEFORMS"]
    assert missing_lines(lines, "fig diagram breccia gashes data sheet timing waveforms") == []


def test_words_of_a_scanned_figure_page_are_searchable(tmp_path, engine_factory):
    _needs_tesseract()
    path = picture_page_pdf(tmp_path / "datasheet.pdf", ["SHIFT REGISTER MODE", "TIMING WAVEFORMS"],
                            ["Data sheet 272318 for the MCS-51 microcontroller family", "16"])
    chunks = list(PdfIngestor().ingest(path))
    page = chunks[0]
    assert page.modality == Modality.PAGE and page.metadata["ocr"] is True
    assert "Data sheet 272318 for the MCS-51" in page.text  # the text layer is kept
    assert "WAVEFORMS" in page.text.upper() and "REGISTER" in page.text.upper()  # and the picture's words join it
    engine = engine_factory()
    engine.index([path])
    hits = engine.search("shift register timing waveforms", k=3, rerank=False,
                         filters=Filters(modalities=(Modality.PAGE,)))
    assert hits and "WAVEFORMS" in hits[0].item.text.upper()


def test_a_text_page_under_a_picture_is_not_read_again(tmp_path):
    _needs_tesseract()
    body = ["The oscillator section of this data sheet describes the crystal and its load capacitance."] * 14
    path = picture_page_pdf(tmp_path / "body.pdf", ["TIMING WAVEFORMS"], body)
    page = next(iter(PdfIngestor().ingest(path)))
    assert page.metadata["ocr"] is False and "WAVEFORMS" not in page.text.upper()
