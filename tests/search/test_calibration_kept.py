"""The calibration's background samples kept beside a store's snapshots: a later cold command reads them instead of
drawing them, ranks exactly as a fresh draw does, and never reads another table version's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.cli.remote import draw_backgrounds
from polyseek.engine import Engine
from polyseek.search.calibration import KEPT_AS, ModalityBackgrounds, keep_for_cold_searches
from polyseek.stores.snapshot import open_snapshot
from polyseek.types import Filters, Modality
from tests.stores.test_snapshot import build_engine_store as build
from tests.stores.test_snapshot import thresholds

QUERIES = ("harbour ferry", "revenue region notes", "a dog on the grass", "galaxy")


def ranked(engine: Engine) -> list[list[tuple[str, float]]]:
    out = []
    for query in QUERIES:
        for options in ({}, {"filters": Filters(modalities=(Modality.PAGE,))}):
            out.append([(h.id, h.score) for h in engine.search(query, k=10, **options)])
    return out


def samples(engine: Engine) -> ModalityBackgrounds:
    backgrounds = draw_backgrounds(engine)
    assert isinstance(backgrounds, ModalityBackgrounds)
    return backgrounds


def test_a_second_cold_command_reads_the_kept_samples_and_ranks_the_same(tmp_path, monkeypatch):
    thresholds(monkeypatch)
    build(tmp_path / "store")
    first = Engine(open_snapshot(tmp_path / "store"), read_only=True)
    drawn = samples(first)
    first.store.prepare()  # as the cold command does while its encoders load (the shortlists' first-scan set-up)
    expected = ranked(first)
    assert drawn.keep() and not drawn.keep()  # kept once; nothing new to keep after that
    kept = first.store.load_derived(KEPT_AS)
    assert kept is not None and len(kept["drawn"]) == 10  # 5 kinds x 2 spaces, a kind without a sample included
    first.close()

    def no_draw(*_args):
        raise AssertionError("drew a background that was kept")

    with monkeypatch.context() as patched:
        patched.setattr(ModalityBackgrounds, "_draw", no_draw)
        second = Engine(open_snapshot(tmp_path / "store"), read_only=True)
        again = samples(second)
        for key, (_, background) in drawn._cache.items():
            other = again._cache[key][1]
            assert (background is None) == (other is None)
            if background is not None and other is not None:
                assert np.array_equal(background.vectors, other.vectors) and other.vectors.dtype == np.float32
        assert ranked(second) == expected
        assert not again.keep()  # nothing drawn: nothing written
        second.close()
    plain = Engine(tmp_path / "store", read_only=True)  # LanceStore: draws, keeps nothing
    assert ranked(plain) == expected and not samples(plain).keep()
    plain.close()


def test_the_writer_keeps_them_for_the_first_cold_search(tmp_path, monkeypatch):
    thresholds(monkeypatch)
    build(tmp_path / "store")
    assert keep_for_cold_searches(tmp_path / "store")  # as Engine.index does after its optimize()
    assert not keep_for_cold_searches(tmp_path / "store")  # kept already: nothing drawn
    assert not keep_for_cold_searches(tmp_path / "elsewhere")  # no store there
    monkeypatch.setattr(ModalityBackgrounds, "_draw", lambda *_: pytest.fail("drew a kept background"))
    engine = Engine(open_snapshot(tmp_path / "store"), read_only=True)
    assert all(ranked(engine)) and not samples(engine).keep()
    engine.close()


def test_engine_index_keeps_them(tmp_path, monkeypatch):
    thresholds(monkeypatch)
    catalogue = tmp_path / "items.jsonl"
    catalogue.write_text("".join(json.dumps({"id": f"r{i}", "text": f"record {i}: the ferry leaves the harbour at {i % 24}"})
                                 + "\n" for i in range(1100)))
    engine = Engine(tmp_path / "store", image_encoder="deterministic:32", text_encoder="deterministic:32")
    assert engine.index([catalogue]).added == 1
    engine.close()
    snapshot = open_snapshot(tmp_path / "store")
    assert snapshot is not None and snapshot.load_derived(KEPT_AS) is not None


def test_another_table_version_draws_again(tmp_path, monkeypatch):
    thresholds(monkeypatch)
    build(tmp_path / "store")
    first = Engine(open_snapshot(tmp_path / "store"), read_only=True)
    assert samples(first).keep()
    first.close()
    build(tmp_path / "store", rows=1600, seed=8)  # a write and optimize(): a new version, new snapshots
    snapshot = open_snapshot(tmp_path / "store")
    assert snapshot is not None and snapshot.load_derived(KEPT_AS) is None
    # a kept file that records another version (copied in by hand, say) is not read either
    assert snapshot.keep_derived(KEPT_AS, {"recipe": np.array("x")})
    snapshot.version += 1
    assert snapshot.load_derived(KEPT_AS) is None
    snapshot.version -= 1
    assert snapshot.load_derived(KEPT_AS) is not None
    kept = next((tmp_path / "store").rglob(f"derived-{KEPT_AS}.npz"))
    for damaged in (b"PK\x03\x04 cut off", kept.read_bytes()[:200], b""):  # a bad zip, a cut-off file, an empty one
        kept.write_bytes(damaged)
        assert snapshot.load_derived(KEPT_AS) is None
    with pytest.raises(ValueError):
        snapshot.keep_derived("../elsewhere", {})
