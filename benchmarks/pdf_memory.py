"""Peak memory while indexing long PDFs: does RSS stay flat as pages grow?

Each case runs in a fresh child process (so peaks do not mix): the engine loads its encoders first
(the baseline RSS), then indexes one PDF into a memory store while a thread samples VmRSS every 20 ms.
Cases: the first 10 pages of the longest eval PDF (the in-run baseline), the whole PDF, a synthetic
1,000-page PDF made by repeating its pages, and, as the contrast, the whole PDF read the naive way
(every chunk with its renders materialised before encoding, as the indexer did before streaming).

    .venv/bin/python benchmarks/pdf_memory.py --data ../shared/eval/mmlongbench-doc/documents

Writes benchmarks/results/pdf_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)


def child(pdf: str, mode: str, image_encoder: str | None, text_encoder: str | None) -> dict:
    """Runs in the child: load encoders, then index (or materialise) ``pdf`` and report memory."""
    from PIL import Image

    from polyseek.engine import Engine
    from polyseek.types import Signal

    engine = Engine("memory://", image_encoder=image_encoder, text_encoder=text_encoder)
    # warm up with full-size batches, so the baseline holds the encoders' working memory (ONNX arenas)
    engine.encoder(Signal.TEXT).encode_documents(["a long passage of words to fill the encoder window " * 40] * 64)
    engine.encoder(Signal.IMAGE).encode_images([Image.new("RGB", (384, 384), "white")] * 32)
    baseline = rss_mb()
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    if mode == "index":
        summary = engine.index([pdf])
        items, failed = summary.items, [f["reason"] for f in summary.failed]
    else:  # the naive way: every chunk of the file, renders included, held before encoding
        from polyseek.ingest.pdf import PdfIngestor

        chunks = list(PdfIngestor().ingest(Path(pdf)))
        engine.spaces.ensure(engine.store)
        for start in range(0, len(chunks), 64):
            engine.spaces.encode_chunks(chunks[start:start + 64])
        items, failed = len(chunks), []
    seconds = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    return {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(max(sampler.peak, rss_mb()), 1),
            "seconds": round(seconds, 1), "items": items, "failed": failed,
            "encoders": engine.encoder_names()}


def make_prefix(source: Path, pages: int, out: Path) -> Path:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(source)
    new = pdfium.PdfDocument.new()
    new.import_pages(src, list(range(min(pages, len(src)))))
    new.save(out)
    return out


def make_repeated(source: Path, pages: int, out: Path) -> Path:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(source)
    new = pdfium.PdfDocument.new()
    while len(new) < pages:
        take = min(len(src), pages - len(new))
        new.import_pages(src, list(range(take)))
    new.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/eval/mmlongbench-doc/documents", help="folder of PDFs")
    parser.add_argument("--image-encoder", default=None, help="default: the shipped image-text encoder")
    parser.add_argument("--text-encoder", default=None)
    parser.add_argument("--long-pages", type=int, default=1000, help="pages of the synthetic long PDF (0 to skip)")
    parser.add_argument("--name", default="pdf_memory", help="results file name under benchmarks/results/")
    parser.add_argument("--skip-whole", action="store_true", help="only the baseline prefix and the long PDF")
    parser.add_argument("--child", nargs=2, metavar=("PDF", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.image_encoder, args.text_encoder)))
        return

    import pypdfium2 as pdfium
    from _report import write

    pdfs = sorted(Path(args.data).glob("*.pdf"))
    if not pdfs:
        raise SystemExit(f"no PDFs in {args.data}")
    longest = max(pdfs, key=lambda p: len(pdfium.PdfDocument(p)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="pdf-memory-") as tmp:
        cases = [("first 10 pages (baseline)", make_prefix(longest, 10, Path(tmp) / "prefix.pdf"), "index")]
        if not args.skip_whole:
            cases.append(("whole PDF", longest, "index"))
        if args.long_pages:
            cases.append((f"{args.long_pages} pages (repeated)", make_repeated(longest, args.long_pages, Path(tmp) / "long.pdf"), "index"))
        if not args.skip_whole:
            cases.append(("whole PDF, materialised (no streaming)", longest, "materialise"))
        for label, path, mode in cases:
            command = [sys.executable, __file__, "--child", str(path), mode]
            for flag, value in (("--image-encoder", args.image_encoder), ("--text-encoder", args.text_encoder)):
                if value:
                    command += [flag, value]
            done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if done.returncode != 0:
                raise SystemExit(f"{label}: child failed\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            pages = len(pdfium.PdfDocument(path))
            row = {"case": label, "pdf": longest.name, "pages": pages, "pdf_mb": round(path.stat().st_size / 2**20, 2),
                   "items": result["items"], "seconds": result["seconds"], "baseline_rss_mb": result["baseline_rss_mb"],
                   "peak_rss_mb": result["peak_rss_mb"],
                   "indexing_mb": round(result["peak_rss_mb"] - result["baseline_rss_mb"], 1),
                   "kb_per_page": round(1024 * (result["peak_rss_mb"] - result["baseline_rss_mb"]) / pages, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    encoders = result["encoders"]
    write(args.name, {"encoders": encoders, "note": "indexing_mb = peak RSS while indexing minus RSS with encoders loaded"},
          rows, ["case", "pages", "pdf_mb", "items", "seconds", "baseline_rss_mb", "peak_rss_mb", "indexing_mb", "kb_per_page"])


if __name__ == "__main__":
    main()
