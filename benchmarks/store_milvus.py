"""Store benchmark: Milvus Lite (exact FLAT and HNSW) side by side with the embedded LanceDB store in the same run.

Synthetic 384-d unit vectors with short texts; write throughput, vector search p50/p95, BM25 p50, recall@10 against
exact numpy. Milvus Lite is the laptop stand-in for a cluster: these are not cluster figures.

    .venv/bin/python benchmarks/store_milvus.py --size 10000 --queries 100
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
WORDS = "dog cat grass beach revenue chart rocket coffee river mountain invoice meeting".split()


def unit(rng, n):
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ms(samples, q):
    return float(np.percentile(np.array(samples) * 1000, q))


def run(name: str, uri: str, vectors: np.ndarray, texts: list[str], probes: np.ndarray, k: int) -> dict:
    store = open_store(uri)
    store.create({"image": DIM})
    started = time.perf_counter()
    for start in range(0, len(vectors), 2000):
        store.upsert([Row(id=f"i{j}", doc=f"/d/{j}.txt", path=f"/d/{j}.txt", modality="text", text=texts[j],
                          vectors={"image": vectors[j]}) for j in range(start, min(len(vectors), start + 2000))])
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - started
    store.search("image", probes[0], k)  # warm caches and lazy imports
    store.text_search("rocket", k)
    times, overlap = [], []
    for probe in probes:
        t0 = time.perf_counter()
        got = store.search("image", probe, k)
        times.append(time.perf_counter() - t0)
        scores = vectors @ probe
        exact = {f"i{j}" for j in np.argpartition(-scores, k)[:k]}
        overlap.append(len({i for i, _ in got} & exact) / k)
    text_times = []
    for i in range(len(probes)):
        t0 = time.perf_counter()
        store.text_search(f"{WORDS[i % len(WORDS)]} {WORDS[(i * 5) % len(WORDS)]}", k)
        text_times.append(time.perf_counter() - t0)
    store.close()
    return {"store": name, "items": len(vectors), "write_items_per_s": len(vectors) / write_s, "optimize_s": optimize_s,
            "search_p50_ms": ms(times, 50), "search_p95_ms": ms(times, 95), "bm25_p50_ms": ms(text_times, 50),
            "recall@10_vs_exact": float(np.mean(overlap))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors, probes = unit(rng, args.size), unit(rng, args.queries)
    texts = [" ".join(rng.choice(WORDS, 12)) + f" number{j}" for j in range(args.size)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, uri in [("lancedb", f"{folder}/lance"), ("milvus-lite FLAT", f"milvus+lite://{folder}/flat.db"),
                          ("milvus-lite HNSW", f"milvus+lite://{folder}/hnsw.db?index=HNSW")]:
            rows.append(run(name, uri, vectors, texts, probes, args.k))
            print(rows[-1], flush=True)
    baseline = rows[0]
    for row in rows:
        row["search_p50_vs_lancedb"] = row["search_p50_ms"] / baseline["search_p50_ms"]
    write("store_milvus", {"k": args.k, "queries": args.queries, "dim": DIM}, rows,
          ["store", "items", "write_items_per_s", "optimize_s", "search_p50_ms", "search_p95_ms",
           "search_p50_vs_lancedb", "bm25_p50_ms", "recall@10_vs_exact"], args.out)


if __name__ == "__main__":
    main()
