"""The search pipeline: stage order, frozen config, calibration across kinds, self-exclusion, like, concepts."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from polyseek.search.calibration import Background, calibrate
from polyseek.search.config import SearchConfig
from polyseek.stores.base import Row
from polyseek.types import Filters, Modality, Signal

DIM = 64


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_stages_run_in_the_documented_order_and_are_timed(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    names = [name for name, _ in engine.pipeline.stages()]
    assert names.index("embed-images") < names.index("concepts.prepare") < names.index("embed-text")
    assert names.index("retrieve") < names.index("calibration.before_fusion") < names.index("documents.before_fusion")
    assert names.index("fuse") < names.index("moments.after_fusion") < names.index("documents.after_fusion")
    assert names.index("rerank") < names.index("hits") < names.index("moments.finish")
    trace = engine.trace("a dog running on grass", k=3)
    assert trace.hits and set(trace.timings) == set(names)
    assert all(ms >= 0 for ms in trace.timings.values())


def test_search_config_is_frozen_and_varied_by_replace(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.config.fusion = "zscore"  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine.config.weights[Signal.IMAGE] = 3.0  # type: ignore[index]
    zscore = engine.with_config(fusion="zscore")
    assert engine.search("dog", k=3, config=zscore) and engine.config.fusion == "rrf"
    assert SearchConfig().with_weights({"lexical": 0.0}).weights[Signal.LEXICAL] == 0.0
    with pytest.raises(Exception, match="unknown fusion"):
        SearchConfig(fusion="borda")


def test_calibrate_ranks_each_kind_against_its_own_background():
    rng = np.random.default_rng(1)
    photos = Background(rng.normal(0.1, 0.05, size=(50, 1)).astype(np.float32))
    memos = Background(rng.normal(0.3, 0.01, size=(50, 1)).astype(np.float32))
    merged = calibrate({"image": [("dog", 0.28), ("cat", 0.12)], "audio": [("memo", 0.31), ("memo2", 0.30)]},
                       {"image": photos, "audio": memos}, lambda m: m[:, 0])
    assert [i for i, _ in merged][0] == "dog"
    assert [i for i, _ in merged].index("memo") > [i for i, _ in merged].index("dog")


def mixed_engine(engine_factory, calibrate_kinds: bool = True):
    """A memory index where every memo scores ~0.6 for the query and one photo truly matches at ~0.45."""
    engine = engine_factory(store="memory://", config=SearchConfig(calibrate=calibrate_kinds))
    engine.spaces.ensure(engine.store)
    query = engine.encoder("image").encode_queries(["alpha"])[0]
    rng = np.random.default_rng(0)

    def other() -> np.ndarray:
        vector = rng.normal(size=DIM)
        return unit(vector - (vector @ query) * query)

    rows = []
    for i in range(40):
        rows.append(Row(id=f"photo{i}", doc=f"/p/{i}.jpg", path=f"/p/{i}.jpg", modality="image",
                        vectors={"image": unit(0.05 * query + other())}))
        rows.append(Row(id=f"memo{i}", doc=f"/m/{i}.mp3", path=f"/m/{i}.mp3", modality="audio_segment", text=f"memo {i}",
                        vectors={"image": unit(0.75 * query + 0.45 * other() + rng.normal(0, 0.02, DIM)),
                                 "text": unit(rng.normal(size=DIM))}))
    rows.append(Row(id="target", doc="/p/target.jpg", path="/p/target.jpg", modality="image",
                    vectors={"image": unit(0.55 * query + other())}))
    engine.store.upsert(rows)
    return engine


def test_calibration_puts_the_matching_photo_before_memos_that_match_every_query(engine_factory):
    raw = mixed_engine(engine_factory, calibrate_kinds=False).search("alpha", k=5, spaces=["image"])
    assert raw[0].item.modality == Modality.AUDIO_SEGMENT  # the modality bias, reproduced
    calibrated = mixed_engine(engine_factory).search("alpha", k=5, spaces=["image"])
    assert calibrated[0].item.id == "target"
    only_memos = mixed_engine(engine_factory).search("alpha", k=3, spaces=["image"],
                                                     filters=Filters(modalities=(Modality.AUDIO_SEGMENT,)))
    assert all(h.item.modality == Modality.AUDIO_SEGMENT for h in only_memos)  # an explicit kind still wins


def test_an_index_of_one_kind_keeps_its_raw_scores(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection / "photos"])
    on = engine.search("red", k=3, spaces=["image"])
    off = engine.search("red", k=3, spaces=["image"], config=engine.with_config(calibrate=False))
    assert [(h.id, h.score) for h in on] == [(h.id, h.score) for h in off]


def test_a_composed_query_never_returns_its_own_photo(collection, engine_factory):
    shutil.copy(collection / "photos" / "red.jpg", collection / "photos" / "red-copy.jpg")
    engine = engine_factory()
    engine.index([collection])
    red = collection / "photos" / "red.jpg"
    plain = engine.search(image=str(red), k=3, filters=Filters(modalities=(Modality.IMAGE,)))
    assert plain[0].item.path.endswith(("red.jpg", "red-copy.jpg"))  # an image alone may find itself
    composed = engine.search("green", image=str(red), k=10)
    assert composed and not any(h.item.path.endswith(("red.jpg", "red-copy.jpg")) for h in composed)
    also = engine.search(f'"green" + {red}', k=10)
    assert also and not any(h.item.path.endswith(("red.jpg", "red-copy.jpg")) for h in also)


def test_more_like_this_never_returns_the_item_and_prefers_its_kind(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection])
    red = next(h for h in engine.search(image=str(collection / "photos" / "red.jpg"), k=1))
    hits = engine.search(like=red.id, k=3)
    assert hits and red.id not in [h.id for h in hits]
    assert hits[0].item.modality == Modality.IMAGE
    with pytest.raises(Exception, match="no item with id"):
        engine.search(like="not-an-id")


def test_a_concept_weighs_in_proportion_to_the_rest_of_the_query(engine_factory):
    """Photos share a common component (as real image embeddings do), so a concept's reference photos are far
    closer to its mean than other photos of the same dog: added as a raw vector they swamp "in the grass"."""
    engine = engine_factory(store="memory://")
    engine.spaces.ensure(engine.store)
    encoder = engine.encoder("image")
    text = encoder.encode_queries(["Rex (my dog) in the grass"])[0]
    rng = np.random.default_rng(3)

    def other() -> np.ndarray:
        vector = rng.normal(size=DIM)
        return unit(vector - (vector @ text) * text)

    common, rex = other(), other()
    references = [unit(common + 0.9 * rex + 0.25 * other()) for _ in range(3)]
    photos = {f"ref{i}": v for i, v in enumerate(references)}
    photos["rex_grass"] = unit(common + 0.9 * rex + 1.2 * other() + 0.3 * text)
    photos["grass"] = unit(common + 0.8 * other() + 0.3 * text)
    photos.update({f"filler{i}": unit(common + 0.8 * other()) for i in range(40)})
    engine.store.upsert([Row(id=name, doc=f"/p/{name}.jpg", path=f"/p/{name}.jpg", modality="image",
                             vectors={"image": v}) for name, v in photos.items()])
    mean = unit(np.mean(references, axis=0))
    engine.catalog.write_concepts({"Rex": {
        "name": "Rex", "description": "my dog", "attributes": {}, "images": [f"/refs/{i}.jpg" for i in range(3)],
        "embedding": {"encoder": encoder.name, "dim": DIM, "images": [f"/refs/{i}.jpg" for i in range(3)],
                      "per_image": np.stack(references).tolist(), "mean": mean.tolist()}}})
    naive = unit(text + mean)  # the concept's vector simply added
    assert max(naive @ r for r in references) > naive @ photos["rex_grass"]  # the case is hard
    ranked = [h.id for h in engine.search("Rex in the grass", k=10, spaces=["image"])]
    assert ranked.index("rex_grass") < min(ranked.index(f"ref{i}") for i in range(3))
    assert ranked.index("rex_grass") < ranked.index("grass")  # being Rex still counts


def test_a_composed_query_asks_for_pictures_not_notes_about_its_words(collection, engine_factory):
    (collection / "notes" / "green.md").write_text("green green green: a note about the colour green")
    engine = engine_factory()
    engine.index([collection])
    composed = engine.search("green", image=str(collection / "photos" / "red.jpg"), k=5)
    assert composed and all(h.item.modality in (Modality.IMAGE, Modality.VIDEO_MOMENT) for h in composed)
    notes = engine.search("green", image=str(collection / "photos" / "red.jpg"), k=5,
                          filters=Filters(modalities=(Modality.TEXT,)))
    assert notes and notes[0].item.path.endswith("green.md")  # an explicit kind still wins


def test_a_passage_the_text_encoder_refuses_costs_that_passage_only(tmp_path, engine_factory, monkeypatch):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "good.md").write_text("the lighthouse was built in 1902")
    (notes / "mixed.md").write_text("harbour ferry timetable\n\n" + "POISON " * 10 + "\n\n" + "x " * 400 + "\n\nthe ferry leaves at noon")
    engine = engine_factory()
    encoder = engine.encoder("text")
    original = encoder.encode_documents

    def refusing(texts):
        if any("POISON" in t for t in texts):
            raise RuntimeError("tokenizer refused the input")
        return original(texts)

    monkeypatch.setattr(encoder, "encode_documents", refusing)
    summary = engine.index([notes])
    assert not summary.failed and summary.added == 2
    assert any("noon" in h.item.text for h in engine.search("ferry leaves at noon", k=3))
