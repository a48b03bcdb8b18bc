"""Tables keep their numbers row by row (text layer and OCR); figures keep the words inside them and their caption."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from polyseek.ingest.pdf import PdfIngestor
from polyseek.types import Modality
from tests.ingest._pdf import PageSpec, write_pdf

ROWS = [("GPT-4", "86.4", "92.0", "67.0"), ("Llama-2 70B", "68.9", "56.8", "29.9"),
        ("Mistral 7B", "60.1", "52.2", "30.5"), ("Ours", "71.3", "61.0", "35.2")]
COLUMNS = (150, 260, 340, 420)


def latex_table_page() -> PageSpec:
    """An academic page as LaTeX sets it: body text, a caption, booktabs rules, tight 9 pt rows, body text right below."""
    body = "Large language models are evaluated on knowledge, arithmetic and code benchmarks in this section."
    lines = [(72, 90, 10, body), (72, 103, 10, "We report accuracy for every model under the same prompting setup."),
             (150, 190, 9, "Table 2: Accuracy of the models on three benchmarks (higher is better).")]
    header = ("Model", "MMLU", "GSM8K", "HumanEval")
    lines += [(x, 214, 9, cell) for x, cell in zip(COLUMNS, header)]
    for row, cells in enumerate(ROWS):
        lines += [(x, 229 + 11 * row, 9, cell) for x, cell in zip(COLUMNS, cells)]
    # the paragraph after the table starts right under the bottom rule, as in a two-column paper
    # (so tight that layout's paragraph blocks join each column of numbers to it)
    lines += [(72, 275, 10, "Our model improves over Llama-2 70B by 2.4 points on MMLU and 4.2 on GSM8K with"),
              (72, 287, 10, "far fewer parameters, while the gap to GPT-4 remains large on every benchmark."),
              (72, 299, 10, "Section 5 analyses where the remaining errors come from and which of them are"),
              (72, 311, 10, "due to arithmetic rather than to missing knowledge in the pretraining data.")]
    rules = [(145, 208, 330, 0.8), (145, 225, 330, 0.5), (145, 273, 330, 0.8)]  # \toprule \midrule \bottomrule
    return PageSpec(lines=lines, rects=rules)


def chart_page() -> PageSpec:
    """A bar chart drawn as paths with tick labels, axis titles and a legend inside it, its caption below."""
    lines = [(72, 60, 11, "Results of the year are summarised in the chart below, by business segment.")]
    bars = []
    for i, (year, h) in enumerate(zip(("2019", "2020", "2021", "2022"), (60, 90, 120, 140))):
        x = 130 + i * 80
        bars += [(x, 330 - h, 25, h), (x + 28, 330 - h * 0.6, 25, h * 0.6)]
        lines.append((x + 8, 336, 8, year))
    lines += [(100, 326, 8, "0"), (96, 266, 8, "50"), (92, 206, 8, "100"), (60, 250, 8, "USD bn")]
    lines += [(380, 150, 8, "Revenue"), (380, 162, 8, "Operating costs"), (250, 350, 8, "Fiscal year")]
    bars += [(368, 151, 8, 7), (368, 163, 8, 7)]  # legend swatches
    axis = [(118, 330, 340, 1.2), (118, 180, 1.2, 150)]
    lines.append((118, 372, 9, "Figure 3: Revenue and operating costs by fiscal year."))
    return PageSpec(lines=lines, rects=bars + axis)


def regions_of(path: Path, **kwargs):
    chunks = list(PdfIngestor(**kwargs).ingest(path))
    return chunks[0], [c for c in chunks if c.modality == Modality.REGION]


def test_latex_table_keeps_every_number_row_by_row(tmp_path):
    page, regions = regions_of(write_pdf(tmp_path / "paper.pdf", [latex_table_page()]), ocr=False)
    tables = [r for r in regions if r.metadata["kind"] == "table"]
    assert len(tables) == 1, [(r.metadata["kind"], r.text) for r in regions]
    text = tables[0].text
    lines = text.splitlines()
    assert "Model | MMLU | GSM8K | HumanEval" in lines  # the header row, cells in reading order
    for cells in ROWS:
        assert " | ".join(cells) in lines, text  # each row whole: label, then its numbers in column order
    assert "Table 2: Accuracy of the models" in text  # and its caption
    assert all(n in page.text for cells in ROWS for n in cells[1:])
    # the paragraph under the table is a text region of its own, not lost to the table
    assert any("Section 5 analyses" in r.text for r in regions if r.metadata["kind"] == "text")


def test_chart_words_and_caption_belong_to_the_figure_and_the_page(tmp_path):
    page, regions = regions_of(write_pdf(tmp_path / "chart.pdf", [chart_page()]), ocr=False)
    figures = [r for r in regions if r.metadata["kind"] == "figure"]
    assert len(figures) == 1, [(r.metadata["kind"], r.text) for r in regions]
    figure = figures[0]
    for words in ("2019", "2022", "100", "Revenue", "Operating costs", "Fiscal year", "Figure 3: Revenue and operating costs"):
        assert words in figure.text, figure.text
        assert words in page.text
    x0, y0, x1, y1 = figure.locator.bbox
    assert x0 <= 120 and x1 >= 420 and y0 <= 185 and y1 >= 372  # the box holds the chart, its labels and caption
    assert "summarised in the chart" not in figure.text  # body text above is not the figure's


def _scanned_table(path: Path) -> Path:
    image = Image.new("RGB", (1275, 1650), "white")  # letter size at 150 dpi
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 34)
    except OSError:
        font = ImageFont.load_default(size=34)
    draw.text((150, 200), "Revenue by region in millions", fill="black", font=font)
    rows = [("Region", "2023", "2024"), ("Europe", "1204", "1530"), ("Asia", "980", "1101"), ("Americas", "1660", "1790")]
    for r, cells in enumerate(rows):
        for x, cell in zip((150, 600, 900), cells):
            draw.text((x, 260 + 60 * r), cell, fill="black", font=font)
    image.save(path, "PDF", resolution=150.0)
    return path


def test_scanned_table_is_read_into_rows_by_ocr(tmp_path):
    from polyseek.ingest.ocr import ocr_available

    if not ocr_available():
        pytest.skip("Tesseract is not installed (Debian: tesseract-ocr tesseract-ocr-eng)")
    page, regions = regions_of(_scanned_table(tmp_path / "scan.pdf"))
    assert page.metadata["ocr"] is True
    tables = [r for r in regions if r.metadata["kind"] == "table"]
    assert len(tables) == 1, [(r.metadata["kind"], r.text) for r in regions]
    lines = tables[0].text.splitlines()
    assert "Europe | 1204 | 1530" in lines and "Americas | 1660 | 1790" in lines, lines
    assert "Revenue by region in millions" in tables[0].text
