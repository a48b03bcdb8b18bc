"""Items nobody has interacted with, new catalogue items included: the content → cf model saved by
``train-recommender`` places them in the collaborative space from their picture and text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.ingest.catalogue import record_item_id
from polyseek.recommend import recommend
from polyseek.recommend.base import Pool, Profile, ProfileItem
from polyseek.recommend.content_cf import CF_FILE, CollaborativeModel, collaborative_space
from polyseek.recommend.sasrec import TrainConfig
from polyseek.recommend.training import train_recommender
from tests.recommend._catalogue import RECORDS, write_catalogue

NEW = ("r4", (215, 25, 25), "Scarlet dog", "a red dog barks")  # added to the catalogue after training


def _tastes(items=80, seed=0):
    """Two tastes; an item's text and picture both say which (with noise)."""
    rng = np.random.default_rng(seed)
    taste = np.arange(items) % 2
    text = np.stack([np.eye(2)[t] + rng.normal(scale=0.3, size=2) for t in taste])
    text = np.hstack([text, rng.normal(scale=0.2, size=(items, 6))]).astype(np.float32)
    image = np.hstack([np.stack([np.eye(2)[t] for t in taste]), rng.normal(scale=0.5, size=(items, 4))]).astype(np.float32)
    unit = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    ids = tuple(f"i{n}" for n in range(items))
    pool = Pool(ids, {"image": unit(image), "text": unit(text)}, {"image": np.ones(items, bool), "text": np.ones(items, bool)})
    matrix = np.zeros((40, items), np.float32)
    for user in range(40):
        liked = np.flatnonzero(taste == user % 2)
        matrix[user, rng.choice(liked, 10, replace=False)] = 1.0
    return pool, matrix, taste


def test_a_new_item_is_placed_by_its_content_and_the_model_saves_and_loads(tmp_path):
    pool, matrix, taste = _tastes()
    train = np.arange(len(pool)) < 60  # the last 20 items are not in the training log at all (new items)
    model = CollaborativeModel.fit(pool.subset(np.flatnonzero(train)), matrix[:, train], dim=8, ridge=0.1)
    assert model.warm.all() and model.vectors.shape == (60, 8)
    history = Profile(tuple(ProfileItem(pool.ids[n], 1.0, {s: pool.vectors[s][n] for s in ("image", "text")}, float(t))
                            for t, n in enumerate([0, 2, 4])), from_history=True)  # taste 0
    scores = model.score(history, pool)
    new = np.flatnonzero(~train)
    ranked_new = new[np.argsort(-scores[new])]
    assert (taste[ranked_new[:10]] == 0).mean() >= 0.9  # new items of the history's taste come first
    # a new item without a picture is placed by its text alone: no shift shared by every such item (a zero picture
    # block would move them all by -mean(picture) @ W, 0.23 here, about half an item vector's length)
    textual = Pool(pool.ids, pool.vectors, {"image": np.zeros(len(pool), bool), "text": np.ones(len(pool), bool)})
    shift = model.item_vectors(textual)[new].mean(0) - model.item_vectors(pool)[new].mean(0)
    assert np.linalg.norm(shift) < 0.1
    assert (taste[new[np.argsort(-model.score(history, textual)[new])][:10]] == 0).mean() >= 0.7
    model.save(tmp_path)
    loaded = CollaborativeModel.load(tmp_path)
    assert loaded is not None and loaded.item_ids == model.item_ids and loaded.dims == model.dims
    assert np.allclose(loaded.score(history, pool), scores, atol=1e-5)
    assert CollaborativeModel.load(tmp_path / "nothing-here") is None  # a model directory from before content → cf
    (tmp_path / CF_FILE).write_bytes(b"not an npz")
    with pytest.raises(InvalidInputError, match="not a readable content → cf model"):
        CollaborativeModel.load(tmp_path)
    with pytest.raises(InvalidInputError, match="one column per pool item"):
        CollaborativeModel.fit(pool, matrix[:, :5])


def test_a_large_sparse_log_uses_a_truncated_svd_with_the_same_space(monkeypatch):
    from scipy import sparse

    from polyseek.recommend import content_cf

    _pool, matrix, _taste = _tastes()
    dense = collaborative_space(matrix, 5)
    monkeypatch.setattr(content_cf, "DENSE_MAX", 0)
    approx = collaborative_space(sparse.csr_matrix(matrix), 5)
    assert np.allclose(dense @ dense.T, approx @ approx.T, atol=1e-3)  # the same item-kNN cosines (signs may flip)


