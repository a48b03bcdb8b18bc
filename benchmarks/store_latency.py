"""Store benchmark: write throughput and query latency (p50/p95) of the embedded LanceDB store at 10k and
100k synthetic 384-d vectors, side by side with exact numpy brute force in the same run.

    .venv/bin/python benchmarks/store_latency.py --sizes 10000 100000 200000 --queries 200

Below polyseek.stores.lancedb.ANN_MIN_ROWS the store scans exactly in memory; past it, it builds an ANN index.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

from polyseek.stores import Row, open_store  # noqa: E402

DIM = 384


def unit(rng, n):
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng, n, centres):
    """Synthetic embeddings with the structure real ones have: points scattered around topic centres.

    Uniform random 384-d vectors have no neighbourhood structure at all, which no ANN index is built for.
    """
    picks = rng.integers(0, len(centres), size=n)
    x = centres[picks] + rng.normal(scale=0.06, size=(n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def percentile_ms(samples, q):
    return float(np.percentile(np.array(samples) * 1000, q))


def run(size: int, queries: int, k: int, rng) -> dict:
    centres = unit(rng, max(10, size // 100))
    vectors = clustered(rng, size, centres)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder) / "lance")
        store.create({"image": DIM})
        started = time.perf_counter()
        batch = 5000
        for start in range(0, size, batch):
            store.upsert([Row(id=f"i{j}", doc=f"/d/{j}.jpg", path=f"/d/{j}.jpg", modality="image",
                              vectors={"image": vectors[j]}) for j in range(start, min(size, start + batch))])
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        store.optimize()  # builds the ANN index at this size if above the threshold
        optimize_s = time.perf_counter() - started
        probes = clustered(rng, queries, centres)  # queries land in the same topics as the data
        t0 = time.perf_counter()
        store.search("image", probes[0], k)  # the first query after a write loads caches (the in-memory matrix)
        first_ms = (time.perf_counter() - t0) * 1000
        lance_times, numpy_times, overlap = [], [], []
        for probe in probes:
            t0 = time.perf_counter()
            got = store.search("image", probe, k)
            lance_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            scores = np.einsum("ij,j->i", vectors, probe)  # the fastest numpy product here (see stores/lancedb.py)
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]
            numpy_times.append(time.perf_counter() - t0)
            overlap.append(len({i for i, _ in got} & {f"i{j}" for j in top}) / k)
        indexed = any("vec_image" in (getattr(ix, "columns", None) or []) for ix in store.table.list_indices())
        store.close()
    return {
        "items": size, "ann_index": indexed, "write_items_per_s": size / write_s, "optimize_s": optimize_s,
        "first_query_ms": first_ms,
        "lance_p50_ms": percentile_ms(lance_times, 50), "lance_p95_ms": percentile_ms(lance_times, 95),
        "numpy_p50_ms": percentile_ms(numpy_times, 50), "numpy_p95_ms": percentile_ms(numpy_times, 95),
        "p50_ratio_vs_numpy": float(np.median(lance_times) / np.median(numpy_times)),
        "recall@10_vs_exact": float(np.mean(overlap)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = [run(size, args.queries, args.k, rng) for size in args.sizes]
    write("store_latency", {"k": args.k, "queries": args.queries, "dim": DIM}, rows,
          ["items", "ann_index", "write_items_per_s", "optimize_s", "first_query_ms", "lance_p50_ms", "lance_p95_ms", "numpy_p50_ms",
           "numpy_p95_ms", "p50_ratio_vs_numpy", "recall@10_vs_exact"], args.out)


if __name__ == "__main__":
    main()
