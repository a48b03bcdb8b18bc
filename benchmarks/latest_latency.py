"""Assemble ``results/query_latency.json`` (and ``.md``): the latest measured row of every (method, items) pair.

The benchmarks that feed it run separately (``query_latency.py`` at 100k and at 1M, ``shortlist_engine.py``,
``cold_search.py``), at different times and loads; a full re-run of every baseline at 1M takes hours on 2 cores.
This script reads their result files, newest first as listed, keeps the first row it meets for each (method, items),
and writes every row with its ``source``: the file, commit, date and load average of the run that measured it.
Nothing is measured or changed here; a row is as its run wrote it (cold commands: wall seconds as ``p50_ms``).

    python benchmarks/latest_latency.py results/query_latency_session10_lead3.json results/query_latency_1m_s10_quiet.json ...

A source given as ``FILE::TEXT[::TEXT...]`` leaves out that file's rows whose method contains a TEXT (rows an older
run named differently, which a newer source re-measured under another name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COLUMNS = ("method", "items", "p50_ms", "p95_ms", "recall@10", "ram_bytes_per_item", "build_s", "setting", "source")


def _source(path: Path, report: dict[str, Any]) -> str:
    machine = report.get("machine") or {}
    date = machine.get("date") or report.get("date") or ""
    load = report.get("load_average") or report.get("load_average_end") or ""
    return f"{path.name} (commit {machine.get('commit', '?')}, {date}{f', load {load}' if load else ''})"


def _rows(spec: str) -> list[dict[str, Any]]:
    name, *left_out = spec.split("::")
    path = Path(name) if Path(name).is_absolute() else Path.cwd() / name
    report = json.loads(path.read_text(encoding="utf-8"))
    source = _source(path, report)
    out = []
    for row in report.get("rows", []):
        row = dict(row)
        if "p50_ms" not in row and "wall_s_median" in row:  # cold_search.py: seconds of wall time per command
            row["p50_ms"] = round(1000 * float(row["wall_s_median"]), 1)
            row["method"] = f"cold {row['method']}, wall median"
        if "p50_ms" not in row or "method" not in row or any(text in str(row["method"]) for text in left_out):
            continue
        row["source"] = row.get("source") or source
        out.append(row)
    return out


def assemble(sources: list[str]) -> list[dict[str, Any]]:
    """The first row met for each (method, items), in the order of ``sources``, sorted by items then method."""
    kept: dict[tuple[str, int], dict[str, Any]] = {}
    for spec in sources:
        for row in _rows(spec):
            kept.setdefault((str(row["method"]), int(row.get("items") or 0)), row)
    return sorted(kept.values(), key=lambda r: (int(r.get("items") or 0), str(r["method"])))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="result JSON files, newest (preferred) first; FILE::TEXT leaves out rows")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "query_latency")
    args = parser.parse_args()
    rows = assemble(args.sources)
    report = {"benchmark": "query_latency", "assembled_from": [str(p) for p in args.sources], "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(rows), encoding="utf-8")
    print(f"{len(rows)} rows -> {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
