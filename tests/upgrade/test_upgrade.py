"""Upgrading the text space between two small encoders: projected queries at once, backfill killed and resumed,
rollback, and every result scored inside one space (native, or projected against old vectors), never across."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from polyseek.encoders.base import load_encoder
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.types import item_id
from polyseek.upgrade import backfill, rollback, status, upgrade
from polyseek.upgrade import state as st
from polyseek.upgrade.search import Scales, blend, mix

NEW = "tests.upgrade.small_encoders:Rotated"
ROOT = Path(__file__).resolve().parents[2]
WORDS = ("dog cat horse bird fish red green blue beach grass snow city river car bike boat child man woman "
         "running jumping sleeping eating swimming playing ball tree house road mountain").split()


def make_notes(folder: Path, n: int = 60) -> list[Path]:
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"note{i:03d}.txt"
        path.write_text(" ".join(rng.choice(WORDS, size=8)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def open_engine(store: Path) -> Engine:
    return Engine(str(store), image_encoder="deterministic", text_encoder=None)


@pytest.fixture
def indexed(tmp_path):
    folder = tmp_path / "notes"
    make_notes(folder)
    store = tmp_path / "store"
    engine = Engine(str(store), image_encoder="deterministic", text_encoder="deterministic")
    engine.index([str(folder)])
    yield engine, store
    engine.close()


def text_vectors(engine, space: str) -> dict[str, np.ndarray]:
    ids = [item_id(key, i) for key, record in engine.catalog.files().items() for i in range(record.items)]
    return engine.store.get_vectors(space, ids)


def expected_query(projection, text: str) -> np.ndarray:
    """The query an upgrading space answers with, recomputed from the two models and the recorded anchor."""
    projected = projection(load_encoder(NEW).encode_queries([text]))
    old = load_encoder("deterministic").encode_queries([text])
    gate = projection.config.notes.get("anchor") or {}
    if gate and float(np.sum(projected * old)) >= gate["agree"]:
        mixed = gate["weight"] * old + (1 - gate["weight"]) * projected
        return mixed / np.linalg.norm(mixed)
    return projected


def test_anchor_mixes_the_old_query_in_where_both_models_agree(indexed):
    engine, _store = indexed
    report = upgrade(engine, text_encoder=NEW, sample=40)
    gate = report["fit"]["anchor"]
    assert gate["weight"] == 0.5 and 0.0 < gate["agree"] < 1.0 and gate["n_pairs"] == 8  # chosen on held-out pairs
    projection = st.get_projection(engine.catalog, "text")
    old_encoder, new_encoder = load_encoder("deterministic"), load_encoder(NEW)
    texts = [" ".join(np.random.default_rng(i).choice(WORDS, size=6)) for i in range(20)]
    old_q, projected = old_encoder.encode_queries(texts), projection(new_encoder.encode_queries(texts))
    agreement = np.sum(old_q * projected, axis=1)
    answered = engine.encoder("text").encode_queries(texts)
    mixed = 0.5 * old_q + 0.5 * projected
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    anchored = agreement >= gate["agree"]
    assert anchored.any()  # texts like the index's own pass the gate
    assert np.allclose(answered[anchored], mixed[anchored], atol=1e-5)
    assert np.allclose(answered[~anchored], projected[~anchored], atol=1e-5)
    # anchor 0: every query is the projected new one alone
    rollback(engine, "text")
    upgrade(engine, text_encoder=NEW, sample=40, anchor=0.0)
    projection = st.get_projection(engine.catalog, "text")
    assert "anchor" not in projection.config.notes
    assert np.allclose(engine.encoder("text").encode_queries(texts), projection(new_encoder.encode_queries(texts)), atol=1e-5)
    with pytest.raises(InvalidInputError, match="anchor"):
        rollback(engine, "text")
        upgrade(engine, text_encoder=NEW, sample=40, anchor=1.0)


def test_upgrade_fits_a_projection_and_queries_switch_at_once(indexed):
    engine, _store = indexed
    report = upgrade(engine, text_encoder=NEW, sample=40)
    assert report["space"] == "text" and report["to"] == NEW
    fit = report["fit"]
    assert fit["n_heldout"] == 8 and fit["cosine_mean"] > 0.8, fit  # a real fit, measured on pairs it did not see
    # queries are now the new model's, projected into the old space (anchored by the old query where they agree)
    query = engine.encoder("text").encode_queries(["dog running on the beach"])
    projection = st.get_projection(engine.catalog, "text")
    assert np.allclose(query, expected_query(projection, "dog running on the beach"), atol=1e-5)
    assert not np.allclose(query, load_encoder("deterministic").encode_queries(["dog running on the beach"]), atol=1e-3)
    # the sample is already backfilled; status shows progress
    shown = status(engine)["text"]
    assert shown["items_done"] == 40 and shown["items_total"] == 60 and shown["phase"] == "backfill"
    with pytest.raises(InvalidInputError, match="already being upgraded"):
        upgrade(engine, text_encoder=NEW)


def test_results_score_each_item_in_one_space_only(indexed):
    engine, _store = indexed
    old_vectors = text_vectors(engine, "text")
    upgrade(engine, text_encoder=NEW, sample=20)
    backfill(engine, max_files=10)  # 30 of 60 items hold new vectors
    new_vectors = text_vectors(engine, "text__next")
    assert len(new_vectors) == 30
    projection = st.get_projection(engine.catalog, "text")
    text = "dog cat beach running"
    new_q = load_encoder(NEW).encode_queries([text])[0]
    projected_q = expected_query(projection, text)[0]
    # each item's scores pair a query and a vector of one space: projected query with old vectors, new with new
    old_scores = {i: float(projected_q @ v) for i, v in old_vectors.items()}
    new_scores = {i: float(new_q @ v) for i, v in new_vectors.items()}
    ref = sorted(new_vectors)  # fewer than REFERENCE backfilled items: all of them set the query's scales
    scales = Scales.fit(np.array([old_scores[i] for i in ref]), np.array([new_scores[i] for i in ref]))
    expected = dict(blend(old_scores, new_scores, scales, 0.5))
    hits = engine.search(text, k=60, spaces=["text"])
    assert len(hits) == 60
    for hit in hits:
        assert hit.scores["text"] == pytest.approx(expected[hit.item.id], abs=1e-4)
    # and never a new query against an old vector: with that pair in place of the projected one the scores differ
    crossed = dict(blend({**old_scores, **{i: float(new_q @ old_vectors[i]) for i in new_vectors}}, new_scores, scales, 0.5))
    assert any(abs(crossed[i] - expected[i]) > 1e-3 for i in new_vectors)


def test_mix_keeps_one_score_per_item():
    native = [("a", 0.9), ("b", 0.5)]
    projected = [("a", 0.99), ("c", 0.7), ("b", 0.95), ("d", 0.1)]
    merged = mix(native, projected, backfilled={"a", "b", "d"}, scale=1.0, shift=-0.1)
    assert merged == [("a", 0.9), ("c", pytest.approx(0.6)), ("b", 0.5)]


def test_rollback_restores_the_old_space(indexed):
    engine, store = indexed
    before = [(h.item.id, round(h.score, 5)) for h in engine.search("dog beach", k=10, spaces=["text"])]
    upgrade(engine, text_encoder=NEW, sample=20)
    backfill(engine, max_files=10)
    assert text_vectors(engine, "text__next")
    result = rollback(engine)
    assert result["encoder"] == "deterministic" and result["dropped_vectors"] == 30
    assert not text_vectors(engine, "text__next")
    assert st.states(engine.catalog) == {} and st.done_files(engine.catalog, "text") == {}
    after = [(h.item.id, round(h.score, 5)) for h in engine.search("dog beach", k=10, spaces=["text"])]
    assert after == before
    engine.close()
    reopened = open_engine(store)
    assert reopened.encoder_names()["text"] == "deterministic"
    reopened.close()


KILLER = textwrap.dedent("""
    import os, signal, sys
    from polyseek.engine import Engine
    from polyseek.upgrade import backfill, state
    calls = {"n": 0}
    original = state.mark_done
    def mark_done(catalog, space, items):
        calls["n"] += 1
        if calls["n"] == 3:  # the third batch's vectors are written, its journal entry is not: kill -9 now
            os.kill(os.getpid(), signal.SIGKILL)
        original(catalog, space, items)
    state.mark_done = mark_done
    engine = Engine(sys.argv[1])
    backfill(engine, batch_files=4)
