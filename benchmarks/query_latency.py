"""Whole query path: ``Engine.search`` with the default encoders on mixed indexes of synthetic items, beside
the store alone and numpy brute force over the same vectors, in the same run.

    .venv/bin/python benchmarks/query_latency.py --sizes 10000 100000 --queries 60

Items are synthetic (clustered 384-d vectors, random words for BM25): 50 % photos (image space only), 30 % PDF
pages (both spaces and text), 20 % notes (both spaces and text). Queries are real: text through the aligner's
text side and bge-small, images through the aligner. Rows: one per (method, items) with p50/p95 in ms, recall@10
of the image space against exact search, and the RAM the dense spaces hold per item. Warm: encoders are loaded
and one query is run before timing. ``--timings`` adds the per-stage breakdown of Engine.search.

``--baseline-ref REF`` (a git commit) adds the same text queries through that commit's code and through this working
tree's, each in a fresh process of its own on the same store (the same protocol for both; neither shares its process
with the exact-scan rows), query by query in turn, which goes first alternating: a same-run ratio on a busy machine,
with the share of queries whose top 10 is identical (ids, and ids with every score: the hit's, each signal's, the
fused one). ``--require-identical`` makes the run fail (exit 1, after writing its files) when any differs.

``--store DIR`` keeps each size's built store under ``DIR/<size>`` and reuses it in later runs (the same seed draws
the same items), so that a latency run on a busy machine need not rebuild 100k items first.

``--vector-sizes 10000 100000 1000000`` adds one space of synthetic vectors at each size through the store alone
(exact, and the quantised shortlist used from 150k rows) beside numpy brute force, FAISS HNSW and IVF-PQ, usearch
and hnswlib (``benchmarks/ann_baselines.py``; builds cached under ``--cache``, 1.5 GB per million vectors). Each
method's knob is swept; its row is the fastest setting with recall@10 >= 0.95 (every setting is in the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import ann_baselines  # noqa: E402
from _report import write  # noqa: E402

from polyseek.engine import Engine  # noqa: E402
from polyseek.stores import Row  # noqa: E402
from polyseek.types import Filters, Modality  # noqa: E402

DIM = 384
WORDS = ("revenue harbour ferry lighthouse garden dog cat grass beach chart table quarterly region europe asia "
         "growth coffee rocket launch telescope galaxy meeting notes invoice contract tower bridge river mountain").split()
QUERIES = ["a dog running on grass", "quarterly revenue by region", "the lighthouse on the harbour", "a cup of coffee",
           "rocket launch at night", "the ferry timetable", "notes from the meeting", "a galaxy through a telescope",
           "children playing on the beach", "invoice total and due date"]


def clustered(rng, n: int, centres: np.ndarray) -> np.ndarray:
    x = centres[rng.integers(0, len(centres), size=n)] + rng.normal(scale=0.06, size=(n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def build(engine: Engine, size: int, rng, isotropic: bool = False, write: bool = True) -> dict[str, np.ndarray]:
    """Write ``size`` synthetic items into ``engine``'s store; ``write=False``: only draw them (the same draws from
    ``rng``), for a store built before from the same seed (``--store``)."""
    if isotropic:  # the set before 2026-11-29 14:00: no ANN reaches recall 0.95 cheaply on it, nor do real embeddings look so
        centres = rng.normal(size=(max(10, size // 100), DIM)).astype(np.float32)
        image, text = clustered(rng, size, centres), clustered(rng, size, centres)
    else:  # a decaying spectrum and a shared mean direction, as real embeddings have (ann_baselines.py)
        image = ann_baselines._generator(1)(rng, size)
        text = ann_baselines._generator(2)(rng, size)
    kinds = np.array(["image"] * (size // 2) + ["page"] * (3 * size // 10) + ["text"] * (size - size // 2 - 3 * size // 10))
    batch = 5000
    for start in range(0, size, batch):
        if not write:  # the words are drawn all the same, so that the rng continues as after a build
            for j in range(start, min(size, start + batch)):
                if kinds[j] != "image":
                    rng.choice(WORDS, size=12)
            continue
        rows = []
        for j in range(start, min(size, start + batch)):
            kind = kinds[j]
            words = " ".join(rng.choice(WORDS, size=12)) if kind != "image" else ""
            vectors = {"image": image[j]} if kind == "image" else {"image": image[j], "text": text[j]}
            rows.append(Row(id=f"i{j}", doc=f"/d/{j}", path=f"/d/{j}.{'jpg' if kind == 'image' else 'pdf' if kind == 'page' else 'md'}",
                            modality=kind, locator={"page": 1, "bbox": None} if kind == "page" else {}, text=words,
                            vectors=vectors))
        engine.store.upsert(rows)
    if write:
        engine.store.optimize()
    return {"image": image, "text": text, "kinds": kinds}


def forget_scores(engine: Engine) -> None:
    """Drop the store's recent query scores (exact scan and shortlists): the benchmark repeats its 10 texts, a
    user's queries are new."""
    getattr(engine.store, "_last_scores", {}).clear()
    shortlists = getattr(engine.store, "shortlists", None)
    for shortlist in getattr(shortlists, "_open", {}).values():
        shortlist._recent.clear()
        getattr(shortlist, "_rescored", {}).clear()


