"""recommend(engine, ...): from examples (with negatives and weights), from a history, exclusion, filters, MMR."""

from __future__ import annotations

import pytest

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.ingest.catalogue import record_item_id
from polyseek.recommend import recommend
from polyseek.types import Filters, Modality


def _ids(engine, path, *records):
    key = str(path.absolute())
    return [record_item_id(key, r) for r in records]


def _records(hits):
    return [h.item.metadata["record_id"] for h in hits]


@pytest.mark.parametrize("method", ["multimodal", "average_vector", "best_score"])
def test_more_like_a_red_dog_gives_red_dogs_first_and_never_the_example(catalogue_engine, method):
    engine, path = catalogue_engine
    (red,) = _ids(engine, path, "r1")
    hits = recommend(engine, positive=[red], method=method, k=6)
    records = _records(hits)
    assert "r1" not in records  # self-exclusion
    assert set(records[:2]) == {"r2", "r3"}, records
    assert len(records) == 6


def test_catalogue_record_reference_and_negative_examples(catalogue_engine):
    engine, path = catalogue_engine
    hits = recommend(engine, positive=[f"{path}#r1", f"{path}#b1"], negative=[f"{path}#b2"], k=4)
    records = _records(hits)
    assert {"r1", "b1", "b2"}.isdisjoint(records)
    # liked one red and one blue thing, disliked a blue one: the red ones come before the blue one left
    assert records.index("r2") < records.index("b3") and records.index("r3") < records.index("b3"), records


def test_weights_tilt_the_profile(catalogue_engine):
    engine, path = catalogue_engine
    red, blue = _ids(engine, path, "r1", "b1")
    towards_blue = _records(recommend(engine, positive=[(red, 1.0), (blue, 5.0)], k=2))
    towards_red = _records(recommend(engine, positive=[(red, 5.0), (blue, 1.0)], k=2))
    assert set(towards_blue) == {"b2", "b3"} and set(towards_red) == {"r2", "r3"}


def test_history_recency_decides_between_two_tastes(catalogue_engine):
    engine, path = catalogue_engine
    r1, r2, b1, b2 = _ids(engine, path, "r1", "r2", "b1", "b2")
    recent_blue = recommend(engine, history=[(r1, 100), (r2, 200), (b1, 300), (b2, 400)], k=2,
                            options={"half_life": 1.0})
    recent_red = recommend(engine, history=[(b1, 100), (b2, 200), (r1, 300), (r2, 400)], k=2,
                           options={"half_life": 1.0})
    assert _records(recent_blue)[0] == "b3" and _records(recent_red)[0] == "r3"
    assert {"r1", "r2", "b1", "b2"}.isdisjoint(_records(recent_blue) + _records(recent_red))


def test_history_low_rating_pushes_away(catalogue_engine):
    engine, path = catalogue_engine
    r1, b1, g1 = _ids(engine, path, "r1", "b1", "g1")
    hits = recommend(engine, history=[(r1, 1, 5.0), (b1, 2, 1.0), (g1, 3, 4.0)], k=5, options={"half_life": 100.0})
    records = _records(hits)
    assert records.index("r2") < records.index("b2") and records.index("r3") < records.index("b3")


def test_exclude_what_the_person_has_and_include_seen(catalogue_engine):
    engine, path = catalogue_engine
    r1, r2 = _ids(engine, path, "r1", "r2")
    assert "r2" not in _records(recommend(engine, positive=[r1], exclude=[r2], k=6))
    seen = _records(recommend(engine, history=[(r1, 1), (r2, 2)], exclude_seen=False, k=7))
    assert "r1" in seen or "r2" in seen
    unseen = _records(recommend(engine, history=[(r1, 1), (r2, 2)], k=7))
    assert {"r1", "r2"}.isdisjoint(unseen)


def test_filters_apply(catalogue_engine, tmp_path, engine_factory):
    engine, path = catalogue_engine
    (r1,) = _ids(engine, path, "r1")
    assert recommend(engine, positive=[r1], filters=Filters(modalities=(Modality.TEXT,)), k=5) == []
    assert len(recommend(engine, positive=[r1], filters=Filters(modalities=(Modality.IMAGE,)), k=5)) == 5


def test_diversity_brings_in_the_other_cluster(catalogue_engine):
    engine, path = catalogue_engine
    r1, r2 = _ids(engine, path, "r1", "r2")
    plain = _records(recommend(engine, positive=[r1], k=2, method="average_vector"))
    diverse = _records(recommend(engine, positive=[r1], k=2, method="average_vector", diversity=0.9))
    assert plain[0] == diverse[0]
    assert set(plain) == {"r2", "r3"} and diverse[1] not in {"r2", "r3"}


def test_bad_requests_say_what_is_accepted(catalogue_engine):
    engine, path = catalogue_engine
    (r1,) = _ids(engine, path, "r1")
    with pytest.raises(NotFoundError, match="no indexed item or file"):
        recommend(engine, positive=["nope"])
    with pytest.raises(InvalidInputError, match="unknown recommender"):
        recommend(engine, positive=[r1], method="magic")
    with pytest.raises(InvalidInputError, match="not both"):
        recommend(engine, positive=[r1], history=[(r1, 1)])
    with pytest.raises(InvalidInputError, match="positive number"):
        recommend(engine, positive=[(r1, -1.0)])
    with pytest.raises(InvalidInputError, match="unknown option"):
        recommend(engine, positive=[r1], options={"half_life": 3})
    with pytest.raises(InvalidInputError, match="nothing to recommend"):
        recommend(engine)


def test_http_recommend(catalogue_engine):
    from fastapi.testclient import TestClient

    from polyseek.server.app import create_app

    engine, path = catalogue_engine
    r1, b1 = _ids(engine, path, "r1", "b1")
    with TestClient(create_app(engine)) as client:
        answer = client.post("/api/recommend", json={"positive": [r1], "negative": [{"item": b1, "weight": 2}], "k": 3})
        assert answer.status_code == 200, answer.text
        records = [h["metadata"]["record_id"] for h in answer.json()["hits"]]
        assert "r1" not in records and records[0] in {"r2", "r3"}
        answer = client.post("/api/recommend", json={"history": [{"item": r1, "timestamp": 1}, {"item": b1, "timestamp": 2}]})
        assert answer.status_code == 200 and {"r1", "b1"}.isdisjoint(h["metadata"]["record_id"] for h in answer.json()["hits"])
        refused = client.post("/api/recommend", json={"positive": [str(path)]})
        assert refused.status_code == 404 and "no item with id" in refused.json()["error"]["message"]
        assert client.post("/api/recommend", json={"positive": [r1], "k": 0}).status_code == 422


def test_the_in_memory_items_follow_a_reindex(catalogue_engine):
    """Requests score a cached matrix of every item; a re-index (new store version) must show up at once."""
    from tests.recommend._catalogue import RECORDS, write_catalogue

    engine, path = catalogue_engine
    r1 = _ids(engine, path, "r1")[0]
    assert "r4" not in _records(recommend(engine, positive=[r1], k=10))  # builds the cache
    write_catalogue(path.parent, RECORDS + [("r4", (215, 25, 25), "Scarlet dog", "a red dog barks")])
    engine.index([path])
    records = _records(recommend(engine, positive=[r1], k=3))
    assert "r4" in records, records  # the new red dog, right after a re-index in the same process
