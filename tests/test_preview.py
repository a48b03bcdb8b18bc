"""Previews: a PDF page rendered with its region outlined, image thumbnails, cards for what cannot be drawn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.preview import preview_name, render_preview, write_previews
from polyseek.types import Hit, Item, Locator, Modality
from tests.ingest._pdf import report_page, text_page, write_pdf


def red_mask(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)


def test_region_is_outlined_where_its_box_lies(tmp_path):
    pdf = write_pdf(tmp_path / "report.pdf", [report_page(), text_page(2)])
    region = Item(id="r", path=str(pdf), modality=Modality.REGION, locator=Locator(page=1, bbox=(72.0, 430.0, 482.0, 507.0)))
    image = render_preview(None, region, max_side=792)  # 1 px per point on a letter page
    assert image.size == (612, 792)
    ys, xs = np.nonzero(red_mask(image))
    assert abs(xs.min() - 72) <= 4 and abs(xs.max() - 482) <= 4 and abs(ys.min() - 430) <= 4 and abs(ys.max() - 507) <= 4
    page = Item(id="p", path=str(pdf), modality=Modality.PAGE, locator=Locator(page=2))
    assert not red_mask(render_preview(None, page, max_side=400)).any()  # a whole page: nothing outlined


def test_images_missing_files_and_other_items(tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (1000, 500), (10, 200, 10)).save(photo)
    thumb = render_preview(None, Item(id="i", path=str(photo), modality=Modality.IMAGE), max_side=200)
    assert thumb.size == (200, 100)
    gone = render_preview(None, Item(id="g", path=str(tmp_path / "gone.pdf"), modality=Modality.PAGE, locator=Locator(page=3)), max_side=300)
    assert gone.size[0] == 300  # a card, not an exception
    audio = Item(id="a", path=str(tmp_path / "talk.mp3"), modality=Modality.AUDIO_SEGMENT, locator=Locator(start=5.0, end=9.0))
    assert render_preview(None, audio, max_side=240).size[0] == 240
    with pytest.raises(InvalidInputError):
        render_preview(None, audio, max_side=10)


def test_write_previews_names_files_by_rank(tmp_path):
    pdf = write_pdf(tmp_path / "my report.pdf", [report_page()])
    page = Item(id="p", path=str(pdf), modality=Modality.PAGE, locator=Locator(page=1))
    region = Item(id="r", path=str(pdf), modality=Modality.REGION, locator=Locator(page=1, bbox=(72.0, 170.0, 435.0, 332.0)))
    written = write_previews(None, [Hit(item=page, score=1.0, best_region=region)], tmp_path / "out", max_side=500)
    assert [p.name for p in written] == ["01-my_report-p1.png"] == [preview_name(1, Hit(item=page, score=1.0))]
    assert red_mask(Image.open(written[0])).any()  # the page hit shows its best region