class exact_scan:  # noqa: N801 - a context manager
    """The store's exact float32 scan instead of its quantised shortlist (the same-run baseline of the engine rows)."""

    def __enter__(self) -> None:
        import polyseek.stores.lancedb as lance_module

        self.saved = lance_module.SHORTLIST_MIN_ROWS
        lance_module.SHORTLIST_MIN_ROWS = 1 << 62

    def __exit__(self, *exc: object) -> None:
        import polyseek.stores.lancedb as lance_module

        lance_module.SHORTLIST_MIN_ROWS = self.saved


def dense_ram(engine: Engine, size: int, exact: bool = False) -> float | None:
    """Bytes per item the dense spaces hold: the shortlists' codes and columns when they answer, else (or with
    ``exact``) the exact scan's float32 matrices (memory-mapped; counted in full, as the scan touches every page)."""
    store = engine.store
    shortlists = getattr(getattr(store, "shortlists", None), "_open", {})
    if shortlists and not exact:
        return sum(s.ram_bytes for s in shortlists.values()) / size
    flat = getattr(store, "_flat_cache", None)
    return None if flat is None else sum(m.nbytes for _, m, _ in flat.values()) / size


def timed(function, repeats, engine: Engine | None = None) -> list[float]:
    out = []
    for args in repeats:
        if engine is not None:
            forget_scores(engine)
        started = time.perf_counter()
        function(*args)
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(method: str, items: int, samples: list[float], **extra) -> dict:
    return {"method": method, "items": items, "p50_ms": round(float(np.percentile(samples, 50)), 2),
            "p95_ms": round(float(np.percentile(samples, 95)), 2), **extra}


class Baseline:
    """Another commit's code answering the same text queries on the same store, in its own process (``--worker``)."""

    def __init__(self, ref: str | None, store: Path, folder: Path, source: Path | None = None) -> None:
        """``ref`` None: this working tree's code, or the package folder ``source`` (a copy of some ``src``)."""
        repo = Path(__file__).resolve().parent.parent
        source = source or repo / "src"
        if ref is not None:
            archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
            source = folder / "src"
        env = {**os.environ, "PYTHONPATH": str(source)}
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", str(store)], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the worker for {ref} did not start")

    def trace(self, text: str) -> dict:
        self.stdin.write(json.dumps({"text": text}) + "\n")
        self.stdin.flush()
        return json.loads(self.stdout.readline())

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=60)


class StageCPU:
    """Each pipeline stage's CPU milliseconds in the last search: ``main`` (the searching thread's) and ``process``
    (all threads': the BM25 on LanceDB's, a second space's scan on the pool's). It wraps the stage functions that
    ``SearchPipeline.stages`` hands out, so the pipeline's own code runs as it is."""

    def __init__(self) -> None:
        from polyseek.search.pipeline import SearchPipeline

        self.last: dict[str, list[float]] = {}
        original = SearchPipeline.stages
        meter = self

        def stages(pipeline):
            def timed(name, stage):
                def run(ctx) -> None:
                    main, process = time.thread_time(), time.process_time()
                    stage(ctx)
                    meter.last[name] = [(time.thread_time() - main) * 1000, (time.process_time() - process) * 1000]
                return run
            return [(name, timed(name, stage)) for name, stage in original(pipeline)]

        SearchPipeline.stages = stages  # type: ignore[method-assign]


def stage_table(answers: list[dict]) -> dict[str, dict[str, float]]:
    """Median main-thread and process CPU per stage over the answers' ``stage_cpu`` (stages above 0.05 ms)."""
    names = dict.fromkeys(name for a in answers for name in a.get("stage_cpu", {}))
    out = {}
    for name in names:
        main = [a["stage_cpu"].get(name, [0.0, 0.0])[0] for a in answers]
        process = [a["stage_cpu"].get(name, [0.0, 0.0])[1] for a in answers]
        if np.median(process) >= 0.05:
            out[name] = {"main_ms": round(float(np.median(main)), 2), "process_ms": round(float(np.median(process)), 2)}
    return out


