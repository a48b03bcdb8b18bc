"""Image tiles: windows and boxes, parent links, incremental re-index, ranking as one result, previews."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.ingest import tiles
from polyseek.ingest.tiles import TileSettings, windows
from polyseek.preview import render_preview
from polyseek.types import Filters, Modality, item_id

QUADRANTS = ((220, 20, 20), (20, 200, 40), (30, 40, 220), (128, 128, 128))  # red, green, blue, grey


def quadrant_image(path, size=(1000, 600)):
    """Four colour quadrants: red top-left, green top-right, blue bottom-left, grey bottom-right."""
    w, h = size
    image = Image.new("RGB", size)
    for number, colour in enumerate(QUADRANTS):
        row, col = divmod(number, 2)
        image.paste(colour, (col * w // 2, row * h // 2, (col + 1) * w // 2, (row + 1) * h // 2))
    image.save(path)
    return path


def test_windows_cover_the_image_with_overlap():
    boxes = windows(800, 800, TileSettings(levels=(2, 4), overlap=0.5))
    assert len(boxes) == 9 + 49
    level4 = [b for k, b in boxes if k == 4]
    assert {b[2] - b[0] for b in level4} == {200} and max(b[2] for b in level4) == 800 and min(b[0] for b in level4) == 0
    assert sorted({b[0] for b in level4}) == [0, 100, 200, 300, 400, 500, 600]  # stepped by half a window
    assert len(windows(800, 800, TileSettings(levels=(2, 4), overlap=0.0))) == 4 + 16
    assert [k for k, _ in windows(300, 300, TileSettings(levels=(2, 4), min_window=128))] == [2] * 9  # 75 px windows skipped


def test_settings_parse_and_refuse_nonsense(monkeypatch):
    assert TileSettings.parse("min_side=800,levels=4+2,overlap=0.25") == TileSettings(min_side=800, levels=(2, 4), overlap=0.25)
    assert not TileSettings.parse("off").enabled
    for bad in ("levels=1", "overlap=0.9", "size=3", "min_side=big", "levels"):
        with pytest.raises(InvalidInputError):
            TileSettings.parse(bad)
    monkeypatch.setenv(tiles.TILES_ENV, "min_side=300")
    assert tiles.current().min_side == 300
    with tiles.use(TileSettings(enabled=False)):
        assert not tiles.current().enabled
    assert tiles.current().min_side == 300


def test_large_image_is_indexed_with_tiles_linked_to_it(tmp_path, engine_factory):
    photos = tmp_path / "photos"
    photos.mkdir()
    big = quadrant_image(photos / "big.png")
    Image.new("RGB", (120, 90), (220, 20, 20)).save(photos / "small.png")
    engine = engine_factory()
    with tiles.use(TileSettings(min_side=800, levels=(2,), decode_side=512)):
        summary = engine.index([str(photos)])
    assert summary.items == 1 + 9 + 1  # the small photo is not tiled
    items = engine.file_items(str(big))
    assert items[0].modality == Modality.IMAGE and all(i.modality == Modality.REGION for i in items[1:])
    parent = item_id(str(big), 0)
    assert items[0].id == parent and all(i.metadata["parent_item"] == 0 and i.metadata["kind"] == "tile" for i in items[1:])
    boxes = [i.locator.bbox for i in items[1:]]
    assert boxes[0] == (0.0, 0.0, 500.0, 300.0) and boxes[-1] == (500.0, 300.0, 1000.0, 600.0)  # full-size pixels
    assert all(i.locator.page is None for i in items[1:])

    hits = engine.search(image=Image.new("RGB", (50, 50), (220, 20, 20)), k=5)
    assert [h.item.path for h in hits].count(str(big)) == 1  # the image and its tiles are one result
    top = next(h for h in hits if h.item.path == str(big))
    assert top.item.id == parent and top.best_region is not None
    x0, y0, x1, y1 = top.best_region.locator.bbox
    assert x1 <= 500 and y1 <= 300  # the red quadrant's tile
    assert top.scores["region"] >= top.scores.get("image", 0)
    assert top.to_dict()["best_region"]["locator"]["bbox"] == [x0, y0, x1, y1]
    regions = engine.search(image=Image.new("RGB", (50, 50), (220, 20, 20)), k=3, filters=Filters(modalities=(Modality.REGION,)))
    assert regions and all(h.item.modality == Modality.REGION for h in regions)  # asked for regions: tiles as such


def test_changed_image_replaces_its_tiles_and_deleted_image_takes_them(tmp_path, engine_factory):
    photos = tmp_path / "photos"
    photos.mkdir()
    big = quadrant_image(photos / "big.png")
    engine = engine_factory()
    settings = TileSettings(min_side=800, levels=(2, 4), decode_side=512)
    with tiles.use(settings):
        engine.index([str(photos)])
        before = {i.id for i in engine.file_items(str(big))}
        assert len(before) == 1 + 9 + 49
        assert engine.index([str(photos)]).unchanged == 1
        quadrant_image(big, size=(900, 300))  # 225 px high: the level-4 windows (75 px at 512) are skipped
        summary = engine.index([str(photos)])
    assert summary.updated == 1
    after = engine.file_items(str(big))
    assert len(after) == 1 + 9 and after[-1].locator.bbox == (450.0, 150.0, 900.0, 300.0)
    assert engine.store.count() == 10  # no tile of the old version is left
    big.unlink()
    with tiles.use(settings):
        assert engine.index([str(photos)]).removed == 1
    assert engine.store.count() == 0


def test_boxes_follow_the_exif_orientation(tmp_path, engine_factory):
    path = tmp_path / "turned.jpg"
    stored = Image.new("RGB", (1000, 600), (200, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 600 wide, 1000 high
    stored.save(path, exif=exif.tobytes())
    engine = engine_factory()
    with tiles.use(TileSettings(min_side=800, levels=(2,), decode_side=512)):
        engine.index([str(path)])
    items = engine.file_items(str(path))
    assert max(i.locator.bbox[2] for i in items[1:]) == 600.0 and max(i.locator.bbox[3] for i in items[1:]) == 1000.0


def test_tile_preview_outlines_its_box(tmp_path, engine_factory):
    photos = tmp_path / "photos"
    photos.mkdir()
    big = quadrant_image(photos / "big.png", size=(1000, 600))
    Image.new("RGB", (1000, 600), (250, 250, 250)).save(big)  # white, so the outline is the only red
    engine = engine_factory()
    with tiles.use(TileSettings(min_side=800, levels=(2,), decode_side=512)):
        engine.index([str(photos)])
    tile = engine.file_items(str(big))[-1]  # bottom-right quarter: (500, 300)-(1000, 600)
    picture = render_preview(engine, tile, max_side=500)  # half size
    pixels = np.asarray(picture).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    ys, xs = np.nonzero(red)
    assert abs(xs.min() - 250) <= 2 and abs(ys.min() - 150) <= 2 and xs.max() >= 495 and ys.max() >= 295
    whole = render_preview(engine, engine.file_items(str(big))[0], max_side=500)
    assert not ((np.asarray(whole)[..., 1] < 80) & (np.asarray(whole)[..., 0] > 200)).any()
