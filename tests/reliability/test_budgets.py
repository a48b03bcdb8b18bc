"""Budgets per file: decoding memory of images, time and items of long files, and checkpoints that resume them."""

from __future__ import annotations

import collections
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from polyseek.errors import FileTooLargeError
from polyseek.ingest.images import DECODE_SIDE, ImageIngestor, open_image
from polyseek.inputs import load_image
from tests.conftest import png_header_only
from tests.ingest._pdf import text_page, write_pdf


class Killed(BaseException):
    """Stands for kill -9 in-process: no ``except Exception`` catches it, so nothing after it runs."""


# ---- images ---------------------------------------------------------------------------------------
def test_a_small_file_claiming_huge_pixels_is_refused_by_its_decoding_memory(tmp_path):
    """Defect 3: a 231 KB 8,900 x 8,900 PNG passed the pixel cap and took ~240 MB per decode (GBs in a server)."""
    png = png_header_only(tmp_path / "wide.png", 8_900, 8_900)
    assert png.stat().st_size < 300_000
    for attempt in (lambda: open_image(png), lambda: load_image(png.read_bytes()), lambda: list(ImageIngestor().ingest(png))):
        with pytest.raises(FileTooLargeError, match=r"8900x8900 pixels, which takes 227 MiB to decode .*budget of 96 MiB"):
            attempt()


def test_large_images_come_back_reduced(tmp_path):
    big_jpeg = io.BytesIO()
    Image.effect_noise((4_000, 3_000), 40).convert("RGB").save(big_jpeg, "JPEG")  # decoded at 1/2 scale by DCT
    big_png = tmp_path / "scan.png"
    Image.new("L", (6_000, 4_000), 128).save(big_png)  # a grey scan: 24 MB decoded, reduced by 5 before RGB
    palette = tmp_path / "poster.gif"
    Image.new("P", (3_000, 2_000), 3).save(palette)
    for source in (big_jpeg.getvalue(), big_png, palette):
        image = load_image(source)
        assert image.mode == "RGB" and max(image.size) <= 2 * DECODE_SIDE, image.size
    assert load_image(Image.new("RGBA", (5_000, 1_000))).size == (1_250, 250)  # reduced by 5_000 // 1_024 = 4


