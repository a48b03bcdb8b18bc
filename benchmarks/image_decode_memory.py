"""Peak memory of decoding 8 worst-case images at once: the old full decode vs open_image's reduced decode.

Each case runs in a fresh process (so ``ru_maxrss`` is its own): it imports, notes its resident memory,
then decodes 8 copies of one image in 8 threads (as 8 concurrent uploads would) and reports the peak
above that baseline. ``old`` is the decode before issue 11 (open, JPEG draft to 1,024 px, EXIF
transpose, convert to RGB at full size); ``new`` is :func:`polyseek.ingest.images.open_image`.

    .venv/bin/python benchmarks/image_decode_memory.py --output benchmarks/results/image_decode_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {
    # name: (mode, size, format); solid colours compress to almost nothing, as in the report of issue 11
    "png-8900x8900-solid": ("RGB", (8_900, 8_900), "PNG"),
    "png-5500x5500-solid": ("RGB", (5_500, 5_500), "PNG"),
    "gif-6000x6000-palette": ("P", (6_000, 6_000), "GIF"),
    "jpeg-8000x6000-noise": ("RGB", (8_000, 6_000), "JPEG"),
}

MEASURE = r"""
import resource, sys, threading
from PIL import Image, ImageOps
from polyseek.ingest.images import open_image
from polyseek.errors import PolyseekError
path, how, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
Image.MAX_IMAGE_PIXELS = None

def old(p):
    with Image.open(p) as image:
        image.draft("RGB", (1024, 1024))
        image = ImageOps.exif_transpose(image) if image.format != "GIF" else image
        loaded = image.convert("RGB")
        loaded.load()
        return loaded

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = []
def work():
    try:
        image = (old if how == "old" else open_image)(path)
        outcome.append(f"{image.size[0]}x{image.size[1]}")
    except PolyseekError as exc:
        outcome.append("refused")
threads = [threading.Thread(target=work) for _ in range(copies)]
[t.start() for t in threads]
[t.join() for t in threads]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{(peak - base) / 1024:.0f} {sorted(set(outcome))[0]}")
"""


def make(folder: Path, name: str) -> Path:
    mode, size, fmt = CASES[name]
    path = folder / f"{name}.{fmt.lower()}"
    code = ("from PIL import Image; import sys\n"
            f"image = Image.effect_noise({size}, 60).convert('RGB') if 'noise' in {name!r} else Image.new({mode!r}, {size}, 3)\n"
            f"image.save({str(path)!r}, {fmt!r}, **({{'quality': 90}} if {fmt!r} == 'JPEG' else {{}}))\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            path = make(Path(tmp), name)
            row = {"case": name, "file_kb": round(path.stat().st_size / 1024)}
            for how in ("old", "new"):
                out = subprocess.run([sys.executable, "-c", MEASURE, str(path), how, str(args.copies)],
                                     capture_output=True, text=True, check=True).stdout.split()
                row[f"{how}_peak_mb"], row[f"{how}_result"] = int(out[0]), out[1]
            results.append(row)
            print(json.dumps(row), flush=True)
    lines = [f"| image ({args.copies} at once) | file | old: peak MB, result | new: peak MB, result |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['case']} | {r['file_kb']:,} KB | {r['old_peak_mb']:,}, {r['old_result']} | "
                     f"{r['new_peak_mb']:,}, {r['new_result']} |")
    print("\n".join(lines))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"copies": args.copies, "results": results}, indent=1) + "\n")
        args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
