"""Server load benchmark: search requests/s and p50/p95 latency against a running ``polyseek serve`` on loopback,
for 1, 8 and 32 concurrent clients (bounded by a request count and a time limit), beside the same searches
called in-process on ``Engine.search`` (no HTTP) in the same run; optionally the time until the browser
paints the first results, on a synthetic collection of 10,000 items.

    .venv/bin/python benchmarks/load.py --items 10000 --clients 1 8 32 --seconds 10 --requests 2000 \\
        --text-encoder bge-small-onnx --image-encoder deterministic --browser

The collection is synthetic (random unit vectors, text from a fixed vocabulary, mixed modalities) so that
size is cheap to reach; query encoding is real for the encoders named. The load generator runs in this
process and shares the machine's cores with the server: on a 2-core box the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

VOCABULARY = (
    "harbour lighthouse ship river mountain forest beach city street market garden kitchen coffee espresso tea "
    "bread cheese dog cat horse bird fish whale rocket planet star galaxy telescope camera photo portrait family "
    "wedding birthday concert guitar piano violin football tennis bicycle train station airport bridge tower "
    "castle temple church museum painting statue library book letter report invoice contract meeting budget "
    "quarter revenue growth chart table figure engineer scientist doctor teacher student child winter summer "
    "autumn spring snow rain storm sunset sunrise night morning evening red green blue yellow black white old new"
).split()
MODALITIES = [("image", 0.4), ("text", 0.3), ("page", 0.2), ("video_moment", 0.1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def queries(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(VOCABULARY, rng.randint(2, 5))) for _ in range(count)]


def build_collection(store: Path, items: int, image_encoder: str, text_encoder: str, seed: int = 1) -> dict:
    """A LanceDB store with ``items`` synthetic rows in the spaces of the named encoders."""
    from polyseek.engine import Engine
    from polyseek.stores.base import Row

    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    seed_dir = Path(tempfile.mkdtemp(prefix="polyseek-load-"))
    (seed_dir / "seed.md").write_text("# Seed\nThis note creates the index description.\n")
    engine = Engine(str(store), image_encoder=image_encoder, text_encoder=text_encoder)
    engine.index([seed_dir])  # writes the index description (encoders, dims) the way a real run does
    dims = {space: int(engine.encoder(space).dim) for space in ("image", "text")}
    kinds = [m for m, _ in MODALITIES]
    weights = [w for _, w in MODALITIES]
    started = time.perf_counter()
    batch: list[Row] = []
    for i in range(items):
        modality = rng.choice(kinds, p=weights)
        text = "" if modality in ("image", "video_moment") else " ".join(words.choices(VOCABULARY, k=60))
        locator = {"page": int(i % 40) + 1, "bbox": None} if modality == "page" else (
            {"start": float(i % 600), "end": float(i % 600 + 5)} if modality == "video_moment" else {})
        suffix = {"image": "jpg", "text": "md", "page": "pdf", "video_moment": "mp4"}[modality]
        path = f"/synthetic/{modality}/{i // 1000:02d}/item{i:06d}.{suffix}"
        vectors = {}
        for space, dim in dims.items():
            if space == "text" and not text:
                continue
            vector = rng.standard_normal(dim).astype(np.float32)
            vectors[space] = vector / np.linalg.norm(vector)
        batch.append(Row(id=f"syn{i:07d}", doc=path, path=path, modality=str(modality), locator=locator, text=text,
                         metadata={}, date=1_700_000_000.0 + i, vectors=vectors))
        if len(batch) == 2000:
            engine.store.upsert(batch)
            batch = []
    if batch:
        engine.store.upsert(batch)
    engine.store.optimize()
    count = engine.store.count()
    names = engine.encoder_names()
    engine.close()
    return {"items": count, "build_s": time.perf_counter() - started, "encoders": names}


def summarise(case: str, clients: int, latencies: list[float], errors: int, elapsed: float) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000 if ordered else float("nan")

    return {"case": case, "clients": clients, "requests": len(latencies), "errors": errors,
            "seconds": round(elapsed, 2), "req_per_s": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


async def http_load(base: str, texts: list[str], clients: int, max_requests: int, max_seconds: float, k: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = busy = 0
    issued = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def worker(offset: int) -> None:
            nonlocal issued, errors, busy
            while time.perf_counter() < deadline and issued < max_requests:
                text = texts[(issued + offset) % len(texts)]
                issued += 1
                started = time.perf_counter()
                response = await client.post("/api/search", json={"text": text, "k": k})
                if response.status_code == 200 and "hits" in response.json():
                    latencies.append(time.perf_counter() - started)
                elif response.status_code == 503 and response.headers.get("Retry-After"):
                    busy += 1  # deliberate: the server's queue is full; a client waits as it is told, then retries
                    await asyncio.sleep(float(response.headers["Retry-After"]))
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i * 7) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {**summarise("HTTP POST /api/search", clients, latencies, errors, elapsed), "busy_503": busy}


def engine_load(engine, texts: list[str], clients: int, max_requests: int, max_seconds: float, k: int) -> dict:
    """The same searches on the facade in this process, from ``clients`` threads: the no-HTTP baseline."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds

    def worker(offset: int) -> None:
        while time.perf_counter() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            engine.search(texts[(index + offset) % len(texts)], k=k)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, [i * 7 for i in range(clients)]))
    return summarise("Engine.search in-process (baseline)", clients, latencies, 0, time.perf_counter() - started)