def _log(path, users=24):
    """Red-dog people watch the red items, sea people the blue ones; nobody watches the green field."""
    rng = np.random.default_rng(0)
    lines = ["user,item,timestamp,rating"]
    for user in range(users):
        items = ["r1", "r2", "r3"] if user % 2 else ["b1", "b2", "b3"]
        for step, item in enumerate(rng.permutation(items)):
            lines.append(f"u{user},{item},{1000 * user + step},4")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_item_added_after_training_is_recommended_from_its_content(catalogue_engine, tmp_path):
    engine, catalogue = catalogue_engine
    summary = train_recommender(engine, _log(tmp_path / "log.csv"), catalogue=catalogue,
                                config=TrainConfig(epochs=2, dim=16, max_len=8))
    model_dir = tmp_path / "store" / "recommender"
    assert (model_dir / CF_FILE).is_file() and summary["content_cf"]["items_with_interactions"] == 6
    saved = CollaborativeModel.load(model_dir)
    assert saved is not None and len(saved.item_ids) == 7 and int(saved.warm.sum()) == 6  # g1: no interaction

    # a new red dog arrives after training, and a record with no picture at all (a text item)
    write_catalogue(catalogue.parent, RECORDS + [NEW], extra_lines=[json.dumps({"id": "t1", "title": "Red dog tale",
                                                                                "text": "a red dog runs and plays"})])
    engine.index([catalogue])
    key = str(catalogue.absolute())
    r1, r2, r4 = (record_item_id(key, r) for r in ("r1", "r2", "r4"))
    history = [(r1, 1), (r2, 2)]
    hits = recommend(engine, history=history, method="content_cf", k=3)
    records = [h.item.metadata["record_id"] for h in hits]
    assert set(records) == {"r3", "r4", "t1"}, records  # the other red dog (learned) and the two new red ones
    assert "r1" not in records and "r2" not in records  # the history never comes back
    every = [h.item.metadata["record_id"] for h in recommend(engine, history=history, method="content_cf", k=10)]
    assert set(every) == {"r3", "r4", "t1", "b1", "b2", "b3", "g1"}, every
    assert np.isfinite([h.score for h in hits]).all() and "content_cf" in hits[0].scores
    assert "r4" not in [h.item.metadata["record_id"] for h in recommend(engine, history=history, method="content_cf",
                                                                        k=3, exclude=[r4])]
    # the default with a trained model (the sequential hybrid) ranks the new item too: before content → cf was
    # shipped it ranked only the items of the training log
    default = [h.item.metadata["record_id"] for h in recommend(engine, history=history, k=6)]
    assert "r4" in default and {"r1", "r2"}.isdisjoint(default), default
    assert "sequential" in recommend(engine, history=history, k=1)[0].scores
    with pytest.raises(InvalidInputError, match="half_life"):
        recommend(engine, history=history, method="content_cf", options={"half_life": -1})

    from fastapi.testclient import TestClient

    from polyseek.server.app import create_app

    with TestClient(create_app(engine)) as client:
        answer = client.post("/api/recommend", json={"history": [{"item": r1, "timestamp": 1}, {"item": r2, "timestamp": 2}],
                                                     "method": "content_cf", "k": 3})
        assert answer.status_code == 200, answer.text
        assert {h["metadata"]["record_id"] for h in answer.json()["hits"]} == {"r3", "r4", "t1"}


def test_content_cf_without_a_saved_map_says_how_to_get_one(catalogue_engine, tmp_path):
    engine, catalogue = catalogue_engine
    r1 = record_item_id(str(catalogue.absolute()), "r1")
    with pytest.raises(NotFoundError, match="train-recommender"):
        recommend(engine, history=[(r1, 1)], method="content_cf", model_dir=tmp_path / "none")


def _cli(capsys, *args) -> tuple[int, str, str]:
    """``polyseek ARGS`` in this process (the same entry point and error handling as the command)."""
    from polyseek.cli.app import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_trains_then_recommends_a_new_item_and_bad_input_is_one_line(tmp_path, capsys):
    catalogue = write_catalogue(tmp_path / "shop")
    store = str(tmp_path / "store")
    encoders = ["--store", store, "--image-encoder", "deterministic", "--text-encoder", "deterministic"]
    assert _cli(capsys, "index", str(catalogue), *encoders)[0] == 0
    code, out, err = _cli(capsys, "train-recommender", str(_log(tmp_path / "log.csv")), "--catalogue", str(catalogue),
                          "--epochs", "1", "--dim", "16", "--store", store, "--json")
    assert code == 0, err
    assert json.loads(out)["content_cf"]["items_with_interactions"] == 6
    write_catalogue(catalogue.parent, RECORDS + [NEW])
    assert _cli(capsys, "index", str(catalogue), *encoders)[0] == 0
    history = tmp_path / "seen.csv"
    history.write_text(f"item,timestamp\n{catalogue}#r1,1\n{catalogue}#r2,2\n")
    code, out, err = _cli(capsys, "recommend", "--history", str(history), "--method", "content_cf", "-k", "2", "--json",
                          *encoders)
    assert code == 0, err
    assert "r4" in [h["metadata"]["record_id"] for h in json.loads(out)["hits"]]
    (tmp_path / "store" / "recommender" / CF_FILE).write_text("broken")
    for args, words in (((), "not a readable content → cf model"),
                        (("--model-dir", str(tmp_path / "nowhere")), "no content → cf model")):
        code, _out, err = _cli(capsys, "recommend", "--history", str(history), "--method", "content_cf", *args, *encoders)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code != 0 and "Traceback" not in err
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_without_the_in_memory_index_new_items_come_from_a_search(tmp_path, engine_factory, monkeypatch):
    """memory:// has no table version: the model's items are read once, new ones found near the profile."""
    from polyseek.recommend import pipeline

    calls = []
    original = pipeline.known_and_near
    monkeypatch.setattr(pipeline, "known_and_near", lambda *a, **k: calls.append(1) or original(*a, **k))
    catalogue = write_catalogue(tmp_path / "shop")
    engine = engine_factory("memory://")
    engine.index([catalogue])
    model_dir = tmp_path / "model"
    train_recommender(engine, _log(tmp_path / "log.csv"), catalogue=catalogue, model_dir=model_dir,
                      config=TrainConfig(epochs=1, dim=16, max_len=8))
    write_catalogue(catalogue.parent, RECORDS + [NEW])
    engine.index([catalogue])
    key = str(catalogue.absolute())
    history = [(record_item_id(key, "r1"), 1), (record_item_id(key, "r2"), 2)]
    for method in ("content_cf", "sequential"):
        records = [h.item.metadata["record_id"] for h in recommend(engine, history=history, method=method, k=6,
                                                                   model_dir=model_dir)]
        assert "r4" in records and {"r1", "r2"}.isdisjoint(records), (method, records)
    assert len(calls) == 2  # this path, not the in-memory index
