"""CPU time per photo of a backfill's encoding path on one thread (decode, preprocess, backbone, projection), against
another source tree in the same run: the load-independent half of ``upgrade_backfill.py``.

    .venv/bin/python benchmarks/backfill_encode_cpu.py ../shared/eval/flickr8k --new aligner:/tmp/h14/lite2 \
        --base /tmp/me/base/src --rounds 2

``--base`` is a ``src`` folder of an older commit (``git archive COMMIT src | tar -x -C DIR``); each round runs the
base tree, then this one, in fresh processes (interleaved: the load drifts). Every figure is the calling thread's CPU
time (``time.thread_time``) per photo, batches of 16 files as the backfill reads them, the encoder on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

CHILD = """
import glob, json, sys, time
from pathlib import Path
from polyseek.encoders import load_encoder
from polyseek.ingest.images import ImageIngestor
folder, name, start, count, reps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
paths = sorted(glob.glob(folder + '/images/*'))[start:start + count]
encoder = load_encoder(name).with_threads(1)
decode = lambda ps: [next(iter(ImageIngestor().ingest(Path(p)))).image for p in ps]
encoder.encode_images(decode(paths[:4]))
out = []
for _ in range(reps):
    began = time.thread_time()
    for s in range(0, len(paths), 16):
        encoder.encode_images(decode(paths[s:s + 16]))
    out.append(1000 * (time.thread_time() - began) / len(paths))
print(json.dumps(out))
"""


def measure(source: str | None, args: argparse.Namespace) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if source:
        env["PYTHONPATH"] = source
    done = subprocess.run([sys.executable, "-c", CHILD, args.folder, args.new, str(args.start), str(args.photos), str(args.reps)],
                          capture_output=True, text=True, env=env, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="captions folder (images/ inside)")
    parser.add_argument("--new", required=True, help="the image encoder, e.g. aligner:DIR")
    parser.add_argument("--base", required=True, help="src folder of the commit to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2, help="passes over the photos per process")
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--start", type=int, default=100, help="first photo (sorted by name)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"base": [], "this": []}
    loads = []
    for _ in range(args.rounds):
        for label, source in (("base", args.base), ("this", None)):
            loads.append(round(os.getloadavg()[0], 2))
            runs[label] += measure(source, args)
    rows = [{"tree": label, "cpu_ms_per_photo_mean": round(float(np.mean(v)), 2), "min": round(min(v), 2), "max": round(max(v), 2),
             "passes": len(v)} for label, v in runs.items()]
    rows.append({"tree": "this / base", "cpu_ms_per_photo_mean": round(float(np.mean(runs["this"]) / np.mean(runs["base"])), 3)})
    write("backfill_encode_cpu", {"new": args.new, "base": args.base, "photos": args.photos, "runs": runs, "load": loads},
          rows, ["tree", "cpu_ms_per_photo_mean", "min", "max", "passes"], args.out)


if __name__ == "__main__":
    main()
