"""Shared output for benchmark scripts: one JSON file and one markdown table per run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def machine() -> dict:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "commit": commit,
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def write(name: str, results: dict, rows: list[dict], columns: list[str], out_dir: str | Path = "benchmarks/results") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **results, "rows": rows}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2))
    lines = [f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    info = payload["machine"]
    table = "\n".join(lines) + f"\n\nMachine: {info['cpu']}, {info['cores']} cores; commit {info['commit']}; {info['date']}\n"
    (out / f"{name}.md").write_text(table)
    print(table)
    return out / f"{name}.json"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
