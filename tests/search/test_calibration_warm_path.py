"""The warm query path rearranges work, never results: BM25 started early, dense spaces searched side by side,
fusion summed signal by signal, and a calibrated engine search on a shortlist-sized store ranks as before."""

from __future__ import annotations

import numpy as np
import pytest

import polyseek.search.rows as rows_module
from polyseek.search.fusion import evidence, rrf
from polyseek.search.rows import RowCache
from polyseek.stores.memory import MemoryStore
from polyseek.types import Filters, Modality, Signal
from tests.stores.test_contract import DIM, make_rows


class Counting(MemoryStore):
    """The reference store, counting lexical searches and offering them early like LanceDB does."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple] = []
        self.ran: list[str] = []

    def text_search(self, text, k, filters=None):
        self.ran.append(text)
        return super().text_search(text, k, filters)

    def text_search_soon(self, text, k, filters=None):
        self.started.append((text, k, filters))
        hits = self.text_search(text, k, filters)
        return lambda: hits


@pytest.fixture
def store():
    store = Counting()
    store.create({"image": DIM, "text": DIM})
    store.upsert(make_rows())
    return store


def test_a_lexical_search_started_early_is_used_once_and_only_for_the_same_question(store):
    cache = RowCache(store)
    pages = Filters(modalities=(Modality.PAGE,))
    cache.text_search_soon("dog", 10, pages)
    assert store.ran == ["dog"]
    assert cache.text_search("dog", 10, pages) == MemoryStore.text_search(store, "dog", 10, pages)
    assert store.ran == ["dog"]  # the early one, not a second search
    cache.text_search("dog", 10, pages)
    cache.text_search("dog", 5, pages)  # another depth: a search of its own
    assert store.ran == ["dog", "dog", "dog"]
    plain = MemoryStore()
    plain.create({"image": DIM, "text": DIM})
    plain.upsert(make_rows())
    other = RowCache(plain)
    other.text_search_soon("dog", 10)  # a store that cannot start early: nothing happens until it is asked
    assert other.text_search("dog", 10) == plain.text_search("dog", 10)


def test_dense_spaces_side_by_side_answer_as_one_after_the_other(store, monkeypatch):
    rng = np.random.default_rng(4)
    requests = [(space, rng.normal(size=DIM).astype(np.float32), 7, f) for space in ("image", "text")
                for f in (None, Filters(modalities=(Modality.TEXT,)))]
    one_by_one = [store.search(*r) for r in requests]
    monkeypatch.setattr(rows_module, "PARALLEL_MIN_ROWS", 0)  # 40 rows: threads only because the test asks
    assert RowCache(store).search_many(requests) == one_by_one
    monkeypatch.setattr(rows_module, "PARALLEL_MIN_ROWS", 10**9)
    assert RowCache(store).search_many(requests) == one_by_one


def old_evidence(lists, weights=None, eligible=None):
    """``fusion.evidence`` as it was before it summed signal by signal (the reference)."""
    weights = dict(weights or {})
    values, floors = {}, {}
    for signal, ranked in lists.items():
        scores = {i: float(s) for i, s in ranked}
        if signal == "lexical" and scores:
            array = np.array(list(scores.values()))
            mean, std = float(array.mean()), float(array.std()) or 1.0
            scores = {i: (s - mean) / std for i, s in scores.items()}
            floors[signal] = (0.0 - mean) / std
        else:
            floors[signal] = min(scores.values()) if scores else 0.0
        values[signal] = scores
    fused = {}
    for item_id in {i for ranked in lists.values() for i, _ in ranked}:
        num = den = 0.0
        for signal, scores in values.items():
            if item_id not in scores and eligible is not None and not eligible(item_id, signal):
                continue
            weight = weights.get(signal, 1.0)
            num += weight * scores.get(item_id, floors[signal])
            den += weight
        fused[item_id] = num / den if den else 0.0
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def old_rrf(lists, weights=None, eligible=None, k=60):
    weights = dict(weights or {})
    fused: dict[str, float] = {}
    for signal, ranked in lists.items():
        weight = weights.get(signal, 1.0)
        for rank, (item_id, _score) in enumerate(ranked):
            fused[item_id] = fused.get(item_id, 0.0) + weight / (k + rank + 1)
    if eligible is not None:
        for item_id in fused:
            total = sum(weights.get(s, 1.0) for s in lists if eligible(item_id, s))
            fused[item_id] = fused[item_id] / total if total > 0 else 0.0
    else:
        total = sum(weights.get(s, 1.0) for s in lists) or 1.0
        fused = {i: v / total for i, v in fused.items()}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def test_fusion_signal_by_signal_gives_the_same_scores_bit_for_bit():
    rng = np.random.default_rng(9)
    for trial in range(30):
        pool = [f"i{j:03d}" for j in range(120)]
        lists = {}
        for signal in (Signal.IMAGE, Signal.TEXT, Signal.LEXICAL)[: 1 + trial % 3]:
            chosen = rng.choice(pool, size=int(rng.integers(1, 60)), replace=False)
            scores = rng.normal(size=len(chosen)) * (5 if signal == Signal.LEXICAL else 1)
            lists[signal] = sorted(zip(chosen.tolist(), scores.tolist()), key=lambda kv: -kv[1])
        weights = {Signal.IMAGE: 1.0, Signal.TEXT: float(rng.uniform(0.2, 2)), Signal.LEXICAL: float(rng.uniform(0.2, 2))}
        photos = set(rng.choice(pool, size=40, replace=False).tolist())

        def eligible(item_id, signal):
            return signal == Signal.IMAGE or item_id not in photos

        for chosen_eligible in (eligible, None):
            assert evidence(lists, weights, chosen_eligible) == old_evidence(lists, weights, chosen_eligible)
            assert rrf(lists, weights, chosen_eligible) == old_rrf(lists, weights, chosen_eligible)


def _search_in_child(store, requests, want, done) -> None:
    done.put(RowCache(store).search_many(requests) == want)


def test_a_forked_process_searches_side_by_side_on_threads_of_its_own(store, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(rows_module, "PARALLEL_MIN_ROWS", 0)
    rng = np.random.default_rng(5)
    requests = [(space, rng.normal(size=DIM).astype(np.float32), 5, None) for space in ("image", "text")]
    want = RowCache(store).search_many(requests)  # the parent's pool is running now
    context = multiprocessing.get_context("fork")
    done = context.Queue()
    child = context.Process(target=_search_in_child, args=(store, requests, want, done))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0 and done.get(timeout=5) is True  # (a pool copied from the parent would never answer)


def test_calibration_keeps_the_first_stored_items_and_reads_rows_only_where_a_kind_is_in_doubt(store):
    """A kind's own search holds that kind alone except documents (a photo's tiles are regions too): only those rows
    are read to sort kinds; every kept item is read once, and one the store no longer holds is left out."""
    from types import SimpleNamespace

    from polyseek.search.policies.calibration import _SHARED, _stored

    assert _SHARED == {"document"}
    merged = [("item001", 3.0), ("gone", 2.5), ("item002", 2.0), ("item004", 1.0), ("item005", 0.5)]
    ctx = SimpleNamespace(rows=RowCache(store))
    assert _stored(ctx, merged, 3) == [("item001", 3.0), ("item002", 2.0), ("item004", 1.0)]
    assert _stored(ctx, merged, 1) == [("item001", 3.0)]
    assert _stored(ctx, [("gone", 1.0)], 2) == []


def test_searches_no_pool_thread_has_started_run_on_the_asking_thread(store, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(6)
    requests = [(space, rng.normal(size=DIM).astype(np.float32), 6, None) for space in ("image", "text", "image")]
    one_by_one = [store.search(*r) for r in requests]
    busy = ThreadPoolExecutor(1)
    release = threading.Event()
    busy.submit(release.wait, 30)  # the pool's only thread is taken: nothing submitted after starts
    monkeypatch.setattr(rows_module, "_pool", lambda: busy)
    monkeypatch.setattr(rows_module, "PARALLEL_MIN_ROWS", 0)
    try:
        assert RowCache(store).search_many(requests) == one_by_one  # (it would wait 30 s for the pool)
    finally:
        release.set()
        busy.shutdown()


def test_searches_started_early_answer_the_later_ask_once(store, monkeypatch):
    """retrieve starts the calibration's own-kind searches (``ctx.soon``); its later ``search_many`` of the same
    requests takes their answers, each search run once, and asks others as before."""
    monkeypatch.setattr(rows_module, "PARALLEL_MIN_ROWS", 0)
    ran: list[tuple] = []
    original = store.search

    def counted(space, vector, k, filters=None):
        ran.append((space, k, filters))
        return original(space, vector, k, filters)

    monkeypatch.setattr(store, "search", counted)
    rng = np.random.default_rng(8)
    vector = rng.normal(size=DIM).astype(np.float32)
    kinds = [Filters(modalities=(m,)) for m in (Modality.IMAGE, Modality.PAGE, Modality.TEXT)]
    early = [("image", vector, 7, f) for f in kinds]
    want = [original(*r) for r in early] + [original("text", vector, 7, None)]
    cache = RowCache(store)
    cache.search_soon(early)
    cache.search_soon(early[:1])  # asked twice: started once
    got = cache.search_many([*early, ("text", vector, 7, None)])
    assert got == want and len(ran) == 4  # three started early, one asked now
    assert cache.search_many(early[:1]) == want[:1] and len(ran) == 5  # an answer is taken once; asked again, it runs
