"""The trained sequential recommender on a tiny log: it learns an order that content alone cannot know."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.errors import InvalidInputError, NotFoundError
from polyseek.ingest.catalogue import record_item_id
from polyseek.recommend import recommend
from polyseek.recommend.sasrec import TrainConfig
from polyseek.recommend.training import read_interactions, train_recommender

# a cycle that crosses the colour clusters: after r1 comes b1, after b1 comes g1, after g1 comes r2, ...
CYCLE = ["r1", "b1", "g1", "r2", "b2", "r3", "b3"]


def _log(path, users=30, bad_rows=()):
    rng = np.random.default_rng(0)
    lines = ["user,item,timestamp,rating"]
    for user in range(users):
        start = int(rng.integers(0, len(CYCLE)))
        for step in range(12):
            lines.append(f"u{user},{CYCLE[(start + step) % len(CYCLE)]},{1000 * user + step},4")
    path.write_text("\n".join(lines + list(bad_rows)) + "\n")
    return path


def test_train_save_and_recommend_the_learned_next_item(catalogue_engine, tmp_path):
    engine, catalogue = catalogue_engine
    log = _log(tmp_path / "log.csv", bad_rows=["u1,r1,not-a-time,4"])
    summary = train_recommender(engine, log, catalogue=catalogue, config=TrainConfig(epochs=60, dim=32, max_len=8))
    assert summary["n_items"] == 7 and summary["bad_rows"] == 1
    assert summary["problems"] == ["line 362: timestamp and rating must be numbers"]
    model_dir = tmp_path / "store" / "recommender"
    assert (model_dir / "config.json").is_file() and json.loads((model_dir / "config.json").read_text())["n_items"] == 7

    key = str(catalogue.absolute())
    history = [(record_item_id(key, r), t) for t, r in enumerate(["g1", "r2", "b2"])]
    hits = recommend(engine, history=history, k=3)  # a trained model beside the index is the default
    records = [h.item.metadata["record_id"] for h in hits]
    assert "sequential" in hits[0].scores
    assert records[0] == "r3", records  # the cycle's next item, although content says "another blue one"
    assert {"g1", "r2", "b2"}.isdisjoint(records)
    content = [h.item.metadata["record_id"] for h in recommend(engine, history=history, k=1, method="history")]
    assert content != ["r3"] or records[0] == "r3"


def test_missing_model_and_bad_logs(catalogue_engine, tmp_path):
    engine, catalogue = catalogue_engine
    key = str(catalogue.absolute())
    with pytest.raises(NotFoundError, match="train one with"):
        recommend(engine, history=[(record_item_id(key, "r1"), 1)], method="sequential")
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(InvalidInputError, match="no column 'user'"):
        read_interactions(bad)
    with pytest.raises(InvalidInputError, match="none of the interactions' items"):
        train_recommender(engine, _log(tmp_path / "log.csv"), config=TrainConfig(epochs=1))


def test_cooccurrence_is_saved_and_ranks_what_was_seen_together(catalogue_engine, tmp_path):
    from polyseek.recommend.cooccurrence import INTERACTIONS_FILE, CoOccurrence

    # two groups of people: one watches items 1-3, the other 4-6; item 7 is seen by nobody twice
    together = CoOccurrence.from_sequences([[1, 2, 3], [2, 1, 3], [3, 1], [4, 5, 6], [5, 4], [6, 4, 5]], 7)
    scores = together.knn([4, 1], half_life=1.0)  # latest: item 1
    assert set(np.argsort(-scores)[:3] + 1) == {1, 2, 3}  # the recent item's group first (recency-weighted)
    assert scores[6] == 0.0 and together.popularity()[0] > together.popularity()[6] == 0.0
    engine, catalogue = catalogue_engine
    train_recommender(engine, _log(tmp_path / "log.csv", users=8), catalogue=catalogue,
                      config=TrainConfig(epochs=1, dim=16, max_len=8))
    model_dir = tmp_path / "store" / "recommender"
    loaded = CoOccurrence.load(model_dir)
    assert (model_dir / INTERACTIONS_FILE).is_file() and loaded is not None
    assert loaded.matrix.shape == (8, 7) and loaded.counts.sum() == 8 * 7  # each user saw the whole cycle once
