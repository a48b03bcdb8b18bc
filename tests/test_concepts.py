"""Concept memory: CRUD round trip, persistence, composition into searches and answers, export/import, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from polyseek.concepts import Concept
from polyseek.errors import InvalidInputError, NotFoundError


def picture(path: Path, rgb) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), rgb).save(path)
    return str(path)


@pytest.fixture
def indexed(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    return engine


def top_photo(engine, query: str) -> str:
    hits = engine.search(query, k=3, spaces=["image"], filters=None)
    photos = [Path(h.item.path).stem for h in hits if h.item.modality.value == "image"]
    return photos[0]


def test_reference_images_change_the_ranking_of_a_composed_query(indexed, tmp_path):
    engine = indexed
    baseline = [h.id for h in engine.search("Rex on the beach", k=3, spaces=["image"])]
    engine.concepts.add("Rex", "my dog", images=[picture(tmp_path / "refs" / "rex1.png", (200, 30, 25))])
    assert top_photo(engine, "Rex on the beach") == "red"
    composed = [h.id for h in engine.search("Rex on the beach", k=3, spaces=["image"])]
    assert composed != baseline
    # the edit takes effect on the next query, with no re-indexing
    engine.concepts.update("Rex", images=[picture(tmp_path / "refs" / "rex2.png", (25, 30, 210))])
    assert top_photo(engine, "Rex on the beach") == "blue"
    assert top_photo(engine, "rex running") == "blue"  # names match case-insensitively
    engine.concepts.remove("Rex")
    assert [h.id for h in engine.search("Rex on the beach", k=3, spaces=["image"])] == baseline


def test_crud_round_trip_and_validation(indexed, tmp_path):
    engine = indexed
    items_before = engine.store.count()
    added = engine.concepts.add("Rex", "my golden retriever", {"age": "4"}, [picture(tmp_path / "r.png", (200, 30, 25))])
    assert added == Concept("Rex", "my golden retriever", {"age": "4"}, [str(tmp_path / "r.png")])
    assert engine.concepts.get("rex").name == "Rex"  # lookup ignores case
    assert [c.name for c in engine.concepts.list()] == ["Rex"]
    edited = engine.concepts.update("Rex", attributes={"age": "5", "breed": "golden retriever"})
    assert edited.attributes == {"age": "5", "breed": "golden retriever"} and edited.images == added.images
    assert edited.facts() == "Rex: my golden retriever; age: 5; breed: golden retriever"
    with pytest.raises(InvalidInputError, match="exists"):
        engine.concepts.add("REX", "another")
    with pytest.raises(InvalidInputError, match="not found"):
        engine.concepts.add("Mia", images=[str(tmp_path / "missing.jpg")])
    (tmp_path / "not-an-image.jpg").write_bytes(b"this is text")
    with pytest.raises(InvalidInputError, match="not-an-image"):
        engine.concepts.update("Rex", images=[str(tmp_path / "not-an-image.jpg")])
    with pytest.raises(InvalidInputError, match="no images, description or attributes"):
        engine.concepts.add("Empty")
    with pytest.raises(InvalidInputError, match="bad concept name"):
        engine.concepts.add("", "x")
    with pytest.raises(NotFoundError):
        engine.concepts.remove("Nobody")
    # nothing the failures touched changed: same concept, same index
    assert engine.concepts.get("Rex") == edited
    assert [c.name for c in engine.concepts.list()] == ["Rex"]
    assert engine.store.count() == items_before
    # adding an image to a concept whose first image has since vanished: the stored embedding is reused
    Path(added.images[0]).unlink()
    grown = engine.concepts.update("Rex", images=[*added.images, picture(tmp_path / "r2.png", (210, 20, 20))])
    assert len(grown.images) == 2
    engine.concepts.remove("Rex")
    assert engine.concepts.list() == []


def test_concepts_survive_a_restart(collection, engine_factory, tmp_path):
    store = tmp_path / "persist"
    first = engine_factory(store)
    first.index([collection])
    first.concepts.add("Rex", "my dog", images=[picture(tmp_path / "r.png", (25, 30, 210))])
    first.close()
    second = engine_factory(store)
    assert second.concepts.get("Rex").description == "my dog"
    assert top_photo(second, "Rex") == "blue"


def test_export_import(indexed, engine_factory, tmp_path, collection):
    engine = indexed
    ref = picture(tmp_path / "refs" / "r.png", (200, 30, 25))
    engine.concepts.add("Rex", "my dog", {"age": "4"}, [ref])
    engine.concepts.add("Grandma", "my grandmother Ada", {"city": "Lyon"})
    exported = json.loads(json.dumps(engine.concepts.export()))  # JSON-safe
    assert {c["name"] for c in exported} == {"Rex", "Grandma"}

    other = engine_factory(tmp_path / "other")
    other.index([collection])
    other.concepts.add("Old", "to be replaced")
    Path(ref).unlink()  # the image is gone: the stored embedding (same encoder) is used
    assert other.concepts.import_(exported, replace=True) == 2
    assert {c.name for c in other.concepts.list()} == {"Rex", "Grandma"}
    assert top_photo(other, "Rex") == "red"
    # one bad item: nothing is imported
    with pytest.raises(InvalidInputError, match="concept #2"):
        other.concepts.import_([{"name": "Ok", "description": "fine"}, {"name": "Bad", "colour": "red"}])
    assert {c.name for c in other.concepts.list()} == {"Rex", "Grandma"}
    missing = [{**c, "embedding": None} for c in exported if c["images"]]
    with pytest.raises(InvalidInputError, match="reference images not found"):
        other.concepts.import_(missing)


def test_concept_without_images_expands_the_text_and_answers_get_its_facts(indexed):
    engine = indexed
    engine.concepts.add("Bella", "a dog running on grass", {"owner": "me"})
    composition = engine.concepts.compose(engine.build_query("photos of Bella"))
    assert composition.vector is None and composition.expand("photos of Bella") == "photos of Bella (a dog running on grass)"
    top = engine.search("Bella", k=1, spaces=["text"])[0]
    assert top.item.path.endswith("pets.md") and "dog running" in top.item.text
    answer = engine.ask("Where does Bella run?")
    assert answer.concepts == ["Bella"]
    assert "Bella: a dog running on grass; owner: me" in answer.answer


def test_query_image_that_matches_reference_images_pulls_the_concept_in(indexed, tmp_path):
    engine = indexed
    engine.concepts.add("Rex", "my dog", {"breed": "retriever"}, [picture(tmp_path / "r.png", (200, 30, 25))])
    query_image = picture(tmp_path / "q.png", (210, 25, 30))
    assert [c.name for c in engine.concepts.match([], engine.encoder("image").encode_images([Image.open(query_image)]))] == ["Rex"]
    assert engine.concepts.match(["a blue thing"], engine.encoder("image").encode_images([Image.open(str(tmp_path / "r.png")).convert("L").convert("RGB").point(lambda v: 0)])) == []
    answer = engine.ask("what breed is this?", image=query_image)
    assert answer.concepts == ["Rex"] and "breed: retriever" in answer.answer