def browser_paint(base: str, texts: list[str], runs: int) -> dict:
    """Milliseconds from pressing Enter to the first result card in the DOM, in headless Debian chromium."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"]
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("POLYSEEK_CHROMIUM", "/usr/bin/chromium"), args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/")
        page.wait_for_selector("html[data-ready=true]")
        for text in texts[:runs]:
            page.fill("#q", text)
            page.evaluate("""() => { window.__painted = null; const results = document.querySelector('#results');
                const observer = new MutationObserver(() => {
                  if (results.querySelector('.card:not(.skeleton)')) {
                    requestAnimationFrame(() => { window.__painted = performance.now(); }); observer.disconnect(); } });
                observer.observe(results, {childList: true, subtree: true});
                results.replaceChildren(); window.__start = performance.now(); }""")
            page.press("#q", "Enter")
            page.wait_for_function("() => window.__painted !== null")
            times.append(page.evaluate("() => window.__painted - window.__start"))
        browser.close()
    ordered = sorted(times)
    return {"case": "browser: Enter → first results painted", "clients": 1, "requests": len(times), "errors": 0,
            "p50_ms": statistics.median(ordered), "p95_ms": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
            "mean_ms": statistics.fmean(ordered)}


def start_server(store: Path, port: int, image_encoder: str, text_encoder: str, slots: int) -> subprocess.Popen:
    import httpx

    command = [sys.executable, "-m", "polyseek", "serve", "--store", str(store), "--port", str(port),
               "--image-encoder", image_encoder, "--text-encoder", text_encoder, "--log-level", "warning",
               "--max-concurrent-searches", str(slots)]
    process = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit("polyseek serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per case")
    parser.add_argument("--requests", type=int, default=2000, help="request limit per case")
    parser.add_argument("--k", type=int, default=24, help="results per search (the UI asks for 24)")
    parser.add_argument("--image-encoder", default="aligner")
    parser.add_argument("--text-encoder", default="bge-small-onnx")
    parser.add_argument("--store", type=Path, default=None, help="reuse this synthetic store (built if missing)")
    parser.add_argument("--browser", action="store_true", help="also time first results painted in chromium")
    parser.add_argument("--max-concurrent-searches", type=int, default=0, help="the server's limit (0: its default)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    load_start = os.getloadavg()

    from polyseek.engine import Engine

    temp = tempfile.TemporaryDirectory(prefix="polyseek-load-store-")
    store = args.store or Path(temp.name) / "index"
    if not (store / "catalog.sqlite").exists():
        built = build_collection(store, args.items, args.image_encoder, args.text_encoder)
        print(f"built {built['items']} items in {built['build_s']:.1f} s with {built['encoders']}", file=sys.stderr)
    texts = queries(200)
    rows = []
    engine = Engine(str(store))
    for text in texts[-20:]:  # loads the encoders and warms the store: start-up, not throughput
        engine.search(text, k=args.k)
    encoders = engine.encoder_names()
    items = engine.store.count()
    port = free_port()
    server = start_server(store, port, encoders["image"], encoders["text"], args.max_concurrent_searches)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(http_load(base, texts[-20:], 4, 40, 30, args.k))  # warm-up: encoders loaded, connections open
        for clients in args.clients:  # baseline and HTTP back to back, so machine load drifts less between them
            baseline = engine_load(engine, texts, clients, args.requests, args.seconds, args.k)
            row = asyncio.run(http_load(base, texts, clients, args.requests, args.seconds, args.k))
            row["ratio_vs_baseline"] = row["req_per_s"] / baseline["req_per_s"] if baseline["req_per_s"] else float("nan")
            rows += [baseline, row]
        if args.browser:
            rows.append(browser_paint(base, texts[50:], 15))
    finally:
        server.terminate()
        server.wait(10)
        engine.close()
    rows.sort(key=lambda r: (r["case"].startswith("browser"), r["clients"], not r["case"].startswith("Engine")))
    results = {"items": items, "encoders": encoders, "k": args.k,  # load_average: at the end of the run "max_concurrent_searches": args.max_concurrent_searches or "default", "limits": {"seconds": args.seconds, "requests": args.requests},
               "load_average": os.getloadavg(), "load_average_start": load_start}
    http = {r["clients"]: r for r in rows if r["case"].startswith("HTTP")}
    if 8 in http and 32 in http and http[8]["req_per_s"]:  # the goal: 32 clients keep >= 0.9x of 8 clients' throughput
        http[32]["vs_8_clients"] = http[32]["req_per_s"] / http[8]["req_per_s"]
    for row in http.values():
        row["p95_over_p50"] = row["p95_ms"] / row["p50_ms"] if row["p50_ms"] else float("nan")
    results["command"] = " ".join(sys.argv)
    write("load", results, rows, ["case", "clients", "requests", "errors", "busy_503", "req_per_s", "p50_ms", "p95_ms",
                                  "p99_ms", "p95_over_p50", "ratio_vs_baseline", "vs_8_clients"], args.out)
    temp.cleanup()


if __name__ == "__main__":
    main()
