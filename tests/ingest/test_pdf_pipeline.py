"""PDF pages read ahead on a thread give what a plain page-by-page read gives; text regions are embedded by their words."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from polyseek.errors import CorruptFileError
from polyseek.ingest import pdf as pdf_module
from polyseek.ingest.pdf import PdfIngestor, open_pdf, pages_ahead, read_page
from polyseek.types import Modality
from tests.ingest._pdf import report_page, text_page, write_pdf


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "report.pdf", [report_page(), text_page(2), text_page(3), text_page(4), text_page(5)])


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pdf-pages:")]


def test_pages_read_ahead_equal_a_plain_read_in_page_order(report_pdf):
    with open_pdf(report_pdf) as document:
        plain = [read_page(document, i, "report.pdf") for i in range(5)]
        ahead = list(pages_ahead(document, range(5), "report.pdf", ahead=2))
    assert [index for index, _ in ahead] == [0, 1, 2, 3, 4]
    for one, other in zip(plain, (page for _, page in ahead)):
        assert not isinstance(other, BaseException)
        assert (one.number, one.text, one.regions) == (other.number, other.text, other.regions)
        assert one.image.tobytes() == other.image.tobytes()  # the same pixels: the same vectors
        assert [c.tobytes() if c else None for c in one.crops] == [c.tobytes() if c else None for c in other.crops]
    assert not _readers()


def test_closing_early_stops_the_reader_before_the_document_closes(report_pdf):
    with open_pdf(report_pdf) as document:
        pages = pages_ahead(document, range(5), "report.pdf", ahead=1)
        index, first = next(pages)
        assert index == 0 and not isinstance(first, BaseException)
        pages.close()  # a time budget or a failure downstream
        assert not _readers()  # joined: nothing reads a document about to be closed


def test_a_page_that_fails_is_handed_over_and_the_next_pages_still_come(report_pdf, monkeypatch, caplog):
    original = pdf_module.read_page

    def broken(document, index, name, **kwargs):
        if index == 1:
            raise RuntimeError("bad content stream")
        return original(document, index, name, **kwargs)

    monkeypatch.setattr(pdf_module, "read_page", broken)
    chunks = list(PdfIngestor().ingest(report_pdf))
    assert sorted({c.locator.page for c in chunks if c.modality == Modality.PAGE}) == [1, 3, 4, 5]
    assert "page 2 skipped" in caplog.text

    def refused(document, index, name, **kwargs):
        raise CorruptFileError(f"{name}: page {index + 1} has an empty or invalid size")

    monkeypatch.setattr(pdf_module, "read_page", refused)
    with pytest.raises(CorruptFileError, match="page 1"):  # no page at all: the first error is the file's
        list(PdfIngestor().ingest(report_pdf))
    assert not _readers()


def test_text_regions_are_embedded_by_their_words_and_pictures_by_their_pixels(report_pdf, engine_factory):
    engine = engine_factory()
    chunks = [c for c in PdfIngestor().ingest(report_pdf) if c.locator.page == 1]
    kinds = {c.metadata.get("kind", "page"): c for c in chunks}
    assert {"page", "text", "figure", "table"} <= set(kinds)
    assert kinds["text"].image is None and all(kinds[k].image is not None for k in ("page", "figure", "table"))
    pictures = {k: engine.encoder("image").encode_images([kinds[k].image])[0] for k in ("page", "figure", "table")}
    vectors = engine.spaces.encode_chunks(chunks)
    for kind, chunk in kinds.items():
        at = chunks.index(chunk)
        if kind == "text":  # the image space holds its text vector, as for any passage without a picture
            np.testing.assert_array_equal(vectors["image"][at], vectors["text"][at])
        else:
            np.testing.assert_allclose(vectors["image"][at], pictures[kind], atol=1e-6)
        np.testing.assert_allclose(vectors["text"][at], engine.encoder("text").encode_documents([chunk.text])[0], atol=1e-6)
