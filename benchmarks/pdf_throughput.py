"""PDF ingestion throughput by stage: seconds per page, this tree against a baseline commit in the same run.

A subset of FinanceBench filings (``--files`` PDFs, ``--pages`` pages from the middle of each, copied into
small PDFs so every variant reads the same input) is indexed end to end through ``Engine.index`` into a
fresh LanceDB store, once per variant and repeat, variants alternating so machine load hits both alike.
Each variant runs in its own child process: the current tree, and the baseline ref exported with
``git archive`` (``--baseline-ref``, default ``HEAD``) and put first on ``PYTHONPATH``. Encoders are loaded
and warmed before the clock starts. Inside the run, time is split by stage by wrapping the functions
that do the work: reading a page (PDFium text layer, graphics, render, layout, OCR, crops; the stages
inside ``read_page`` where the tree reports them), the image encoder, the text encoder, the store write;
``other`` is the rest (indexer bookkeeping, catalog).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/pdf_throughput.py \\
        --data ../shared/eval/financebench/documents --files 3 --pages 8 --repeats 2

Writes benchmarks/results/pdf_throughput.{json,md}: wall and CPU seconds per page (CPU time of the child,
all its threads) and the load average before and after, since absolute seconds on a shared machine mean
little: compare the ratios against the same-run baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent


def make_subset(data: Path, files: int, pages: int, out: Path) -> list[Path]:
    """``pages`` pages from the middle of the first ``files`` PDFs (by name), each saved as its own PDF."""
    import pypdfium2 as pdfium

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sorted(data.glob("*.pdf"))[:files]:
        document = pdfium.PdfDocument(str(source))
        count = len(document)
        start = max(0, count // 2 - pages // 2)
        subset = pdfium.PdfDocument.new()
        subset.import_pages(document, list(range(start, min(count, start + pages))))
        target = out / f"{source.stem}_p{start + 1}-{min(count, start + pages)}.pdf"
        subset.save(str(target))
        subset.close()
        document.close()
        made.append(target)
    return made


def worker(pdfs: list[str], store: str) -> dict:
    """Index ``pdfs`` into ``store`` with the polyseek on ``sys.path``; seconds per stage and in all."""
    import inspect

    from polyseek.engine import Engine
    from polyseek.ingest import pdf as pdf_module

    stages: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    engine = Engine(store)
    image, text = engine.spaces.encoder("image"), engine.spaces.encoder("text")
    from PIL import Image

    image.encode_images([Image.new("RGB", (300, 400), "white")])  # warm: first runs build ONNX graphs
    text.encode_documents(["warm up the text encoder"])
    image.encode_images = timed("encode images", image.encode_images)
    text.encode_documents = timed("encode text", text.encode_documents)
    inner: dict[str, float] = {}
    read_page = pdf_module.read_page
    reports_stages = "timings" in inspect.signature(read_page).parameters

    def read(*args, **kwargs):
        if reports_stages:
            kwargs["timings"] = inner
        return read_page(*args, **kwargs)

    pdf_module.read_page = timed("read page", read)
    store_obj = engine.store
    store_obj.upsert = timed("store write", store_obj.upsert)
    pages = 0
    for path in pdfs:
        with pdf_module.open_pdf(path) as document:
            pages += len(document)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = engine.index(pdfs)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    engine.close()
    failed = result.get("failed") if isinstance(result, dict) else getattr(result, "failed", None)
    import polyseek

    return {"pages": pages, "seconds": total, "cpu_seconds": cpu, "polyseek": str(Path(polyseek.__file__).parent), "stages": stages, "read_stages": inner, "failed": failed or []}


def run_variant(src: Path, pdfs: list[Path], scratch: Path, tag: str) -> dict:
    store = scratch / f"store-{tag}"
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, __file__, "--worker", "--store", str(store), *map(str, pdfs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tag} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_ref(ref: str, out: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "src"


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/eval/financebench/documents")
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline-ref", default="HEAD", help="git ref of the baseline (default HEAD: the tree's last commit)")
    parser.add_argument("--ref", default=None, help="measure this git ref instead of the working tree (on a shared "
                        "working tree, others' uncommitted edits would otherwise be measured with it)")
    parser.add_argument("--current-src", default=None, help="measure this exported src folder (e.g. a baseline commit "
                        "plus the files under test) instead of the working tree")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("pdfs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.pdfs, args.store)))
        return
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"{data}: not a folder of PDFs (expected ../shared/eval/financebench/documents)")
    from _report import write

    baseline_commit = subprocess.run(["git", "rev-parse", "--short", args.baseline_ref], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout.strip()
    tree_commit = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip() if args.ref else None
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="pdf-throughput-") as tmp:
        scratch = Path(tmp)
        pdfs = make_subset(data, args.files, args.pages, scratch / "pdfs")
        current = Path(args.current_src).resolve() if args.current_src else ROOT / "src"
        if args.current_src and not (current / "polyseek").is_dir():
            raise SystemExit(f"{current}: not a src folder (expected {current}/polyseek)")
        if args.ref:
            (scratch / "current").mkdir()
            current = export_ref(args.ref, scratch / "current")
        (scratch / "baseline").mkdir()
        variants = {"baseline": export_ref(args.baseline_ref, scratch / "baseline"), "this tree": current}
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
            for name in order:
                tag = f"{name.replace(' ', '-')}-{repeat}"
                runs[name].append(run_variant(variants[name], pdfs, scratch, tag))
                print(f"{name} #{repeat}: {runs[name][-1]['seconds'] / runs[name][-1]['pages']:.3f} s/page", flush=True)
    rows = []
    for name, results in runs.items():
        pages = results[0]["pages"]
        per_page = [r["seconds"] / r["pages"] for r in results]
        stage_names = sorted({s for r in results for s in r["stages"]})
        cpu_per_page = [r["cpu_seconds"] / r["pages"] for r in results]
        row = {"variant": name, "commit": baseline_commit if name == "baseline" else (tree_commit or args.current_src or "working tree"), "pages": pages,
               "polyseek imported from": results[0].get("polyseek", ""),
               "s/page": statistics.median(per_page), "s/page runs": [round(v, 3) for v in per_page],
               "cpu s/page": statistics.median(cpu_per_page), "cpu s/page runs": [round(v, 3) for v in cpu_per_page]}
        for stage in stage_names:
            row[stage] = statistics.median(r["stages"].get(stage, 0.0) / r["pages"] for r in results)
        accounted = sum(row[s] for s in stage_names)
        row["other"] = max(0.0, row["s/page"] - accounted)
        read_stages = sorted({s for r in results for s in r["read_stages"]})
        row["read page stages"] = {s: round(statistics.median(r["read_stages"].get(s, 0.0) / r["pages"] for r in results), 4)
                                   for s in read_stages}
        rows.append(row)
    base, new = rows[0]["s/page"], rows[1]["s/page"]
    for row in rows:
        row["ratio to baseline"] = row["s/page"] / base
        row["cpu ratio"] = row["cpu s/page"] / rows[0]["cpu s/page"]
    results = {"data": str(data), "subset": [p.name for p in pdfs], "repeats": args.repeats,
               "baseline_ref": args.baseline_ref, "baseline_commit": baseline_commit, "tree": tree_commit or args.current_src or "working tree",
               "command": " ".join(sys.argv),
               "load_average": {"before": round(load_before, 2), "after": round(load(), 2)},
               "speedup": round(base / new, 3) if new else None,
               "cpu_speedup": round(rows[0]["cpu s/page"] / rows[1]["cpu s/page"], 3) if rows[1]["cpu s/page"] else None,
               "goal": "issue 13: <= 0.2 s/page on 2 cores with the default encoders (quiet machine)"}
    columns = ["variant", "commit", "pages", "s/page", "ratio to baseline", "cpu s/page", "cpu ratio", "read page", "encode images", "encode text",
               "store write", "other"]
    write("pdf_throughput", results, rows, columns, args.out)
    print(json.dumps({"speedup": results["speedup"], "cpu_speedup": results["cpu_speedup"], "load_average": results["load_average"],
                      "read page stages (this tree)": rows[1]["read page stages"]}))


if __name__ == "__main__":
    main()
