"""The warm path's cheaper kernels answer what the plain ones answer: the shortlist's one-pass scan as an integer
product in ONNX Runtime (against numpy's float einsum), and rows read column by column from the rows snapshot
(against Lance's own query)."""

from __future__ import annotations

import numpy as np
import pytest

import polyseek.stores.shortlist as shortlist_module
from polyseek.stores import open_store
from polyseek.stores.shortlist import Shortlist, integer_terms
from polyseek.types import Filters, Modality
from tests.stores.test_contract import DIM, make_rows


def test_integer_terms_rebuild_the_weights_below_float32_rounding():
    rng = np.random.default_rng(3)
    codes = rng.integers(-127, 128, size=(500, 64)).astype(np.int8)
    for scale in (1e-3, 1.0, 300.0):
        weights = (rng.normal(size=64) * scale).astype(np.float32)
        terms, scales, offset = integer_terms(weights)
        assert terms.dtype == np.int8 and np.abs(terms).max() <= shortlist_module.TERM_RANGE  # no AVX2 saturation
        unsigned = (codes.astype(np.int64) + 128) @ terms.astype(np.int64)  # the integer product, exactly
        approx = unsigned.astype(np.float64) @ scales.astype(np.float64) - float(offset)
        plain = codes.astype(np.float64) @ weights.astype(np.float64)
        assert np.abs(approx - plain).max() <= 2e-6 * np.abs(plain).max()
    terms, scales, offset = integer_terms(np.zeros(8, dtype=np.float32))  # a zero query scores every row 0
    assert not terms.any() and float(offset) == 0.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(11)
    n, dim = 3000, 32
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kinds = ["image", "page", "text"]
    folder = tmp_path_factory.mktemp("scan") / "space"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 300)
        shortlist_module.build(folder, vectors, [f"r{i:05d}" for i in range(n)], [kinds[i % 3] for i in range(n)],
                               ["x"] * n, np.arange(n, dtype=np.float64), version=1, prefix=16)
    return folder


def test_the_integer_scan_scores_as_numpy_and_searches_answer_the_same(folder, monkeypatch):
    assert shortlist_module._integer_kernel() is not None  # onnxruntime is a dependency: the kernel must load
    monkeypatch.setattr(shortlist_module, "RESCORE", 60)
    monkeypatch.setattr(shortlist_module, "RESCORE_PER_RESULT", 2)
    monkeypatch.setattr(shortlist_module, "EXACT_KIND_ROWS", 10)  # every kind through the scanned codes
    rng = np.random.default_rng(12)
    filters = [None, Filters(modalities=(Modality.IMAGE,)), Filters(modalities=(Modality.PAGE, Modality.TEXT))]
    for _ in range(5):
        q = rng.normal(size=32).astype(np.float32)
        q /= np.linalg.norm(q)
        monkeypatch.setattr(shortlist_module, "INTEGER_SCAN", True)
        fast = Shortlist(folder)
        integer = fast._scanned(q)
        answers = [fast.search(q, 20, f) for f in filters]
        assert fast._codes is None and fast.ram_bytes == Shortlist(folder).ram_bytes  # one copy of the codes in RAM
        monkeypatch.setattr(shortlist_module, "INTEGER_SCAN", False)
        plain = Shortlist(folder)
        floats = plain._scanned(q)
        np.testing.assert_allclose(integer, floats, rtol=0, atol=2e-6 * np.abs(floats).max())
        np.testing.assert_array_equal(fast.codes, plain.codes)  # the int8 codes, made again from the offset copy
        assert answers == [plain.search(q, 20, f) for f in filters]  # ids and exact scores


def test_the_integer_scan_falls_back_to_numpy_without_its_runtime(folder, monkeypatch):
    q = np.ones(32, dtype=np.float32) / np.sqrt(32)
    want = Shortlist(folder).search(q, 10)
    monkeypatch.setattr(shortlist_module, "_KERNEL", [None])  # as where onnxruntime is missing
    assert Shortlist(folder).search(q, 10) == want


def test_rows_read_column_by_column_equal_lances_own_rows(tmp_path, monkeypatch):
    import polyseek.stores.lancedb as lance_module

    monkeypatch.setattr(lance_module, "FLAT_SNAPSHOT_MIN_ROWS", 10)  # a rows snapshot for these 40 rows
    store = open_store(tmp_path / "lance")
    store.create({"image": DIM, "text": DIM})
    store.upsert(make_rows())
    store.optimize()  # writes the rows snapshot
    wanted = ["item004", "missing", "item001", "item002", "item004"]
    assert store._rows_snapshot(store._current()) is not None
    from_snapshot = store.get(wanted)
    monkeypatch.setattr(type(store), "_rows_snapshot", lambda self, table: None)
    from_lance = store.get(wanted)
    assert [r.id for r in from_snapshot] == ["item004", "item001", "item002", "item004"]
    assert from_snapshot == from_lance
    assert from_snapshot[2].locator == {"page": 3, "bbox": None} and from_snapshot[0].metadata == {"i": 4}
    store.close()
