"""A backfill gives every stored item the new vector of what it holds, even where reading its file again gives other
items: a PDF read twice in one process can come out with a region more or less (PDFium's glyph cache), which
shifts every later item's position. Simulated here by a layout that finds one region more on the second reading."""

from __future__ import annotations

import numpy as np
import pytest

from polyseek.engine import Engine
from polyseek.ingest import pdf as pdf_module
from polyseek.ingest.layout import Box, Region
from polyseek.upgrade import backfill, upgrade
from polyseek.upgrade import state as st
from polyseek.upgrade.core import decode_files, encode_decoded, indexed_files
from tests.ingest._pdf import PageSpec, report_page, write_pdf

NEW_TEXT = "tests.upgrade.small_encoders:Rotated"
NEW_IMAGE = "tests.upgrade.test_eval_upgrade_image:RotatedImages"


def make_documents(folder):
    folder.mkdir(parents=True)
    for d in range(2):
        plain = PageSpec(lines=[(72, 72, 14, f"Chapter {d}"), (72, 110, 11, f"The harbour lighthouse, part {d}.")])
        write_pdf(folder / f"doc{d}.pdf", [report_page(), plain, report_page()])
    # a note: its items are words only, so the image space's backfill embeds its stored words without reading it
    (folder / "note.txt").write_text("The lighthouse keeper's log.\n\nGranite steps lead down to the harbour.\n", encoding="utf-8")
    return folder


@pytest.fixture
def reread_differs(monkeypatch):
    """From now on every page is laid out with one text region more, first: later items shift by one; with
    ``reworded``, every region's words differ too, so no item of the re-read matches a stored one but the page."""
    original = pdf_module.build_regions

    def apply(reworded: bool):
        def one_more(*args, **kwargs):
            regions = original(*args, **kwargs)
            if reworded:
                regions = [Region(r.kind, r.box, f"{r.text} again") for r in regions]
            return [Region("text", Box(20.0, 20.0, 200.0, 34.0), "a reading that indexing never saw"), *regions]
        monkeypatch.setattr(pdf_module, "build_regions", one_more)
    return apply


@pytest.mark.parametrize("space,new,reworded", [("text", NEW_TEXT, False), ("image", NEW_IMAGE, False), ("image", NEW_IMAGE, True)])
def test_backfilled_vectors_are_a_fresh_index_s_even_when_a_file_reads_differently(tmp_path, reread_differs, space, new,
                                                                                     reworded, monkeypatch):
    documents = make_documents(tmp_path / "documents")
    fresh = Engine(str(tmp_path / "fresh"), image_encoder=new if space == "image" else "deterministic",
                   text_encoder=new if space == "text" else "deterministic")
    fresh.index([str(documents)])
    engine = Engine(str(tmp_path / "store"), image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(documents)])
    ids = _all_ids(engine)
    assert ids == _all_ids(fresh)

    reread_differs(reworded)  # reworded: figures and tables are drawn again from their stored boxes
    keys = list(indexed_files(engine))
    by_position = encode_decoded(decode_files(keys, space), fresh.spaces.encoder(space))  # the old matching
    expected = fresh.store.get_vectors(space, ids)
    shifted = [i for found in by_position.values() for i, v in found.items() if i in expected and not np.allclose(v, expected[i], atol=1e-5)]
    assert shifted, "the simulated re-read must move items, or this test shows nothing"

    from polyseek.ingest.text import TextIngestor

    notes_read: list[str] = []
    original_ingest = TextIngestor.ingest
    monkeypatch.setattr(TextIngestor, "ingest", lambda self, path, *a, **k: notes_read.append(str(path)) or original_ingest(self, path, *a, **k))
    upgrade(engine, **{f"{space}_encoder": new}, sample=4)
    result = backfill(engine, finalize_when_done=False)
    assert notes_read == []  # a note's items are its words: the backfill embeds what is stored, in either space
    assert result["remaining_files"] == 0 and result["unmatched"] == 0
    got = engine.store.get_vectors(st.next_space(space), ids)
    assert set(got) == set(expected) and len(expected) > 10
    for item, vector in expected.items():
        np.testing.assert_allclose(got[item], vector, atol=1e-5, err_msg=item)
    fresh.close()
    engine.close()


def _all_ids(engine):
    from polyseek.types import item_id

    return [item_id(key, i) for key, record in indexed_files(engine).items() for i in range(record.items)]