""")


@pytest.mark.slow
def test_backfill_killed_then_resumed_and_switched(indexed):
    engine, store = indexed
    upgrade(engine, text_encoder=NEW, sample=10)
    engine.close()
    proc = subprocess.run([sys.executable, "-c", KILLER, str(store)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "POLYSEEK_LOG": "ERROR"}, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    engine = open_engine(store)
    shown = status(engine)["text"]
    assert shown["phase"] == "backfill" and 10 <= shown["items_done"] < 60  # two batches journaled, the third not
    result = backfill(engine, batch_files=8)
    assert result["remaining_files"] == 0 and result["finalize"]["encoder"] == NEW
    assert st.states(engine.catalog) == {} and st.get_projection(engine.catalog, "text") is None
    assert engine.catalog.get_meta("index")["spaces"]["text"]["encoder"] == NEW
    # every item now holds exactly the new model's vector in the text space, and nothing in text__next
    vectors = text_vectors(engine, "text")
    assert len(vectors) == 60 and not text_vectors(engine, "text__next")
    new = load_encoder(NEW)
    for key, record in engine.catalog.files().items():
        expected = new.encode_documents([Path(key).read_text(encoding="utf-8").strip()])[0]
        assert np.allclose(vectors[item_id(key, 0)], expected, atol=1e-5)
    # queries are the new model's own, with no projection
    hits = engine.search("dog beach", k=5, spaces=["text"])
    q = new.encode_queries(["dog beach"])[0]
    assert hits[0].scores["text"] == pytest.approx(float(q @ vectors[hits[0].item.id]), abs=1e-4)
    engine.close()
    reopened = open_engine(store)
    assert reopened.encoder_names()["text"] == NEW
    reopened.close()


def test_refuses_what_it_cannot_do(indexed, tmp_path):
    engine, _store = indexed
    with pytest.raises(InvalidInputError, match="one space at a time"):
        upgrade(engine)
    with pytest.raises(InvalidInputError, match="already uses"):
        upgrade(engine, text_encoder="deterministic")
    with pytest.raises(InvalidInputError, match="no upgrade"):
        rollback(engine)
    empty = Engine(str(tmp_path / "empty"), image_encoder="deterministic", text_encoder="deterministic")
    with pytest.raises(InvalidInputError, match="empty"):
        upgrade(empty, text_encoder=NEW)
    empty.close()


def test_an_empty_encoder_name_is_refused_for_its_own_space(indexed):
    engine, _store = indexed  # "" used to fall through to the text space with no encoder name at all
    with pytest.raises(InvalidInputError, match="no new image encoder named"):
        upgrade(engine, image_encoder="")
    with pytest.raises(InvalidInputError, match="no new text encoder named"):
        upgrade(engine, text_encoder="")
    assert st.state(engine.catalog, "text") is None and st.state(engine.catalog, "image") is None


def test_switch_in_an_engine_opened_with_the_old_encoder_by_name(indexed):
    engine, _store = indexed  # opened with text_encoder="deterministic" asked for explicitly
    upgrade(engine, text_encoder=NEW, sample=20)
    result = backfill(engine, batch_files=20)
    assert result["finalize"]["encoder"] == NEW
    new = load_encoder(NEW)
    vectors = text_vectors(engine, "text")
    hits = engine.search("dog beach", k=5, spaces=["text"])
    q = new.encode_queries(["dog beach"])[0]
    for hit in hits:
        assert hit.scores["text"] == pytest.approx(float(q @ vectors[hit.item.id]), abs=1e-4)