def worker(store: Path) -> None:
    """``--worker STORE``: text queries (one JSON line each on stdin) through ``Engine.trace`` of the polyseek on
    ``PYTHONPATH``; one JSON line each on stdout (wall and CPU milliseconds, each stage's CPU, the top 10 with
    every score)."""
    engine = Engine(store)
    meter = StageCPU()
    engine.search(QUERIES[0], k=10)
    print("ready", flush=True)
    for line in sys.stdin:
        forget_scores(engine)
        meter.last.clear()
        cpu = time.process_time()
        trace = engine.trace(json.loads(line)["text"], k=10, rerank=False)
        print(json.dumps({"ms": sum(trace.timings.values()), "cpu_ms": (time.process_time() - cpu) * 1000,
                          "stage_cpu": meter.last, "ids": [h.item.id for h in trace.hits],
                          "scores": [[h.score, h.scores] for h in trace.hits]}), flush=True)


def cold_commands(store: Path, repeats: int, log) -> list[dict]:
    """Wall time of a whole ``polyseek search`` process on ``store``: in-process, then with ``polyseek serve`` up."""
    import signal
    import socket

    cli = str(Path(sys.executable).with_name("polyseek"))
    env = {**os.environ, "POLYSEEK_TIMINGS": "0"}

    def once(text: str) -> float:
        started = time.perf_counter()
        subprocess.run([cli, "search", text, "--store", str(store), "-k", "10", "--json"], check=True,
                       capture_output=True, env=env)
        return (time.perf_counter() - started) * 1000

    rows = []
    texts = [QUERIES[i % len(QUERIES)] for i in range(repeats)]
    in_process = [once(t) for t in texts]
    rows.append(row("cold `polyseek search` (in-process), wall", -1, in_process, runs=repeats))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([cli, "serve", "--store", str(store), "--port", str(port), "--warm"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not (store / "serve.json").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        pid = json.loads((store / "serve.json").read_text())["pid"]
        log(f"server up (pid {pid})")
        once(texts[0])  # the server's first search: its own warm-up, not a cold command's
        served = [once(t) for t in texts]
        rows.append(row("cold `polyseek search` with `polyseek serve` up, wall", -1, served, runs=repeats))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    return rows


def run(size: int, queries: int, rng, timings: bool, cold: int = 0, baseline_ref: str | None = None,
        keep: Path | None = None, sources: tuple[Path | None, Path | None] = (None, None)) -> tuple[list[dict], dict]:
    """``keep``: build the store under ``keep/<size>`` once and reuse it in later runs (seed 0; a ``built.json`` there
    says it is complete), instead of in a temporary folder."""
    rows: list[dict] = []
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        store_path = Path(folder) / "store" if keep is None else keep / str(size) / "store"
        marker = store_path.parent / "built.json"
        reuse = keep is not None and marker.exists() and json.loads(marker.read_text()).get("items") == size
        if keep is not None and not reuse:
            import shutil

            shutil.rmtree(store_path, ignore_errors=True)  # a build cut short: start again
        engine = Engine(store_path)
        engine.spaces.ensure(engine.store)
        data = build(engine, size, rng, write=not reuse)
        if keep is not None and not reuse:
            marker.write_text(json.dumps({"items": size, "seed": 0}))
        texts = [QUERIES[i % len(QUERIES)] for i in range(queries)]
        pictures = [Image.fromarray(rng.integers(0, 255, size=(96, 128, 3), dtype=np.uint8)) for _ in range(max(4, queries // 4))]
        engine.search(texts[0], k=10)  # warm: encoders loaded, caches filled
        with exact_scan():
            engine.search(texts[0], k=10)
            exact_ram = dense_ram(engine, size, exact=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        ram = dense_ram(engine, size)
        documents = Filters(modalities=(Modality.PAGE, Modality.REGION))
        text_ms: dict[bool, list[float]] = {False: [], True: []}
        cpu_ms: dict[bool, list[float]] = {False: [], True: []}
        found: dict[bool, list[list[str]]] = {False: [], True: []}
        workers = {}
        if baseline_ref or sources[1] is not None:
            workers = {"now": Baseline(None, store_path, Path(folder), sources[0]),
                       "before": Baseline(None if sources[1] is not None else baseline_ref, store_path, Path(folder),
                                          sources[1])}
            baseline_ref = baseline_ref or str(sources[1])
        answers: dict[str, list[dict]] = {name: [] for name in workers}
        for n, text in enumerate(texts):  # the shipped path and the exact scan (and the two workers), in turn
            for name in sorted(workers, reverse=n % 2 == 1):
                answers[name].append(workers[name].trace(text))
            for scan in (False, True):
                with exact_scan() if scan else contextlib.nullcontext():
                    forget_scores(engine)
                    cpu = time.process_time()
                    trace = engine.trace(text, k=10, rerank=False)
                    cpu_ms[scan].append((time.process_time() - cpu) * 1000)
                    text_ms[scan].append(sum(trace.timings.values()))
                    found[scan].append([h.item.id for h in trace.hits])
                    found[scan].append([h.item.id for h in engine.search(text, k=10, filters=documents, rerank=False)])
                    for name, ms in trace.timings.items():
                        stages.setdefault(("exact: " if scan else "") + name, []).append(ms)
        recall = [len(set(a) & set(b)) / len(b) for a, b in zip(found[False], found[True]) if b]
        rows.append(row("polyseek text query (Engine.search, no rerank)", size, text_ms[False], ram_bytes_per_item=ram,
                        cpu_p50_ms=round(float(np.median(cpu_ms[False])), 2),
                        **{"recall@10": round(float(np.mean(recall)), 3)}))
        rows.append(row("polyseek text query (Engine.search, no rerank), exact scan: same-run baseline", size,
                        text_ms[True], ram_bytes_per_item=exact_ram, cpu_p50_ms=round(float(np.median(cpu_ms[True])), 2),
                        **{"recall@10": 1.0}))
        if workers:
            for worker_process in workers.values():
                worker_process.close()
            now, before = answers["now"], answers["before"]
            same = round(float(np.mean([a["ids"] == b["ids"] for a, b in zip(now, before)])), 3)
            scored = round(float(np.mean([a["ids"] == b["ids"] and a.get("scores") == b.get("scores")
                                          for a, b in zip(now, before)])), 3)
            for label, measured in ((f"this code, own process, beside {baseline_ref}", now),
                                    (f"code at {baseline_ref}, own process: same-run baseline", before)):
                cpu_each = [a["cpu_ms"] for a in measured]
                rows.append(row(f"polyseek text query (Engine.search, no rerank), {label}", size, [a["ms"] for a in measured],
                                cpu_p50_ms=round(float(np.median(cpu_each)), 2),
                                cpu_p95_ms=round(float(np.percentile(cpu_each, 95)), 2), identical_top10=same,
                                identical_scores=scored))
            ratios = [a["ms"] / b["ms"] for a, b in zip(now, before)]
            cpu_ratios = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(now, before)]
            rows[-2]["ratio_p50"] = round(float(np.median(ratios)), 3)  # query by query, this code over the baseline
            rows[-2]["cpu_ratio_p50"] = round(float(np.median(cpu_ratios)), 3)
            stage_cpu = {"this code": stage_table(now), baseline_ref: stage_table(before)}
        image_ms = timed(lambda p: engine.search(image=p, k=10), [(p,) for p in pictures], engine)
        rows.append(row("polyseek image query (Engine.search)", size, image_ms, ram_bytes_per_item=ram))
        for rerank in (False, True):
            ms = timed(lambda t: engine.search(t, k=10, filters=documents, rerank=rerank), [(t,) for t in texts[: max(5, queries // 3)]],
                       engine)
            rows.append(row(f"polyseek document query, rerank {'on' if rerank else 'off'}", size, ms))
        vectors = [engine.encoder("image").encode_queries([t])[0] for t in texts]
        exact = data["image"]
        store_ms, recalls, numpy_ms = [], [], []
        for q in vectors:
            forget_scores(engine)
            started = time.perf_counter()
            got = engine.store.search("image", q, 10)
            store_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            scores = exact @ q
            top = np.argpartition(-scores, 10)[:10]
            numpy_ms.append((time.perf_counter() - started) * 1000)
            recalls.append(len({f"i{j}" for j in top} & {i for i, _ in got}) / 10)
        rows.append(row("store only (LanceDB, image space)", size, store_ms, **{"recall@10": round(float(np.mean(recalls)), 3)},
                        ram_bytes_per_item=ram))
        rows.append(row("numpy brute force (float32, one space)", size, numpy_ms, **{"recall@10": 1.0},
                        ram_bytes_per_item=DIM * 4))
        engine.close()
        if cold:
            for cold_row in cold_commands(store_path, cold, lambda m: print(m, flush=True)):
                rows.append({**cold_row, "items": size})
    info: dict = {"peak_rss_bytes": rss}
    if workers:
        info["stage_cpu_ms_p50"] = stage_cpu
    if timings:
        info["stages_ms_p50"] = {name: round(float(np.percentile(v, 50)), 3) for name, v in stages.items()}
    return rows, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--cold", type=int, default=0, help="also time N whole `polyseek search` commands per size")
    parser.add_argument("--vector-sizes", type=int, nargs="*", default=[], help="store and ANN baselines on one space")
    parser.add_argument("--vector-queries", type=int, default=200)
    parser.add_argument("--no-build-above", type=int, default=0,
                        help="above this many vectors, leave out baselines whose index is not cached (0: build all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/perf"), help="cached vectors and baseline indexes")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--timings", action="store_true", help="record the per-stage p50 of the text queries")
    parser.add_argument("--baseline-ref", help="also run the text queries through this git commit's code, in turn")
    parser.add_argument("--baseline-src", type=Path,
                        help="instead of --baseline-ref: a copy of another ``src`` folder (--baseline-ref then names it)")
    parser.add_argument("--current-src", type=Path, help="the ``src`` folder of the code measured beside the baseline "
                        "(default: this working tree's; a copy keeps others' edits out of a long run)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help="keep the built stores under this folder and reuse them (seed 0)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--name", default="query_latency", help="the results files' name (NAME.json, NAME.md)")
    parser.add_argument("--require-identical", action="store_true",
                        help="with --baseline-ref: exit 1 unless every query's top 10 (ids and scores) equals the baseline's")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of an earlier results file that this run does not measure (each run's "
                             "commit, date and load average stay in details.runs)")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    rng = np.random.default_rng(0)
    load_start = [round(x, 2) for x in os.getloadavg()]
    rows, details = [], {}
    for size in args.sizes:
        size_rows, info = run(size, args.queries, rng, args.timings, args.cold, args.baseline_ref, args.store,
                              (args.current_src, args.baseline_src))
        rows += size_rows
        details[str(size)] = info
    for size in args.vector_sizes:
        size_rows, info = ann_baselines.run(size, args.vector_queries, args.cache, log=lambda m: print(m, flush=True),
                                            build_baselines=not args.no_build_above or size <= args.no_build_above)
        rows += size_rows
        details[f"vectors-{size}"] = info
    run_info = {"args": sys.argv[1:], "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()],
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for r in rows:
        r["run"] = run_info["date"]
    runs = [run_info]
    earlier = Path(args.out) / f"{args.name}.json"
    if args.merge and earlier.exists():
        old = json.loads(earlier.read_text())
        measured = {(r["method"], r["items"]) for r in rows}
        rows = [r for r in old["rows"] if (r["method"], r["items"]) not in measured] + rows
        rows.sort(key=lambda r: (r["items"], r["method"]))
        runs = old.get("details", {}).get("runs", []) + runs
        details = {**old.get("details", {}), **details}
    details["runs"] = runs
    write(args.name, {"sizes": args.sizes, "vector_sizes": args.vector_sizes, "queries": args.queries,
                            "details": details}, rows,
          ["method", "items", "p50_ms", "p95_ms", "cpu_p50_ms", "recall@10", "identical_top10", "ram_bytes_per_item", "build_s",
           "setting", "cpu_p95_ms", "identical_scores", "ratio_p50", "cpu_ratio_p50"], args.out)
    stage_lines = [f"\nLoad average: {load_start} at the start, {run_info['load_average_end']} at the end."]
    for size, info in details.items():
        table = info.get("stage_cpu_ms_p50") if isinstance(info, dict) else None
        if table:
            stage_lines += [f"\nCPU per stage, {size} items (median ms over the text queries, main thread / whole process):\n",
                            "| stage | " + " | ".join(table) + " |", "|---|" + "---|" * len(table)]
            for name in dict.fromkeys(n for t in table.values() for n in t):
                cells = [f"{t[name]['main_ms']} / {t[name]['process_ms']}" if name in t else "" for t in table.values()]
                stage_lines.append(f"| {name} | " + " | ".join(cells) + " |")
    with open(Path(args.out) / f"{args.name}.md", "a") as markdown:
        markdown.write("\n".join(stage_lines) + "\n")
    differing = [r for r in rows if r.get("identical_scores", 1.0) < 1.0 and r.get("run") == run_info["date"]]
    if args.require_identical and differing:
        print(f"top 10 differs from the baseline's: {[(r['method'], r['identical_scores']) for r in differing]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
