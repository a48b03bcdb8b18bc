"""Split a ``polyseek eval captions --lang ...`` report into the dev half and the held-out half of the eval photos.

    .venv/bin/python scripts/language_halves.py r.json [r2.json ...] --captions ../shared/eval/flickr8k/captions.json \
        [--mrv-langs en,zh,de]

The photos at even positions of ``captions.json`` are the dev half (every choice of the multilingual query path was
made there); the odd positions are the held-out half. Prints one row per language: queries and R@1/5/10 per half.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyseek.eval.multilingual import by_half  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--captions", required=True, help="captions.json of the eval folder (its order defines the halves)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--mrv-langs", default=None, help="MRV over these languages only (e.g. en,zh,de; default: the report's)")
    args = parser.parse_args()
    order = [entry["image"] for entry in json.loads(Path(args.captions).read_text(encoding="utf-8"))]
    table: dict[str, dict] = {}
    mrv_lines = []
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        if args.mrv_langs:
            report["languages"] = args.mrv_langs.split(",")
        halves = by_half(report, order)
        found = halves.pop("mrv", None)
        if found:  # MRV over the report's own languages, per half
            mrv_lines.append(f"MRV {', '.join(found['dev']['languages'])}: dev {found['dev']['mrv']} ({found['dev']['n_images']} photos), "
                             f"held-out {found['heldout']['mrv']} ({found['heldout']['n_images']} photos)")
            table.setdefault("mrv", {})[",".join(found["dev"]["languages"])] = found
        table.update(halves)
    print("| task | dev queries | dev R@10 | held-out queries | held-out R@1 | R@5 | R@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task, halves in table.items():
        if task == "mrv":
            continue
        d, h = halves["dev"], halves["heldout"]
        print(f"| {task} | {d['queries']} | {d['recall@10']} | {h['queries']} | {h['recall@1']} | {h['recall@5']} | {h['recall@10']} |")
    for line in mrv_lines:
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")

if __name__ == "__main__":
    main()
