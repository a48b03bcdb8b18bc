"""Peak memory while indexing a long generated video, against a short one in the same run.

Both videos come from the benchmark generator (real photos as shots, about half narrated). Each is indexed
into a fresh store by a child process that loads the models first, then indexes, sampling its resident memory
(VmRSS) every half second against the media time reached. Bounded memory means the long video's peak is close
to the short one's, not proportional to its length.

    .venv/bin/python benchmarks/moments/memory.py --data ../shared/eval/flickr8k --long-minutes 120 --short-minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(video: str, store: str, image_encoder: str | None, text_encoder: str | None) -> None:
    """Index one video; print one JSON line with the memory timeline."""
    from polyseek.engine import Engine
    from polyseek.ingest.speech import load_whisper

    engine = Engine(store, image_encoder=image_encoder, text_encoder=text_encoder)
    engine.encoder("image"), engine.encoder("text"), load_whisper()
    models_mb = rss_mb()
    media = {"done": 0.0}
    timeline: list[tuple[float, float, float]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not stop.wait(0.5):
            timeline.append((round(time.perf_counter() - started, 1), media["done"], round(rss_mb(), 1)))

    def on_progress(event) -> None:
        if event.files_done < 0 and event.detail.endswith(" s"):
            media["done"] = float(event.detail.split("/")[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = time.process_time()
    summary = engine.index([video], on_progress=on_progress)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    stop.set()
    sampler.join()
    engine.close()
    print(json.dumps({"models_mb": models_mb, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "wall_seconds": wall, "cpu_seconds": cpu, "items": summary.items, "failed": list(summary.failed),
                      "timeline": timeline}))


def measure(video: Path, duration: float, image_encoder: str | None, text_encoder: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="polyseek-mem-") as folder:
        command = [sys.executable, __file__, "--child", str(video), "--store", str(Path(folder) / "store")]
        if image_encoder:
            command += ["--image-encoder", image_encoder]
        if text_encoder:
            command += ["--text-encoder", text_encoder]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["failed"]:
        raise SystemExit(f"indexing failed: {result['failed']}")
    result["media_seconds"] = duration
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval/flickr8k"))
    parser.add_argument("--workdir", type=Path, default=Path("scratch/moments/memory"))
    parser.add_argument("--long-minutes", type=float, default=120.0)
    parser.add_argument("--short-minutes", type=float, default=10.0)
    parser.add_argument("--image-encoder", default=None)
    parser.add_argument("--text-encoder", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.store, args.image_encoder, args.text_encoder)
        return

    from _report import write
    from generate import generate

    rows, runs = [], {}
    for label, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
        # one video of the wanted length: the dev photos, cycled as often as needed (about 9 s a shot)
        repeat = max(1, int(minutes * 60 / (9.0 * 250)) + 1)
        manifest = generate(args.data, args.workdir / f"{label}-{minutes:g}min", split="dev", seed=1, minutes=minutes,
                            repeat=repeat, max_videos=1)
        video = manifest["videos"][0]
        path = args.workdir / f"{label}-{minutes:g}min" / video["file"]
        result = measure(path, video["duration"], args.image_encoder, args.text_encoder)
        runs[label] = result
        rows.append({"video": f"{label}: {video['duration'] / 60:.1f} min, {len(video['shots'])} shots",
                     "moments": result["items"], "RSS after model load (MB)": result["models_mb"],
                     "peak RSS (MB)": result["peak_rss_mb"],
                     "peak − models (MB)": result["peak_rss_mb"] - result["models_mb"],
                     "index wall s": result["wall_seconds"],
                     "x real time (wall)": video["duration"] / result["wall_seconds"],
                     "x real time (CPU s)": video["duration"] / result["cpu_seconds"]})
    short, long = runs["short"], runs["long"]
    ratio = {"peak_rss_long_over_short": long["peak_rss_mb"] / short["peak_rss_mb"],
             "media_long_over_short": long["media_seconds"] / short["media_seconds"],
             "load_average_1m": os.getloadavg()[0]}
    rows.append({"video": "long / short", "peak RSS (MB)": ratio["peak_rss_long_over_short"],
                 "moments": f"{ratio['media_long_over_short']:.1f}x the media"})
    write("moments_memory", {"ratios": ratio, "runs": runs}, rows,
          ["video", "moments", "RSS after model load (MB)", "peak RSS (MB)", "peak − models (MB)", "index wall s",
           "x real time (wall)", "x real time (CPU s)"], args.out)


if __name__ == "__main__":
    main()
