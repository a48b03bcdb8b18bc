"""One space at 10k-1M synthetic vectors: polyseek's store (exact, quantised shortlist) beside numpy brute force,
FAISS (HNSW, IVF-PQ), usearch and hnswlib, built once and cached, timed query by query in turn (same run, same load).

Called by ``benchmarks/query_latency.py --vector-sizes ...``; importable alone. Vectors: unit 384-d, clustered,
with a decaying spectrum in a random rotation (real text/image embeddings have most of their variance in few
directions and a shared mean direction; uniform random vectors have neither and flatter every index's recall).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DIM = 384
K = 10
TARGET_RECALL = 0.95


def vectors(n: int, cache: Path, seed: int = 0) -> np.ndarray:
    """``n`` synthetic unit vectors, memory-mapped from ``cache`` (written once, in chunks)."""
    path = cache / f"vectors-{n}-{seed}.npy"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        generator = _generator(seed)
        out = np.lib.format.open_memmap(str(path) + ".tmp.npy", mode="w+", dtype=np.float32, shape=(n, DIM))
        rng = np.random.default_rng(seed + 1)
        for s in range(0, n, 100_000):
            out[s : s + 100_000] = generator(rng, min(100_000, n - s))
        out.flush()
        del out
        os.replace(str(path) + ".tmp.npy", path)
    return np.load(path, mmap_mode="r")


def queries(count: int, seed: int = 0) -> np.ndarray:
    return _generator(seed)(np.random.default_rng(seed + 99), count)


def _generator(seed: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    spectrum = (np.arange(1, DIM + 1) ** -0.6).astype(np.float32)
    mean = basis[:, 0] * 1.2  # the shared direction every embedding leans towards
    centres = (rng.normal(size=(8192, DIM)) * spectrum) @ basis.T

    def draw(r: np.random.Generator, n: int) -> np.ndarray:
        x = mean + centres[r.integers(0, len(centres), n)] + 0.8 * (r.normal(size=(n, DIM)) * spectrum) @ basis.T
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw


def exact_top(data: np.ndarray, qs: np.ndarray, cache: Path, tag: str) -> np.ndarray:
    path = cache / f"truth-{tag}.npy"
    if path.exists():
        return np.load(path)
    top = np.empty((len(qs), K), dtype=np.int64)
    best = np.full((len(qs), K), -np.inf, dtype=np.float32)
    for s in range(0, len(data), 100_000):
        scores = np.asarray(data[s : s + 100_000]) @ qs.T  # (block, q)
        both = np.concatenate([best, scores.T], axis=1)
        ids = np.concatenate([top, np.arange(s, s + scores.shape[0])[None, :].repeat(len(qs), 0)], axis=1)
        pick = np.argsort(-both, axis=1)[:, :K]
        best, top = np.take_along_axis(both, pick, 1), np.take_along_axis(ids, pick, 1)
    np.save(path, top)
    return top


def recall(found: list[int] | np.ndarray, truth: np.ndarray) -> float:
    return len(set(int(i) for i in found) & set(truth.tolist())) / K


class Method:
    """A named index with a search knob swept over ``settings``; ``search(q, setting) -> ids``."""

    def __init__(self, name: str, ram_bytes: float, build_s: float, settings: list, search: Callable) -> None:
        self.name, self.ram_bytes, self.build_s, self.settings, self.search = name, ram_bytes, build_s, settings, search


def _timed_build(function: Callable, path: Path | None = None):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def numpy_method(data: np.ndarray) -> Method:
    matrix = np.ascontiguousarray(data)

    def search(q, _setting):
        scores = matrix @ q
        return np.argpartition(-scores, K)[:K]

    return Method("numpy brute force (float32)", DIM * 4, 0.0, [None], search)


def faiss_hnsw(data: np.ndarray, cache: Path, tag: str, build: bool = True) -> Method | None:
    import faiss

    path = cache / f"faiss-hnsw16-{tag}.index"
    if not build and not path.exists():
        return None
    started = time.perf_counter()
    if path.exists():
        index = faiss.read_index(str(path))
        build = float(path.with_suffix(".build_s").read_text())
    else:
        index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 48
        faiss.omp_set_num_threads(2)
        for s in range(0, len(data), 100_000):
            index.add(np.ascontiguousarray(data[s : s + 100_000]))
        faiss.omp_set_num_threads(1)
        build = time.perf_counter() - started
        faiss.write_index(index, str(path))
        path.with_suffix(".build_s").write_text(str(build))
    ram = DIM * 4 + index.hnsw.nb_neighbors(0) * 4 * 1.5 + 8  # vectors + level-0 links (+ upper levels, ids)

    def search(q, ef):
        index.hnsw.efSearch = ef
        return index.search(q[None, :], K)[1][0]

    return Method("FAISS HNSW (M=16, float32)", ram, build, [16, 32, 64, 96, 128, 192, 256], search)


def faiss_ivfpq(data: np.ndarray, cache: Path, tag: str, rescore_from: np.ndarray, build: bool = True) -> list[Method]:
    import faiss

    n = len(data)
    nlist = max(16, min(1024, n // 1000))  # ~1,000 rows a list, as polyseek's shortlist
    path = cache / f"faiss-ivfpq-{tag}.index"
    if not build and not path.exists():
        return []
    started = time.perf_counter()
    if path.exists():
        index = faiss.read_index(str(path))
        build = float(path.with_suffix(".build_s").read_text())
    else:
        quantiser = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFPQ(quantiser, DIM, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        sample = np.asarray(data[np.sort(np.random.default_rng(0).choice(n, min(n, 65_536), replace=False))])
        index.train(sample)
        for s in range(0, n, 100_000):
            index.add(np.ascontiguousarray(data[s : s + 100_000]))
        build = time.perf_counter() - started
        faiss.write_index(index, str(path))
        path.with_suffix(".build_s").write_text(str(build))
    ram = 48 + 8  # PQ code + id per row (centroids are shared)

    def plain(q, nprobe):
        index.nprobe = nprobe
        return index.search(q[None, :], K)[1][0]

    def rescored(q, nprobe):  # the same design as polyseek's: codes in RAM, float32 rows from disk for the top 160
        index.nprobe = nprobe
        ids = np.sort(index.search(q[None, :], 160)[1][0])
        ids = ids[ids >= 0]
        scores = np.asarray(rescore_from[ids]) @ q
        return ids[np.argsort(-scores)[:K]]

    settings = [8, 16, 32, 64, 128]
    return [Method("FAISS IVF-PQ (48 B codes)", ram, build, settings, plain),
            Method("FAISS IVF-PQ (48 B) + float32 rescoring from disk", ram, build, settings, rescored)]


def usearch_hnsw(data: np.ndarray, cache: Path, tag: str, build: bool = True) -> Method | None:
    from usearch.index import Index

    path = cache / f"usearch-{tag}.usearch"
    if not build and not path.exists():
        return None
    index = Index(ndim=DIM, metric="ip", dtype="f32", connectivity=16, expansion_add=48)
    started = time.perf_counter()
    if path.exists():
        index.load(str(path))
        build = float(path.with_suffix(".build_s").read_text())
    else:
        for s in range(0, len(data), 100_000):
            block = np.ascontiguousarray(data[s : s + 100_000])
            index.add(np.arange(s, s + len(block)), block, threads=2)
        build = time.perf_counter() - started
        index.save(str(path))
        path.with_suffix(".build_s").write_text(str(build))
    ram = index.memory_usage / len(data)

    def search(q, ef):
        index.expansion_search = ef
        return index.search(q, K, threads=1).keys

    return Method("usearch HNSW (M=16, float32)", ram, build, [16, 32, 64, 96, 128, 192, 256], search)


def hnswlib_index(data: np.ndarray, cache: Path, tag: str, build: bool = True) -> Method | None:
    try:
        import hnswlib
    except ImportError:
        return None
    path = cache / f"hnswlib-{tag}.bin"
    if not build and not path.exists():
        return None
    index = hnswlib.Index(space="ip", dim=DIM)
    started = time.perf_counter()
    if path.exists():
        index.load_index(str(path), max_elements=len(data))
        build = float(path.with_suffix(".build_s").read_text())
    else:
        index.init_index(max_elements=len(data), M=16, ef_construction=48, random_seed=0)
        for s in range(0, len(data), 100_000):
            block = np.ascontiguousarray(data[s : s + 100_000])
            index.add_items(block, np.arange(s, s + len(block)), num_threads=2)
        build = time.perf_counter() - started
        index.save_index(str(path))
        path.with_suffix(".build_s").write_text(str(build))
    index.set_num_threads(1)
    ram = DIM * 4 + 16 * 2 * 4 + 4 + 8 + 8

    def search(q, ef):
        index.set_ef(max(ef, K))
        return index.knn_query(q, k=K)[0][0]

    return Method("hnswlib HNSW (M=16, float32)", ram, build, [16, 32, 64, 96, 128, 192, 256], search)


def polyseek_methods(data: np.ndarray, cache: Path, tag: str) -> list[Method]:
    """polyseek's LanceDB store over the same vectors: exact in memory (as shipped below 150k rows) and the
    quantised shortlist (as shipped from 150k rows; forced on at smaller sizes to compare)."""
    import lancedb
    import pyarrow as pa

    import polyseek.stores.lancedb as lance_module
    from polyseek.stores import open_store
    from polyseek.stores import shortlist as shortlist_module

    n = len(data)
    folder = cache / f"lance-{tag}"
    if not (folder / "items.lance").exists():
        store = open_store(folder)
        store.create({"image": DIM})
        db = lancedb.connect(str(folder))
        table = db.open_table("items")
        for s in range(0, n, 100_000):
            block = np.ascontiguousarray(data[s : s + 100_000])
            m = len(block)
            ids = [f"i{j}" for j in range(s, s + m)]
            columns = {"id": ids, "doc": [f"/d/{j}" for j in range(s, s + m)], "path": [f"/d/{j}.jpg" for j in range(s, s + m)],
                       "ext": ["jpg"] * m, "modality": ["image"] * m, "date": np.zeros(m), "locator": ["{}"] * m,
                       "metadata": ["{}"] * m, "text": [""] * m,
                       "vec_image": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), DIM), "has_image": [True] * m}
            table.add(pa.Table.from_pydict(columns, schema=table.schema))
        store.close()
    store = open_store(folder)
    methods = []
    if n < lance_module.ANN_MIN_ROWS:
        store.search("image", np.asarray(data[0]), K)  # reads the matrix into memory once

        def exact(q, _setting):
            return [int(i[1:]) for i, _ in store.search("image", q, K)]

        methods.append(Method("polyseek exact (LanceDB store, in memory)", DIM * 4 + 80, 0.0, [None], exact))
    saved = (lance_module.ANN_MIN_ROWS, lance_module.SHORTLIST_MIN_ROWS)
    meta = store.shortlists.folder("image") / "meta.json"
    started = time.perf_counter()
    if not meta.exists() or store.shortlists.get("image", store.table.version) is None:
        lance_module.SHORTLIST_MIN_ROWS = 0
        store.build_shortlists()
        lance_module.SHORTLIST_MIN_ROWS = saved[1]
        (folder / "shortlist.build_s").write_text(str(time.perf_counter() - started))
    build = float((folder / "shortlist.build_s").read_text())
    shortlist = store.shortlists.get("image", store.table.version)
    assert shortlist is not None
    ram = shortlist.ram_bytes / n + 0  # codes, list order, filter columns, centroids
    default = shortlist_module.NPROBE
    knobs = ("NPROBE", "NPROBE_EXPONENT", "SCAN_ALL_ROWS")
    defaults = {name: getattr(shortlist_module, name) for name in knobs}

    def quantised(q, nprobe):  # through the store's search, as the engine calls it, with the shortlist forced on
        # the setting is the number of lists probed (no scaling by the table's size, no one-pass scan)
        shortlist_module.NPROBE, shortlist_module.NPROBE_EXPONENT, shortlist_module.SCAN_ALL_ROWS = nprobe, 0.0, 0
        lance_module.ANN_MIN_ROWS = lance_module.SHORTLIST_MIN_ROWS = 0  # (its own threshold is 50k rows)
        shortlist._recent.clear()  # (the sweep repeats its queries)
        try:
            return [int(i[1:]) for i, _ in store.search("image", q, K)]
        finally:
            for name, value in defaults.items():
                setattr(shortlist_module, name, value)
            lance_module.ANN_MIN_ROWS, lance_module.SHORTLIST_MIN_ROWS = saved

    def one_pass(q, _setting):  # as shipped up to SCAN_ALL_ROWS rows: every row's codes scored, the best re-scored
        lance_module.ANN_MIN_ROWS = lance_module.SHORTLIST_MIN_ROWS = 0
        shortlist._recent.clear()  # (the sweep repeats its queries)
        try:
            return [int(i[1:]) for i, _ in store.search("image", q, K)]
        finally:
            lance_module.ANN_MIN_ROWS, lance_module.SHORTLIST_MIN_ROWS = saved

    methods.append(Method(f"polyseek shortlist (int8 PCA-{shortlist.codes.shape[1]} + rescoring from disk)", ram, build,
                          sorted({8, 16, default, 32, 48, 64, 96, 128, 192}), quantised))
    methods[-1].restore = saved  # type: ignore[attr-defined]
    methods[-1].store = store  # type: ignore[attr-defined]
    if n <= shortlist_module.SCAN_ALL_ROWS:
        methods.append(Method(f"polyseek shortlist, one pass over the int8 PCA-{shortlist.codes.shape[1]} codes "
                              "(as shipped up to 250k rows)", ram, build, [None], one_pass))
    return methods


def run(n: int, count: int, cache: Path, log=print, build_baselines: bool = True) -> tuple[list[dict], dict]:
    """All methods at ``n`` vectors: a row per method at its chosen setting, plus every setting's figures.
    ``build_baselines=False``: baselines whose index is not cached yet are left out (named in the details)."""
    b = build_baselines
    tag = f"{n}"
    data = vectors(n, cache)
    qs = queries(count)
    truth = exact_top(data, qs, cache, tag)
    methods: list[Method] = []
    left_out = []
    for name, make in (("polyseek", lambda: polyseek_methods(data, cache, tag)), ("numpy", lambda: [numpy_method(data)]),
                       ("faiss-hnsw", lambda: [faiss_hnsw(data, cache, tag, b)]),
                       ("faiss-ivfpq", lambda: faiss_ivfpq(data, cache, tag, data, b)),
                       ("usearch", lambda: [usearch_hnsw(data, cache, tag, b)]),
                       ("hnswlib", lambda: [hnswlib_index(data, cache, tag, b)])):
        log(f"{n}: building/loading {name}")
        made = [m for m in make() if m is not None]
        if not made:
            left_out.append(name)
        methods += made
        gc.collect()
    for method in methods:  # one untimed pass: page cache and lazy loads
        for setting in method.settings:
            method.search(qs[0], setting)
    sweeps: dict[str, dict] = {}
    for method in methods:
        for setting in method.settings:
            times, recalls = [], []
            for qi, q in enumerate(qs):
                started = time.perf_counter()
                found = method.search(q, setting)
                times.append((time.perf_counter() - started) * 1000)
                recalls.append(recall(found, truth[qi]))
            sweeps.setdefault(method.name, {})[str(setting)] = {
                "p50_ms": round(float(np.percentile(times, 50)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
                "recall@10": round(float(np.mean(recalls)), 4)}
        log(f"{n}: {method.name}: {sweeps[method.name]}")
    rows = []
    for method in methods:
        sweep = sweeps[method.name]
        ok = [(s, f) for s, f in sweep.items() if f["recall@10"] >= TARGET_RECALL]
        setting, figures = min(ok, key=lambda sf: sf[1]["p50_ms"]) if ok else max(sweep.items(), key=lambda sf: sf[1]["recall@10"])
        rows.append({"method": method.name, "items": n, **figures, "ram_bytes_per_item": round(method.ram_bytes, 1),
                     "build_s": round(method.build_s, 1), "setting": setting})
    for method in methods:
        if hasattr(method, "restore"):
            import polyseek.stores.lancedb as lance_module

            lance_module.ANN_MIN_ROWS, lance_module.SHORTLIST_MIN_ROWS = method.restore
            method.store.close()
    return rows, {"sweeps": sweeps, "queries": count, "target_recall": TARGET_RECALL, "left_out_not_built": left_out}
