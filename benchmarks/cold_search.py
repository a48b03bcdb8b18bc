"""A whole ``polyseek search`` command as a user runs it (a new process each time): wall, CPU and peak RSS,
in-process and with ``polyseek serve`` up on the same store, for this checkout beside a baseline checkout of
polyseek's ``src`` in the same run (runs interleaved, so both meet the same load).

    git archive e06c9cd src | (mkdir -p /tmp/i13/base && tar -x -C /tmp/i13/base)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cold_search.py --store /tmp/i13/s100k --items 100000 \\
        --baseline-src /tmp/i13/base/src --repeats 5

``--current-src`` runs the new side from an exported commit too (on a shared working tree, others' uncommitted
edits would otherwise be measured with it).

``--store`` is reused when it holds an index (else the mixed synthetic index of ``query_latency.py`` is built
there with ``--items`` items, which the current code snapshots in ``optimize()``); a baseline that predates the
snapshots ignores them. Each variant runs ``python -c "from polyseek.cli import main; main()" search ...`` with
``PYTHONPATH`` set to its ``src``; the page cache is warm for both (the first run of each is discarded). The
hits of both variants are compared (commits in between may change rankings on purpose), and each in-process
query of the current variant is run once more through the full CLI (``polyseek.cli.app``: Typer and a
``LanceStore``, no fast path; not timed): ``hits_identical_to_full_cli`` says whether the fast path changed a
result. A store whose snapshots predate today's format (``optimize()`` of an older commit) is read through Lance;
``LanceStore(PATH).build_shortlists()`` rewrites them for its current version. A cold command keeps the
calibration's background samples beside the snapshots for the next command on the same table version (the
discarded first run writes them; a store folder that is not writable has every command draw them); ``--fresh``
also times the first command after an ``optimize()``, which draws and keeps them (the kept file is removed before
each of those runs).

With the server up, each query's hits (the command's and a direct ``POST /api/search``'s) must equal the in-process
command's for the same query (``served_hits_identical_to_in_process``), and two more rows say where a served
command's time goes: ``python -c pass`` alone (the interpreter's start and exit) and the request alone from a warm
process (its round trip, and the server's own ``took_ms``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

QUERIES = ["a dog running on grass", "quarterly revenue by region", "the lighthouse on the harbour", "a cup of coffee",
           "rocket launch at night", "the ferry timetable", "notes from the meeting", "a galaxy through a telescope"]
CLI = "from polyseek.cli import main; main()"
FULL_CLI = "import sys; from polyseek.cli.app import main; main(sys.argv[1:])"  # Typer, LanceStore: no fast path


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The commands' environment: bytecode is written and read as in an installed package (with
    ``PYTHONDONTWRITEBYTECODE`` set, as on the project's shared machine, every module edited since its ``.pyc`` was
    written is compiled again by every command: ~0.5 s of CPU after a day of edits; the discarded first run of each
    variant writes them)."""
    env = {**os.environ, **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def forget_kept(store: Path) -> None:
    """Remove what earlier commands kept beside the store's snapshots (the calibration's samples,
    ``SnapshotStore.keep_derived``): the next command runs as the first one after an ``optimize()`` does."""
    for kept in (store / "_shortlists" / "rows.table").glob("derived-*.npz"):
        kept.unlink()


def popen_rusage(src: str | None, store: Path, text: str, json_output: bool, entry: str = CLI, fresh: bool = False) -> dict:
    """One command in a new process: wall seconds, CPU seconds (user + system) and peak RSS of that process
    (``os.wait4``), and the hit ids (with ``--json``); ``fresh``: as the first command after an ``optimize()``."""
    if fresh:
        forget_kept(store)
    env = child_env({"POLYSEEK_TIMINGS": "0", "HF_HUB_OFFLINE": "1"})
    env.pop("POLYSEEK_STORE", None)
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, "-c", entry, "search", text, "--store", str(store), "-k", "10"] + (["--json"] if json_output else [])
    out_path = store.parent / f".cold-search-{os.getpid()}.out"
    with open(out_path, "wb") as out, open(os.devnull, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text_out = out_path.read_text()
    out_path.unlink()
    if process.returncode != 0:
        raise RuntimeError(f"search failed ({process.returncode}) for {src or 'current'}")
    ids = [h["id"] for h in json.loads(text_out)["hits"]] if json_output else []
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_bytes": usage.ru_maxrss * 1024, "ids": ids}


def summarise(method: str, items: int, runs: list[dict], **extra) -> dict:
    return {"method": method, "items": items, "runs": len(runs),
            "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
            "wall_s_min": round(min(r["wall_s"] for r in runs), 3),
            "share_wall_le_0_15": round(sum(r["wall_s"] <= 0.15 for r in runs) / len(runs), 2),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "rss_mb_median": round(statistics.median(r["rss_bytes"] for r in runs) / 2**20, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()], **extra}


def ensure_store(store: Path, items: int) -> None:
    if (store / "catalog.sqlite").exists():
        return
    import numpy as np
    import query_latency

    from polyseek.engine import Engine

    engine = Engine(store)
    engine.spaces.ensure(engine.store)
    query_latency.build(engine, items, np.random.default_rng(0))
    engine.close()


def interpreter_alone() -> dict:
    """``python -c pass`` in a new process: the floor under any command (interpreter start, site, exit)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", "pass"], env=child_env({}))
    _, _, usage = os.wait4(process.pid, 0)
    return {"wall_s": time.perf_counter() - started, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_bytes": usage.ru_maxrss * 1024}


def post_search(store: Path, text: str) -> dict:
    """One ``POST /api/search`` from this (warm) process to the server of ``store``: the round trip's wall seconds,
    and the server's own time for the search (``took_ms``) as ``cpu_s``'s neighbour ``server_s``."""
    import urllib.request

    url = json.loads((store / "serve.json").read_text())["url"].rstrip("/") + "/api/search"
    request = urllib.request.Request(url, data=json.dumps({"text": text, "k": 10}).encode(),
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        payload = json.loads(answer.read())
    return {"wall_s": time.perf_counter() - started, "cpu_s": 0.0, "rss_bytes": 0,
            "server_s": payload["took_ms"] / 1000, "ids": [h["id"] for h in payload["hits"]]}


def start_server(store: Path, src: str | None = None) -> subprocess.Popen:
    """``polyseek serve`` on ``store`` (from ``src`` when given: the same code as the 'current' clients)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = child_env({"HF_HUB_OFFLINE": "1", **({"PYTHONPATH": src} if src else {})})
    server = subprocess.Popen([sys.executable, "-c", CLI, "serve", "--store", str(store), "--port", str(port), "--warm"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    while not (store / "serve.json").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("polyseek serve did not start")
        time.sleep(0.3)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--items", type=int, default=100000, help="items of the synthetic index built when --store has none")
    parser.add_argument("--baseline-src", default=None, help="a baseline checkout's src folder (git archive COMMIT src)")
    parser.add_argument("--baseline-name", default="baseline")
    parser.add_argument("--current-src", default=None,
                        help="run 'current' from this src folder (git archive COMMIT src) instead of the working tree, "
                             "so that other people's uncommitted edits do not enter the figure")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--served-repeats", type=int, default=None,
                        help="commands per variant with the server up (default: --repeats); they take ~0.1-0.5 s each")
    parser.add_argument("--no-server", action="store_true", help="skip the runs with polyseek serve up")
    parser.add_argument("--fresh", action="store_true",
                        help="also time the first in-process command after optimize() (it removes what earlier commands "
                             "kept beside the store's snapshots before each of those runs: the store must be writable)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--name", default="cold_search", help="results file name (results/NAME.json and .md)")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        ensure_store(args.store, args.items)
        return
    # in child processes: a forked child's peak RSS counts the parent's pages until it execs, so this process
    # stays small (no polyseek import here)
    subprocess.run([sys.executable, __file__, "--build-only", "--store", str(args.store), "--items", str(args.items)], check=True)
    items = int(subprocess.run([sys.executable, "-c", "import sys; from polyseek.stores.lancedb import LanceStore; "
                                "print(LanceStore(sys.argv[1]).count())", str(args.store)],
                               check=True, capture_output=True, text=True).stdout)
    variants = [("current", args.current_src)] + ([(args.baseline_name, args.baseline_src)] if args.baseline_src else [])
    rows: list[dict] = []
    mismatches: list[str] = []
    full_mismatches: list[str] = []  # current's fast path against current's full CLI
    in_process_ids: dict[str, list[str]] = {}  # current's in-process hits by query: the served ones must equal them
    served_mismatches: list[str] = []
    breakdown: dict[str, list[dict]] = {"interpreter": [], "post": []}
    for setting in (["in-process"] + ([] if args.no_server else ["server up"])):
        server = start_server(args.store, args.current_src) if setting == "server up" else None
        try:
            for name, src in variants:  # discarded: page cache, the server's first search
                popen_rusage(src, args.store, QUERIES[0], True)
            runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
            table_runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
            fresh_runs: list[dict] = []  # current, in-process, as the first command after optimize()
            for i in range(args.repeats if setting == "in-process" else args.served_repeats or args.repeats):
                text = QUERIES[i % len(QUERIES)]
                for name, src in variants if i % 2 == 0 else variants[::-1]:
                    runs[name].append(popen_rusage(src, args.store, text, True))
                    if setting == "server up":  # the table imports rich: the server-up path's other half
                        table_runs[name].append(popen_rusage(src, args.store, text, False))
                    print(f"{setting} {name} {text!r}: {runs[name][-1]['wall_s']:.2f} s wall, "
                          f"{runs[name][-1]['cpu_s']:.2f} s CPU", flush=True)
                if len(variants) > 1 and runs["current"][-1]["ids"] != runs[variants[1][0]][-1]["ids"]:
                    mismatches.append(f"{setting}: {text!r}")
                if setting == "in-process":
                    in_process_ids[text] = runs["current"][-1]["ids"]
                else:  # where the time of a served command goes: the interpreter alone, the request alone
                    breakdown["interpreter"].append(interpreter_alone())
                    breakdown["post"].append(post_search(args.store, text))
                    for answer in (runs["current"][-1]["ids"], breakdown["post"][-1]["ids"]):
                        if text in in_process_ids and answer != in_process_ids[text]:
                            served_mismatches.append(text)
                if setting == "in-process":  # the same code through the full CLI (LanceStore, Typer): same hits?
                    full = popen_rusage(args.current_src, args.store, text, True, FULL_CLI)
                    if full["ids"] != runs["current"][-1]["ids"]:
                        full_mismatches.append(text)
                    if args.fresh:  # no samples kept yet: this command draws them (and keeps them for the next)
                        fresh_runs.append(popen_rusage(args.current_src, args.store, text, True, fresh=True))
                        if fresh_runs[-1]["ids"] != runs["current"][-1]["ids"]:
                            mismatches.append(f"first after optimize: {text!r}")
            for name, _ in variants:
                rows.append(summarise(f"`polyseek search --json`, {setting}, {name}", items, runs[name]))
                if table_runs[name]:
                    rows.append(summarise(f"`polyseek search` (table), {setting}, {name}", items, table_runs[name]))
            if fresh_runs:
                rows.append(summarise("`polyseek search --json`, in-process, first command after optimize(), current",
                                      items, fresh_runs))
            if setting == "server up":
                rows.append(summarise("`python -c pass` (interpreter start and exit alone)", items, breakdown["interpreter"]))
                rows.append(summarise("`POST /api/search` from a warm process (round trip alone)", items, breakdown["post"],
                                      server_search_s_median=round(statistics.median(r["server_s"] for r in breakdown["post"]), 4)))
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()
    if len(variants) > 1:
        for row in rows:
            if row["method"].endswith(", current"):
                method = row["method"].replace(" first command after optimize(),", "")
                base = next(r for r in rows if r["method"] == method.replace(", current", f", {args.baseline_name}"))
                row["wall_vs_baseline"] = round(row["wall_s_median"] / base["wall_s_median"], 3)
                row["cpu_vs_baseline"] = round(row["cpu_s_median"] / base["cpu_s_median"], 3)
    write(args.name, {"store": str(args.store), "items": items, "repeats": args.repeats,
                          "baseline_src": args.baseline_src, "current_src": args.current_src or "working tree",
                          "hits_identical": not mismatches, "mismatches": mismatches,
                          "hits_identical_to_full_cli": not full_mismatches, "full_cli_mismatches": full_mismatches,
                          "served_hits_identical_to_in_process": None if args.no_server else not served_mismatches,
                          "served_mismatches": served_mismatches,
                          "command": " ".join(sys.argv)},
          rows, ["method", "items", "runs", "wall_s_median", "wall_s_min", "share_wall_le_0_15", "cpu_s_median", "rss_mb_median", "wall_vs_baseline",
                 "cpu_vs_baseline", "server_search_s_median", "load_average"], args.out)


if __name__ == "__main__":
    main()
