"""Engine facade: indexing, incremental updates, search across modalities, composed queries, safety checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from polyseek.errors import IndexMismatchError, InvalidInputError, NotFoundError
from polyseek.types import Filters, Modality


def paths(hits):
    return [os.path.basename(h.item.path) for h in hits]


def test_index_and_search_all_directions(collection, engine_factory):
    engine = engine_factory()
    summary = engine.index([collection])
    assert (summary.added, summary.updated, summary.removed, summary.failed) == (4, 0, 0, ())
    assert summary.items >= 5  # 3 photos + at least 2 passages from the note
    # text → image
    assert paths(engine.search("red", k=1, filters=Filters(modalities=(Modality.IMAGE,)))) == ["red.jpg"]
    # image → image
    probe = Image.new("RGB", (32, 32), (25, 35, 230))
    assert paths(engine.search(image=probe, k=1, filters=Filters(modalities=(Modality.IMAGE,)))) == ["blue.jpg"]
    # text → text, with its line span
    hit = engine.search("dog running grass", k=1)[0]
    assert hit.item.modality is Modality.TEXT and hit.item.locator.line_start == 1
    assert set(hit.scores) >= {"text", "lexical", "fused"}
    # image → text: the text side lives in the image space too
    assert engine.search(image=probe, k=10, filters=Filters(modalities=(Modality.TEXT,)))


def test_composed_query_weights(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    red = Image.new("RGB", (32, 32), (220, 20, 20))
    only_images = Filters(modalities=(Modality.IMAGE,))
    assert paths(engine.search(["green", red], k=1, filters=only_images, spaces=["image"])) in (["red.jpg"], ["green.jpg"])
    assert paths(engine.search(image=red, k=1, filters=only_images)) == ["red.jpg"]
    strong_green = engine.search('"3:green" + red', k=1, filters=only_images, spaces=["image"])
    assert paths(strong_green) == ["green.jpg"]
    minus_red = engine.search(image=red, k=3, filters=only_images)
    assert paths(minus_red)[0] == "red.jpg"


def test_incremental_reindex(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    again = engine.index([collection])
    assert (again.added, again.updated, again.removed, again.unchanged, again.items) == (0, 0, 0, 4, 0)
    # touch without change: still unchanged (hash matches)
    os.utime(collection / "photos" / "red.jpg", (time.time() + 5, time.time() + 5))
    assert engine.index([collection]).unchanged == 4
    # change, add, delete
    Image.new("RGB", (64, 48), (250, 250, 20)).save(collection / "photos" / "red.jpg")
    Image.new("RGB", (64, 48), (250, 250, 250)).save(collection / "photos" / "white.png")
    (collection / "photos" / "blue.jpg").unlink()
    summary = engine.index([collection])
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (1, 1, 1, 2)
    everything = paths(engine.search("red green blue white", k=50))
    assert "blue.jpg" not in everything and "white.png" in everything
    assert everything.count("red.jpg") == 1


def test_delete_by_path_and_id(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    before = engine.store.count()
    assert engine.delete([str(collection / "photos" / "red.jpg")]) == 1
    assert engine.store.count() == before - 1
    # one item by id (taken from the file's items: with the deterministic encoders a search's order between a
    # note and a photo depends on the random tmp path, through the calibration sample)
    note_item = engine.file_items(str(collection / "notes" / "pets.md"))[0]
    assert engine.delete([note_item.id]) == 1
    with pytest.raises(NotFoundError):
        engine.delete(["/no/such/file.jpg"])
    assert engine.delete([str(collection / "photos")]) == 2
    # deleted files come back on the next index run since they still exist
    assert engine.index([collection]).added == 3  # red.jpg and the two under photos/


def test_a_read_only_engine_writes_nothing(collection, engine_factory, tmp_path):
    writer = engine_factory(tmp_path / "ro")
    writer.index([collection / "notes"])
    before = (writer.store.count(), len(writer.files()))
    writer.close()
    reader = engine_factory(tmp_path / "ro", read_only=True)
    with pytest.raises(InvalidInputError, match="read-only"):
        reader.index([collection])
    with pytest.raises(InvalidInputError, match="read-only"):
        reader.delete([str(collection / "notes")])
    with pytest.raises(InvalidInputError, match="read-only"):
        reader.concepts.add("rex", description="my dog")
    assert (reader.store.count(), len(reader.files())) == before
    assert reader.search("pets", k=1)  # reading still works
    assert not reader.concepts.list()


def test_refuses_other_encoder(collection, engine_factory, tmp_path):
    engine = engine_factory(tmp_path / "s1")
    engine.index([collection])
    engine.close()
    with pytest.raises(IndexMismatchError, match="--image-encoder"):
        engine_factory(tmp_path / "s1", image_encoder="deterministic:32")
    reopened = engine_factory(tmp_path / "s1", image_encoder=None, text_encoder=None)
    assert reopened.encoder_names() == {"image": "deterministic", "text": "deterministic"}
    assert reopened.search("red", k=1)


def test_refuses_newer_schema(collection, engine_factory, tmp_path):
    engine = engine_factory(tmp_path / "s2")
    engine.index([collection])
    meta = engine.catalog.get_meta("index")
    engine.catalog.set_meta("index", {**meta, "schema_version": 999})
    engine.close()
    with pytest.raises(IndexMismatchError, match="newer"):
        engine_factory(tmp_path / "s2")


@pytest.mark.parametrize("bad", [None, 3, [], {"text": "a", "image": "b"}, {"weight": 2}, "   ", {"text": 5}])
def test_bad_queries(engine_factory, collection, bad):
    engine = engine_factory()
    engine.index([collection])
    with pytest.raises(InvalidInputError):
        engine.search(bad)


def test_bad_k(engine_factory):
    with pytest.raises(InvalidInputError, match="k must be"):
        engine_factory().search("x", k=0)


def test_search_on_empty_index(engine_factory):
    assert engine_factory().search("anything") == []


def test_status(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    status = engine.status()
    assert status["files"] == 4 and status["items"] >= 5
    assert status["encoders"] == {"image": "deterministic", "text": "deterministic"}


def test_one_file_whichever_way_its_path_is_written(collection, engine_factory, monkeypatch):
    """"../x/a.jpg", "./x/a.jpg" and "/w/x/a.jpg" name one file: indexing the folder again by another spelling finds
    it unchanged (no second copy of each item), and a delete by any spelling removes it."""
    engine = engine_factory()
    first = engine.index([collection])
    count = engine.store.count()
    monkeypatch.chdir(collection / "notes")
    again = engine.index([os.path.join("..", "..", collection.name, ".", "")])
    assert (again.added, again.unchanged, again.removed) == (0, first.added, 0)
    assert engine.store.count() == count
    assert all(".." not in key.split(os.sep) for key in engine.catalog.files())
    assert engine.delete([os.path.join("..", "photos", "red.jpg")]) == 1
    assert engine.store.count() == count - 1


def test_keys_written_unfolded_by_an_older_version_heal(collection, engine_factory, monkeypatch):
    """A store indexed before paths were folded holds keys like "/w/notes/../x/a.jpg": the next run through any
    spelling replaces them with folded keys instead of keeping both copies."""
    import polyseek.indexer as indexer

    monkeypatch.chdir(collection / "notes")
    monkeypatch.setattr(indexer, "file_key", lambda p: str(Path(p).expanduser().absolute()))  # the old rule
    engine = engine_factory()
    old = engine.index([os.path.join("..", "..", collection.name)])
    assert any(".." in key.split(os.sep) for key in engine.catalog.files())
    count = engine.store.count()
    monkeypatch.undo()
    healed = engine.index([collection])
    assert (healed.added, healed.removed) == (old.added, old.added)
    assert engine.store.count() == count
    assert sorted(engine.catalog.files()) == sorted(str(p) for p in collection.rglob("*") if p.is_file())