# ---- long files: parts, resume, time and item budgets --------------------------------------------
def book(folder: Path, pages: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_pdf(folder / "book.pdf", [text_page(n) for n in range(1, pages + 1)])


def contents(engine) -> collections.Counter:
    """(path name, modality, locator) of every stored item: a duplicate shows as a count of 2."""
    rows = engine.store.get([i for i, _ in engine.store.search("image", [1.0] + [0.0] * 63, 100_000)])
    return collections.Counter((Path(r.path).name, r.modality, str(sorted(r.locator.items()))) for r in rows)


@pytest.fixture
def reference(tmp_path, engine_factory):
    """What a run that nobody interrupts stores for the same book."""
    def make(pages: int) -> collections.Counter:
        engine = engine_factory(tmp_path / "reference-store")
        engine.index([book(tmp_path / "reference", pages)])
        return contents(engine)
    return make


def spy_on_resume(monkeypatch) -> list:
    from polyseek.ingest.pdf import PdfIngestor

    calls = []
    real = PdfIngestor.ingest

    def ingest(self, path, progress=None, resume=None):
        calls.append(resume)
        return real(self, path, progress, resume=resume)

    monkeypatch.setattr(PdfIngestor, "ingest", ingest)
    return calls


def test_a_long_pdf_cut_short_resumes_after_its_last_part(tmp_path, engine_factory, reference, monkeypatch):
    """Defect 10: an interrupted long file lost all its progress. Now its parts stay and the next run goes on."""
    folder = tmp_path / "docs"
    book(folder, 60)
    engine = engine_factory(tmp_path / "store")
    engine.indexer.part_items = 16
    real_upsert, writes = engine.store.upsert, []

    def upsert(rows):
        writes.append(len(rows))
        if len(writes) == 4:
            raise Killed()  # dies while writing its fourth part
        real_upsert(rows)

    monkeypatch.setattr(engine.store, "upsert", upsert)
    with pytest.raises(Killed):
        engine.index([folder])
    monkeypatch.setattr(engine.store, "upsert", real_upsert)
    (partial,) = engine.catalog.partial().values()
    assert partial.items == sum(writes[:3]) == engine.store.count() > 0
    assert engine.catalog.files() == {}, "no half file counts as indexed"
    assert partial.resume["page"] > 0 and partial.resume["item"] == partial.items

    calls = spy_on_resume(monkeypatch)
    summary = engine_factory(tmp_path / "store").index([folder])
    assert calls == [partial.resume], "it starts at the page after its last part"
    engine = engine_factory(tmp_path / "store")  # the first engine sees another writer's commit only after 0.5 s
    assert summary.added == 1 and not summary.failed and summary.items == engine.store.count() - partial.items
    assert contents(engine) == reference(60), "nothing lost, nothing twice"
    assert engine.catalog.partial() == {} and engine.catalog.file(str(folder / "book.pdf")).items == engine.store.count()


def test_the_time_budget_stops_a_long_file_at_a_part_and_the_next_run_goes_on(tmp_path, engine_factory, reference):
    folder = tmp_path / "docs"
    book(folder, 40)
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    engine = engine_factory(tmp_path / "store")
    engine.indexer.file_seconds = 0
    summary = engine.index([folder])
    (failure,) = summary.failed
    assert "time budget" in failure["reason"] and failure["path"].endswith("book.pdf")
    assert summary.added == 1  # the photo; the book waits for the next run
    done = engine.catalog.partial()[str(folder / "book.pdf")].items
    assert 0 < done == engine.store.count() - 1
    engine.indexer.file_seconds = 600
    summary = engine.index([folder])
    assert summary.added == 1 and summary.unchanged == 1 and not summary.failed
    expected = reference(40)
    expected[("red.png", "image", "[]")] = 1
    assert contents(engine) == expected


def test_the_item_budget_keeps_the_first_items_and_says_so(tmp_path, engine_factory):
    folder = tmp_path / "docs"
    book(folder, 30)
    engine = engine_factory(tmp_path / "store")
    engine.indexer.file_items = 40
    summary = engine.index([folder])
    assert summary.added == 1 and engine.store.count() == 40
    record = engine.catalog.file(str(folder / "book.pdf"))
    assert record.items == 40 and record.status == "ok" and "first 40 items" in record.reason
    assert engine.index([folder]).unchanged == 1


def test_a_changed_long_file_restarts_instead_of_resuming(tmp_path, engine_factory, reference, monkeypatch):
    folder = tmp_path / "docs"
    book(folder, 40)
    engine = engine_factory(tmp_path / "store")
    engine.indexer.file_seconds = 0
    engine.index([folder])
    assert engine.catalog.partial()
    book(folder, 20)  # rewritten before the next run: its committed parts belong to the old content
    os.utime(folder / "book.pdf", (time.time() + 5, time.time() + 5))
    engine.indexer.file_seconds = 600
    calls = spy_on_resume(monkeypatch)
    engine.index([folder])
    assert calls == [None]
    assert contents(engine) == reference(20)


def committed_pages(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store / 'catalog.sqlite'}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT resume FROM partial").fetchone()
    except sqlite3.Error:
        return 0
    import json

    return json.loads(row[0])["page"] if row and row[0] else 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~3 min on 2 quiet cores; 11 min at load average 33
def test_kill_9_at_page_900_of_a_1000_page_pdf_resumes_there(tmp_path, engine_factory, monkeypatch):
    """The goal of issue 11: a 1,000-page PDF interrupted at page 900 resumes from there."""
    pages = int(os.environ.get("POLYSEEK_RESUME_PAGES", "1000"))
    folder = tmp_path / "docs"
    book(folder, pages)
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyseek", "index", str(folder), "--store", str(store),
         "--image-encoder", "deterministic", "--text-encoder", "deterministic"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "POLYSEEK_LOG": "ERROR"})
    deadline = time.monotonic() + 600
    while proc.poll() is None and committed_pages(store) < pages * 9 // 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it reached page 900"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    cut_at = committed_pages(store)
    calls = spy_on_resume(monkeypatch)
    engine = engine_factory(store)
    summary = engine.index([folder])
    print(f"killed with {cut_at} of {pages} pages committed; resumed at page index {calls[0]['page']}")
    assert summary.added == 1 and not summary.failed
    assert calls[0]["page"] == cut_at >= pages * 9 // 10
    stored = contents(engine)
    assert set(stored.values()) == {1}, "an item stored twice"
    assert sorted(int(place.split("('page', ")[1].split(")")[0]) for name, kind, place in stored if kind == "page") \
        == list(range(1, pages + 1)), "every page once"
    assert engine.catalog.file(str(folder / "book.pdf")).items == engine.store.count() == len(stored)
