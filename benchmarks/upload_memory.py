"""Server memory under concurrent worst-case image uploads: peak and retained RSS of a live server process.

Two worst cases, each sent by N clients at once to ``POST /api/search``: the image of issue 11, a ~231 KB PNG of
8,900 x 8,900 pixels (under the 80-megapixel cap, 238 MB once decoded; now refused from its header by the decoder's
memory budget, ``polyseek.ingest.images.MAX_DECODE_BYTES``), and the largest flat PNG that budget still decodes
whole (5,600 x 5,600, 94 MB as RGB). Each configuration runs in its own server process (uvicorn on loopback,
deterministic encoders, a small indexed collection), side by side in the same run:

- ``unbounded``: as many decodes at once as uploads (``max_concurrent_decodes=N``), the old behaviour;
- ``bounded``: the server's default gate (``max_concurrent_decodes=2``).

Peak RSS is the kernel's high-water mark (``VmHWM``) of the server process; retained RSS is ``VmRSS`` a second
after the last answer.

    .venv/bin/python benchmarks/upload_memory.py --clients 8 --rounds 2 --sides 8900 5600
    .venv/bin/python benchmarks/upload_memory.py --clients 8 --rounds 2 --sides 8900 5600 --encoders default
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

SERVER = r"""
import sys, uvicorn
from polyseek.engine import Engine
from polyseek.server import create_app
store, port, decodes, encoders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = {"image_encoder": "deterministic", "text_encoder": "deterministic"} if encoders == "deterministic" else {}
engine = Engine(store, **names)
app = create_app(engine, max_concurrent_decodes=decodes, max_concurrent_searches=8, search_queue=64,
                 max_upload_bytes=64 * 1024 * 1024, close_engine=True)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worst_case_png(side: int) -> bytes:
    """A flat-colour PNG: tiny on the wire, ``side`` x ``side`` RGB pixels once decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 160, 200)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024
    return out


def encoder_names(encoders: str) -> dict[str, str]:
    return {"image_encoder": "deterministic", "text_encoder": "deterministic"} if encoders == "deterministic" else {}


def build_store(folder: Path, encoders: str) -> Path:
    from PIL import Image

    from polyseek.engine import Engine

    photos = folder / "photos"
    photos.mkdir(parents=True)
    for i in range(12):
        Image.new("RGB", (64, 48), ((i * 40) % 256, (i * 90) % 256, 128)).save(photos / f"p{i}.png")
    store = folder / "store"
    with Engine(str(store), **encoder_names(encoders)) as engine:
        engine.index([photos])
    return store


def run_case(name: str, store: Path, decodes: int, payload: bytes, side: int, clients: int, rounds: int,
             encoders: str) -> dict:
    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(store), str(port), str(decodes), encoders])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"{name}: the server did not start")
            time.sleep(0.2)
        small = worst_case_png(64)  # loads both encoders before the baseline is read
        httpx.post(f"{base}/api/search", files={"image": ("warm.png", small, "image/png")}, data={"text": "warm up"},
                   timeout=120)
        before = memory(server.pid)
        statuses: list[int] = []
        started = time.perf_counter()

        def upload(_: int) -> int:
            files = {"image": ("worst.png", payload, "image/png")}
            return httpx.post(f"{base}/api/search", files=files, data={"k": "3"}, timeout=600).status_code

        with ThreadPoolExecutor(clients) as pool:
            for _ in range(rounds):
                statuses += list(pool.map(upload, range(clients)))
        elapsed = time.perf_counter() - started
        time.sleep(1.0)
        after = memory(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return {"case": name, "image": f"{side}x{side} PNG, {len(payload) / 1024:,.0f} KB", "side": side,
            "max_concurrent_decodes": decodes, "clients": clients, "uploads": len(statuses),
            "ok": sum(s == 200 for s in statuses), "refused_413": sum(s == 413 for s in statuses),
            "other": sum(s not in (200, 413) for s in statuses), "rss_before_mb": round(before["VmRSS"], 1),
            "peak_rss_mb": round(after["VmHWM"], 1), "peak_over_start_mb": round(after["VmHWM"] - before["VmRSS"], 1),
            "retained_rss_mb": round(after["VmRSS"], 1), "seconds": round(elapsed, 2),
            "s_per_upload": round(elapsed / max(1, len(statuses)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sides", type=int, nargs="+", default=[8900, 5600])
    parser.add_argument("--bounded", type=int, default=2, help="max_concurrent_decodes of the bounded case")
    parser.add_argument("--goal-mb", type=float, default=2048)
    parser.add_argument("--encoders", choices=["deterministic", "default"], default="deterministic",
                        help="deterministic: plumbing only (small server); default: polyseek's own encoders loaded")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="polyseek-upload-memory-") as tmp:
        store = build_store(Path(tmp), args.encoders)
        for side in args.sides:
            payload = worst_case_png(side)
            baseline = run_case("unbounded (one decode per upload)", store, args.clients, payload, side, args.clients,
                                args.rounds, args.encoders)
            bounded = run_case(f"bounded ({args.bounded} decodes at once)", store, args.bounded, payload, side,
                               args.clients, args.rounds, args.encoders)
            for row in (baseline, bounded):
                row["peak_vs_unbounded"] = round(row["peak_rss_mb"] / baseline["peak_rss_mb"], 3)
            rows += [baseline, bounded]
    bounded_rows = [row for row in rows if row["max_concurrent_decodes"] == args.bounded]
    results = {"encoders": args.encoders, "goal": {"peak_rss_mb_at_most": args.goal_mb, "clients": args.clients},
               "bounded_meets_goal": all(row["peak_rss_mb"] <= args.goal_mb and row["other"] == 0 for row in bounded_rows)}
    name = "upload_memory" if args.encoders == "deterministic" else f"upload_memory_{args.encoders}_encoders"
    write(name, results, rows,
          ["image", "case", "uploads", "ok", "refused_413", "rss_before_mb", "peak_rss_mb", "peak_over_start_mb",
           "retained_rss_mb", "s_per_upload", "peak_vs_unbounded"], args.out)


if __name__ == "__main__":
    main()
