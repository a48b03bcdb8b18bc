"""Image ingestion: formats, EXIF, and bad files reported with reasons, never crashing a run."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from polyseek.errors import CorruptFileError, FileTooLargeError
from polyseek.ingest.images import ImageIngestor, open_image
from tests.conftest import png_header_only


def test_formats_and_exif_date(tmp_path):
    base = Image.new("RGB", (40, 30), (10, 200, 10))
    exif = Image.Exif()
    exif[306] = "2021:07:04 10:30:00"
    base.save(tmp_path / "a.jpg", exif=exif)
    base.save(tmp_path / "b.png")
    base.save(tmp_path / "c.webp")
    frames = [base, Image.new("RGB", (40, 30), (200, 0, 0))]
    frames[0].save(tmp_path / "d.gif", save_all=True, append_images=frames[1:])
    ingestor = ImageIngestor()
    chunks = {p: list(ingestor.ingest(tmp_path / p)) for p in ["a.jpg", "b.png", "c.webp", "d.gif"]}
    assert all(len(c) == 1 and c[0].image.size == (40, 30) for c in chunks.values())
    assert chunks["a.jpg"][0].metadata["taken"].startswith("2021-07-04T10:30")
    assert chunks["a.jpg"][0].date is not None and chunks["b.png"][0].date is None
    # GIF: the first frame (green), not the second (red)
    assert chunks["d.gif"][0].image.getpixel((5, 5))[1] > 150


def test_large_images_are_reduced_for_encoding(tmp_path):
    Image.new("RGB", (3000, 2000), "white").save(tmp_path / "big.jpg")
    chunk = next(ImageIngestor().ingest(tmp_path / "big.jpg"))
    assert max(chunk.image.size) <= 1024
    assert chunk.metadata["width"] == 3000


@pytest.mark.parametrize(
    "name, content, error, message",
    [
        ("empty.jpg", b"", CorruptFileError, "not an image"),
        ("text.jpg", b"hello, I am not a picture\n" * 10, CorruptFileError, "not an image"),
    ],
)
def test_bad_bytes(tmp_path, name, content, error, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        list(ImageIngestor().ingest(path))


def test_truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CorruptFileError, match="truncated|damaged"):
        list(ImageIngestor().ingest(tmp_path / "cut.jpg"))


def test_decompression_bomb_refused_before_decoding(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 20_000, 20_000)
    with pytest.raises(FileTooLargeError, match="over the limit"):
        open_image(bomb)


def test_bad_files_in_a_run_are_reported_not_fatal(tmp_path, engine_factory):
    folder = tmp_path / "mixed folder ünïcode"
    folder.mkdir()
    Image.new("RGB", (20, 20), "red").save(folder / "ok photo 📷.jpg")
    (folder / "zero.png").write_bytes(b"")
    (folder / "fake.jpg").write_text("not an image")
    png_header_only(folder / "bomb.png", 20_000, 20_000)
    engine = engine_factory()
    summary = engine.index([folder])
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in ((f["path"], f["reason"]) for f in summary.failed)}
    assert set(reasons) == {"zero.png", "fake.jpg", "bomb.png"}
    assert "over the limit" in reasons["bomb.png"]
    assert summary.added == 1 and engine.store.count() == 1
    hit = engine.search("red", k=1)[0]
    assert hit.item.path.endswith("ok photo 📷.jpg")
    # the failed files are remembered: an unchanged re-run does not retry them
    assert engine.index([folder]).unchanged == 4


def test_heic(tmp_path):
    pytest.importorskip("pillow_heif", reason="pillow-heif is a core dependency; this only guards odd platforms")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "phone.heic")
    chunk = next(ImageIngestor().ingest(tmp_path / "phone.heic"))
    assert chunk.image.size == (32, 32) and chunk.image.getpixel((3, 3))[0] > 150
