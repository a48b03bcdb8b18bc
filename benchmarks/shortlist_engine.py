"""The store calls an engine text query makes, at 1M vectors, through the quantised shortlist as shipped.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/shortlist_engine.py --items 1000000 --queries 50

``query_latency.py --vector-sizes`` times ``store.search(space, q, 10)`` with no filter. An engine query asks more
of each dense space: its depth (50 candidates for 10 results), then each kind of item's own top (the calibration
policy: photos, documents, notes), all for the same query vector. Here, on the same synthetic vectors
(``ann_baselines.vectors``, cached under ``--cache``):

1. through the LanceDB store built by ``ann_baselines`` (one kind): k = 10 and k = 50, recall@10 against exact;
2. through a shortlist of the same vectors with three kinds (50 % image, 30 % page, 20 % text, shuffled, as in
   ``query_latency.py``'s mixed items), written to ``--cache``: the four searches of one query (none, then each
   kind, k = 50), timed together, with each one's recall@10 against the exact top of its kind;
3. numpy brute force over the memory-mapped float32 vectors, in the same run (20 queries).

``--kinds-only`` skips 1. and generates the same vectors in RAM instead of caching them (the disk then holds the
shortlist alone, ~1.65 GB at 1M); step 2 then also times each query's four searches with the exact scores re-read
for every search (as before 2026-11-29 session 7: no reuse between a query's searches), query by query in turn.

Rows are merged into ``results/shortlist_engine.json`` (+ ``.md``) with the load average and commit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import ann_baselines  # noqa: E402
from _report import write  # noqa: E402

import polyseek.stores.lancedb as lance_module  # noqa: E402
import polyseek.stores.shortlist as shortlist_module  # noqa: E402
from polyseek.stores import open_store  # noqa: E402
from polyseek.types import Filters, Modality  # noqa: E402

KINDS = (("image", "jpg", 0.5), ("page", "pdf", 0.3), ("text", "md", 0.2))
PER_KIND = [None, Filters(modalities=(Modality.IMAGE,)), Filters(modalities=(Modality.PAGE, Modality.REGION)),
            Filters(modalities=(Modality.TEXT,))]


def row(method: str, items: int, samples: list[float], **extra) -> dict:
    return {"method": method, "items": items, "p50_ms": round(float(np.percentile(samples, 50)), 2),
            "p95_ms": round(float(np.percentile(samples, 95)), 2), **extra}


def through_store(n: int, data: np.ndarray, qs: np.ndarray, truth: np.ndarray, cache: Path, count: int) -> list[dict]:
    folder = cache / f"lance-{n}"
    if not (folder / "items.lance").exists():
        ann_baselines.polyseek_methods(data, cache, str(n))  # writes the store (and its shortlist)
    store = open_store(folder)
    if store.shortlists.get("image", store.table.version) is None:  # none yet, or one of an older format
        saved = lance_module.SHORTLIST_MIN_ROWS
        lance_module.SHORTLIST_MIN_ROWS = 0
        started = time.perf_counter()
        store.build_shortlists()
        lance_module.SHORTLIST_MIN_ROWS = saved
        (folder / "shortlist.build_s").write_text(str(time.perf_counter() - started))
    shortlist = store.shortlists.get("image", store.table.version)
    assert shortlist is not None
    rows = []
    for k in (10, 50):
        store.search("image", qs[0], k)
        times, recalls = [], []
        for i in range(count):
            shortlist._recent.clear()  # each query is new
            started = time.perf_counter()
            got = store.search("image", qs[i], k)
            times.append((time.perf_counter() - started) * 1000)
            recalls.append(ann_baselines.recall([int(x[1:]) for x, _ in got[:10]], truth[i]))
        rows.append(row(f"polyseek shortlist through the store, k={k} (no filter)", n, times,
                        **{"recall@10": round(float(np.mean(recalls)), 4)}, ram_bytes_per_item=round(shortlist.ram_bytes / n, 1),
                        setting=f"nprobe {shortlist.nprobe()}, rescore {max(shortlist_module.RESCORE, 10 * k)}"))
    store.close()
    return rows


def in_memory(n: int, seed: int = 0) -> np.ndarray:
    """The vectors ``ann_baselines.vectors(n, cache)`` would write, generated in RAM."""
    generator = ann_baselines._generator(seed)
    rng = np.random.default_rng(seed + 1)
    out = np.empty((n, ann_baselines.DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        out[s : s + 100_000] = generator(rng, min(100_000, n - s))
    return out


def with_kinds(n: int, data: np.ndarray, qs: np.ndarray, cache: Path, count: int, compare: bool = False) -> list[dict]:
    folder = cache / f"shortlist-kinds-{n}"
    kinds = np.concatenate([np.full(round(n * share), name) for name, _, share in KINDS])[:n]
    kinds = np.concatenate([kinds, np.full(n - len(kinds), KINDS[0][0])])
    np.random.default_rng(0).shuffle(kinds)
    exts = np.select([kinds == name for name, _, _ in KINDS], [ext for _, ext, _ in KINDS], default="")
    meta = folder / "meta.json"
    build_s = None
    if not meta.exists() or f'"format": {shortlist_module.FORMAT}' not in meta.read_text():
        started = time.perf_counter()
        shortlist_module.build(folder, data, [f"i{j}" for j in range(n)], kinds.tolist(), exts.tolist(), np.zeros(n), 1)
        build_s = round(time.perf_counter() - started, 1)
    shortlist = shortlist_module.Shortlist(folder)
    masks = [np.ones(n, dtype=bool)] + [np.isin(kinds, [m.value for m in f.modalities]) for f in PER_KIND[1:]]
    for f in PER_KIND:
        shortlist.search(qs[0], 50, f)
    times, recalls, before = [], [[] for _ in PER_KIND], []
    rescored = getattr(shortlist, "_rescored", {})
    for i in range(count):
        if compare:  # the same four searches, no exact score reused between them (each starts from cold lists)
            shortlist._recent.clear()
            rescored.clear()
            started = time.perf_counter()
            again = []
            for f in PER_KIND:
                again.append(shortlist.search(qs[i], 50, f))
                rescored.clear()
            before.append((time.perf_counter() - started) * 1000)
        shortlist._recent.clear()
        rescored.clear()
        started = time.perf_counter()
        found = [shortlist.search(qs[i], 50, f) for f in PER_KIND]
        times.append((time.perf_counter() - started) * 1000)
        if compare:
            assert [[i for i, _ in a] for a in again] == [[i for i, _ in f] for f in found]
        scores = np.asarray(data @ qs[i])
        for j, mask in enumerate(masks):
            truth = np.argpartition(-np.where(mask, scores, -np.inf), 10)[:10]
            recalls[j].append(ann_baselines.recall([int(x[1:]) for x, _ in found[j][:10]], truth))
    per_kind = {("all", "image", "document", "text")[j]: round(float(np.mean(r)), 4) for j, r in enumerate(recalls)}
    setting = f"nprobe {shortlist.nprobe()}, filter exponent {shortlist_module.FILTER_EXPONENT}"
    out = [row("polyseek shortlist, one engine query's 4 searches of a space (none + 3 kinds, k=50)", n, times,
               **{"recall@10": min(per_kind.values())}, recall_per_filter=per_kind,
               ram_bytes_per_item=round(shortlist.ram_bytes / n, 1), build_s=build_s, setting=setting)]
    if compare:
        out.append(row("the same 4 searches, exact scores re-read per search (before session 7), same run", n, before,
                       **{"recall@10": min(per_kind.values())}, setting=setting))
    return out


def numpy_rows(n: int, data: np.ndarray, qs: np.ndarray) -> list[dict]:
    times = []
    for i in range(20):
        started = time.perf_counter()
        np.argpartition(-(data @ qs[i]), 10)[:10]
        times.append((time.perf_counter() - started) * 1000)
    return [row("numpy brute force (float32, memory-mapped), same run", n, times, **{"recall@10": 1.0},
                ram_bytes_per_item=ann_baselines.DIM * 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/perf"))
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--kinds-only", action="store_true",
                        help="only the shortlist with kinds (vectors generated in RAM, not cached), beside no reuse")
    args = parser.parse_args()
    if args.items < 1000 or not 1 <= args.queries <= 200:
        parser.error("--items must be at least 1000 and --queries between 1 and 200")
    qs = ann_baselines.queries(200)
    if args.kinds_only:
        data = in_memory(args.items)
        rows = with_kinds(args.items, data, qs, args.cache, args.queries, compare=True)
    else:
        data = ann_baselines.vectors(args.items, args.cache)
        truth = ann_baselines.exact_top(data, qs, args.cache, str(args.items))
        rows = through_store(args.items, data, qs, truth, args.cache, args.queries)
        rows += with_kinds(args.items, data, qs, args.cache, args.queries)
    rows += numpy_rows(args.items, data, qs)
    write("shortlist_engine", {"args": sys.argv[1:], "queries": args.queries, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "load_average_end": [round(x, 2) for x in os.getloadavg()]}, rows,
          ["method", "items", "p50_ms", "p95_ms", "recall@10", "ram_bytes_per_item", "build_s", "setting"], args.out)


if __name__ == "__main__":
    main()
