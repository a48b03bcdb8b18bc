"""The index description kept with a Milvus collection: written by the indexing engine, read back by an engine on a
machine with no catalog (simulated: the catalog folder removed), which searches and checks its encoders against it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from polyseek.engine import Engine
from polyseek.errors import IndexMismatchError, NotFoundError
from polyseek.stores import open_store

pytest.importorskip("pymilvus", reason="needs the milvus extra: pip install 'polyseek[milvus]'")
pytest.importorskip("milvus_lite", reason="needs the milvus extra: pip install 'polyseek[milvus]'")

ENCODERS = {"image_encoder": "deterministic", "text_encoder": "deterministic"}


@pytest.fixture
def indexed(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
        (folder / f"n{i}.txt").write_text(f"a note about harbour cranes number {i}")
    uri = f"milvus+lite://{tmp_path / 'index.db'}"
    with Engine(uri, **ENCODERS) as engine:
        engine.index([str(folder)])
        expected = [h.item.id for h in engine.search("harbour cranes number 2", k=4)]
        description = engine.catalog.get_meta("index")
    return uri, tmp_path / "index.polyseek", expected, description


def test_the_description_is_stored_with_the_collection(indexed):
    uri, _catalog_dir, _expected, description = indexed
    store = open_store(uri)
    try:
        stored = store.read_description()
    finally:
        store.close()
    assert stored == description
    assert stored["spaces"]["image"] == {"encoder": "deterministic", "dim": 64}


def test_a_reader_without_a_catalog_searches_from_the_uri_and_checks_encoders(indexed):
    uri, catalog_dir, expected, _description = indexed
    shutil.rmtree(catalog_dir)  # another machine: only the collection
    with Engine(uri, read_only=True) as reader:
        assert reader.catalog.path == ":memory:"
        assert reader.encoder_names() == {"image": "deterministic", "text": "deterministic"}
        assert [h.item.id for h in reader.search("harbour cranes number 2", k=4)] == expected
    assert not (catalog_dir / "catalog.sqlite").exists()  # the reader wrote none
    with pytest.raises(IndexMismatchError, match="built with text encoder 'deterministic'"):
        Engine(uri, read_only=True, text_encoder="bge-small-onnx")


def test_a_reader_of_a_collection_without_a_description_is_refused(tmp_path):
    store = open_store(f"milvus+lite://{tmp_path / 'bare.db'}")
    store.create({"image": 8})
    store.close()
    with pytest.raises(NotFoundError, match="no polyseek index"):
        Engine(f"milvus+lite://{tmp_path / 'bare.db'}", read_only=True)


def test_an_unchanged_description_is_not_written_again(indexed):
    uri, _catalog_dir, _expected, description = indexed
    store = open_store(uri)
    calls = []
    try:
        original = store.client.alter_collection_properties
        store.client.alter_collection_properties = lambda *a, **k: calls.append(a) or original(*a, **k)
        store.write_description(description)
        store.write_description({**description, "schema_version": description["schema_version"]})
        assert calls == []
        store.write_description({**description, "note": "changed"})
        assert len(calls) == 1 and store.read_description()["note"] == "changed"
    finally:
        store.close()
