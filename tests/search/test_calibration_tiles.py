"""Image tiles belong to the image kind: calibration groups them with photos (not with PDF regions, which share
their modality), and a search restricted to images still searches them and returns their images."""

from __future__ import annotations

from PIL import Image

from polyseek.ingest import tiles
from polyseek.ingest.tiles import TileSettings
from polyseek.search.calibration import kind_of
from polyseek.search.policies.calibration import by_kind
from polyseek.types import Filters, Modality, Signal, item_id
from tests.ingest._pdf import text_page, write_pdf
from tests.ingest.test_tiles import quadrant_image

RED = Image.new("RGB", (50, 50), (220, 20, 20))


def tiled_mixed(tmp_path, engine_factory):
    folder = tmp_path / "mixed"
    (folder / "photos").mkdir(parents=True)
    big = quadrant_image(folder / "photos" / "big.png")
    for n, colour in enumerate(((200, 60, 60), (60, 60, 200), (90, 90, 90))):
        Image.new("RGB", (120, 90), colour).save(folder / "photos" / f"small{n}.png")
    (folder / "docs").mkdir()
    write_pdf(folder / "docs" / "report.pdf", [text_page(1), text_page(2)])
    engine = engine_factory()
    with tiles.use(TileSettings(min_side=800, levels=(2,), decode_side=512)):
        engine.index([str(folder)])
    return engine, big


def test_tiles_are_of_the_image_kind_and_pdf_regions_of_the_document_kind(tmp_path, engine_factory):
    engine, big = tiled_mixed(tmp_path, engine_factory)
    query = engine.encoder("image").encode_queries(["red"])[0]
    regions = engine.store.get([i for i, _ in engine.store.search("image", query, 100, Filters(modalities=(Modality.REGION,)))])
    tile_rows = [row for row in regions if row.path == str(big)]
    pdf_regions = [row for row in regions if row.path.endswith(".pdf")]
    assert len(tile_rows) == 9 and pdf_regions
    assert {kind_of(row) for row in tile_rows} == {"image"} and {kind_of(row) for row in pdf_regions} == {"document"}
    # a text query in the mixed index: calibration's split by kind puts the tiles with the photos
    trace = engine.trace("red", k=10)
    assert trace.fusion == "evidence"
    split = {kind: [trace.rows.by_id([i])[i].path for i, _ in ranked] for kind, ranked in by_kind(trace, Signal.IMAGE).items()}
    assert str(big) not in split.get("document", []) and str(big) in split["image"]


def test_a_search_restricted_to_images_still_finds_an_image_by_its_tile(tmp_path, engine_factory):
    engine, big = tiled_mixed(tmp_path, engine_factory)
    images = Filters(modalities=(Modality.IMAGE,))
    hits = engine.search(image=RED, k=5, filters=images)
    assert hits and all(h.item.modality == Modality.IMAGE for h in hits)  # images only: no tile, no page as such
    top = next(h for h in hits if h.item.path == str(big))
    assert top.item.id == item_id(str(big), 0) and [h.item.path for h in hits].count(str(big)) == 1
    assert top.best_region is not None  # found through its red tile, which the store's image filter leaves out
    x0, y0, x1, y1 = top.best_region.locator.bbox
    assert x1 <= 500 and y1 <= 300
    unfiltered = next(h for h in engine.search(image=RED, k=5) if h.item.path == str(big))
    assert top.score == unfiltered.score and top.best_region.id == unfiltered.best_region.id
    # a file-type filter that names no image type finds no tiles either
    assert not engine.search(image=RED, k=5, filters=Filters(modalities=(Modality.IMAGE,), file_types=("pdf",)))
