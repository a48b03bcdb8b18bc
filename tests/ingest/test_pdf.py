"""PDF ingestion: pages and regions with locators, OCR of scans, bad PDFs reported clearly, streaming, previews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyseek.errors import CorruptFileError, FileTooLargeError, UnsupportedFileError
from polyseek.ingest.layout import Box, Run, build_regions, group_blocks, group_lines
from polyseek.ingest.pdf import PdfIngestor, clean_text, open_pdf, page_geometry, render
from polyseek.types import Modality
from tests.ingest._pdf import PageSpec, report_page, scanned_pdf, text_page, write_pdf


def ingest(path: Path, **kwargs):
    return list(PdfIngestor(**kwargs).ingest(path))


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "report.pdf", [report_page(), text_page(2), text_page(3)])


def test_each_page_yields_a_page_then_its_regions(report_pdf):
    chunks = ingest(report_pdf)
    pages = [c for c in chunks if c.modality == Modality.PAGE]
    assert [p.locator.page for p in pages] == [1, 2, 3]
    assert all(p.locator.bbox is None and p.image is not None and max(p.image.size) <= 384 for p in pages)
    assert "Quarterly Results" in pages[0].text and pages[0].metadata["page_count"] == 3
    # regions follow their page and point back at its chunk index
    for index, chunk in enumerate(chunks):
        if chunk.modality == Modality.REGION:
            page_chunk = chunks[chunk.metadata["page_item"]]
            assert page_chunk.modality == Modality.PAGE and page_chunk.locator.page == chunk.locator.page
            assert chunk.metadata["page_item"] < index


def test_layout_finds_paragraph_chart_and_table_with_boxes(report_pdf):
    regions = [c for c in ingest(report_pdf) if c.modality == Modality.REGION and c.locator.page == 1]
    kinds = {c.metadata["kind"]: c for c in regions}
    assert set(kinds) == {"text", "figure", "table"}
    figure, table, text = kinds["figure"], kinds["table"], kinds["text"]
    # the bar chart was drawn from x 90..445, y 190..330 (points from the top); its title sits above it
    x0, y0, x1, y1 = figure.locator.bbox
    assert x0 <= 92 and x1 >= 430 and y0 <= 175 and 320 <= y1 <= 340
    assert "Revenue growth by region chart" in figure.text
    assert table.text.splitlines()[1] == "Europe | 1,204 | 1,530 | 27%"  # read row by row
    assert table.locator.bbox[1] == pytest.approx(430, abs=3)
    assert "Margins improved" in text.text and text.locator.bbox[3] < 140
    assert all(max(c.image.size) <= 320 for c in regions if c.image is not None)
    assert figure.image is not None and table.image is not None and text.image is None  # a paragraph is found by its words


def test_scanned_page_is_read_by_ocr(tmp_path):
    from polyseek.ingest.ocr import ocr_available

    if not ocr_available():
        pytest.skip("Tesseract is not installed (Debian: tesseract-ocr tesseract-ocr-eng)")
    chunks = ingest(scanned_pdf(tmp_path / "scan.pdf"))
    page = chunks[0]
    assert page.modality == Modality.PAGE and page.metadata["ocr"] is True
    assert "Norway" in page.text and "Invoice" in page.text
    regions = [c for c in chunks if c.modality == Modality.REGION]
    assert regions and all(c.locator.bbox is not None for c in regions)
    # the OCR box of the first line lies where it was drawn: 120 px at 150 dpi = 57.6 pt from the left
    assert regions[0].locator.bbox[0] == pytest.approx(57.6, abs=6)


def test_scanned_page_without_ocr_keeps_its_image(tmp_path):
    chunks = ingest(scanned_pdf(tmp_path / "scan.pdf"), ocr=False)
    assert len(chunks) == 1 and chunks[0].text == "" and chunks[0].image is not None and chunks[0].metadata["ocr"] is False


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda p: write_pdf(p, [text_page(1)], encrypt=True), UnsupportedFileError, "encrypted with a password"),
        (lambda p: p.write_bytes(write_pdf(p, [report_page(), text_page(2)]).read_bytes()[:900]), CorruptFileError, "truncated"),
        (lambda p: write_pdf(p, [], count=0), CorruptFileError, "no pages"),
        (lambda p: p.write_bytes(b"%PDF-1.4\nthis is not really a pdf"), CorruptFileError, "damaged"),
        (lambda p: p.write_bytes(b""), CorruptFileError, "empty file"),
        (lambda p: write_pdf(p, [PageSpec(lines=[(72, 72, 12, "hi")], width=200_000, height=200_000)]), FileTooLargeError,
         "200,000 x 200,000 pt"),
    ],
    ids=["encrypted", "truncated", "zero-pages", "malformed", "empty", "huge-page-bomb"],
)
def test_bad_pdfs_raise_clear_errors(tmp_path, make, error, words):
    path = tmp_path / "bad.pdf"
    make(path)
    with pytest.raises(error) as info:
        ingest(path)
    assert words in str(info.value) and "bad.pdf" in str(info.value)


def test_a_huge_page_among_good_ones_is_skipped(tmp_path):
    path = write_pdf(tmp_path / "mixed.pdf", [text_page(1), PageSpec(width=150_000, height=150_000), text_page(3)])
    pages = [c.locator.page for c in ingest(path) if c.modality == Modality.PAGE]
    assert pages == [1, 3]


def test_render_refuses_oversized_bitmaps(report_pdf):
    from polyseek.ingest.pdf import PDFIUM_LOCK

    with open_pdf(report_pdf) as document, PDFIUM_LOCK:
        page = document[0]
        geometry = page_geometry(page, "report.pdf", 1)
        with pytest.raises(FileTooLargeError, match="pixels"):
            render(page, geometry, scale=20.0, name="report.pdf", number=1)  # 12,240 x 15,840 px
        page.close()


def test_pages_are_streamed_not_read_up_front(tmp_path):
    path = write_pdf(tmp_path / "long.pdf", [text_page(i) for i in range(1, 41)])
    seen = []
    iterator = PdfIngestor().ingest(path, lambda done, total, unit: seen.append((done, total, unit)))
    first = next(iterator)
    assert first.locator.page == 1 and seen == []  # nothing past page 1 has been read yet
    rest = list(iterator)
    assert seen[-1] == (40, 40, "pages") and len(seen) == 40
    assert sum(1 for c in [first, *rest] if c.modality == Modality.PAGE) == 40


def test_layout_groups_runs_into_lines_blocks_and_columns():
    runs = [Run(Box(72, 100, 150, 110), "Left "), Run(Box(152, 100, 250, 110), "column"),
            Run(Box(72, 113, 240, 123), "continues here"),
            Run(Box(320, 100, 400, 110), "Right"), Run(Box(320, 113, 480, 123), "column text")]
    lines = group_lines(runs)
    assert sorted(l.text for l in lines) == ["Left column", "Right", "column text", "continues here"]
    blocks = sorted(group_blocks(lines), key=lambda b: b.box.x0)
    assert [b.text for b in blocks] == ["Left column continues here", "Right column text"]
    # two columns stay two regions, each with its own box
    runs += [Run(Box(72, 126, 250, 136), "with a third line in the left one"),
             Run(Box(320, 126, 500, 136), "and a third line in the right one")]
    regions = sorted(build_regions(runs, [], [], 612, 792), key=lambda r: r.box.x0)
    assert [r.kind for r in regions] == ["text", "text"]
    assert regions[0].box.as_tuple() == (72, 100, 250, 136) and regions[1].box.x0 == 320
    assert regions[1].text == "Right column text and a third line in the right one"


def test_clean_text_drops_leaders_and_blank_runs():
    assert clean_text("Revenue........ 4,795\r\n\r\n\r\n__________\nNet   income") == "Revenue 4,795\n\nNet income"


@pytest.mark.slow
def test_index_and_search_a_pdf_through_the_cli(tmp_path, report_pdf):
    """`polyseek index some.pdf` then `polyseek search ... --json --show DIR`: pages with page numbers and boxes."""
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    store = str(tmp_path / "store")
    runner = CliRunner()
    common = ["--store", store, "--image-encoder", "deterministic", "--text-encoder", "bge-small-onnx"]
    result = runner.invoke(app, ["index", str(report_pdf), *common, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 1 and summary["failed"] == []
    previews = tmp_path / "previews"
    result = runner.invoke(app, ["search", "revenue growth by region chart", *common, "--json", "-k", "3", "--show", str(previews)])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    top = hits[0]
    assert top["modality"] == "page" and top["locator"] == {"page": 1, "bbox": None}
    assert top["best_region"]["locator"]["page"] == 1 and len(top["best_region"]["locator"]["bbox"]) == 4
    files = sorted(p.name for p in previews.iterdir())
    assert files[0] == "01-report-p1.png" and len(files) == len(hits)
