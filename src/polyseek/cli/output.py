"""What commands print: one JSON object per line, and the table of hits (rich is imported when a table is drawn)."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def print_hits(hits) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    if not hits:
        out.print("no results")
        return
    table = Table(show_header=True, header_style="bold", expand=False, box=None)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("type")
    table.add_column("path", overflow="fold")
    table.add_column("where")
    table.add_column("text", overflow="ellipsis", max_width=max(20, shutil.get_terminal_size().columns - 90))
    for rank, hit in enumerate(hits, 1):
        snippet = " ".join(hit.item.text.split())[:200]
        where = hit.item.locator.describe()
        if hit.best_region is not None:  # a PDF page hit: which region on it matched best
            region = hit.best_region
            box = region.locator.bbox
            where += f" {region.metadata.get('kind', 'region')}" + (" [" + ", ".join(f"{v:.0f}" for v in box) + "]" if box else "")
            snippet = " ".join(region.text.split())[:200] or snippet
        table.add_row(str(rank), f"{hit.score:.4f}", hit.item.modality.value, hit.item.path, where, snippet)
    out.print(table)


def print_search(trace, *, as_json: bool, timings: bool) -> None:
    """A search's hits as ``polyseek search`` prints them (a table, or JSON), with its stage timings when asked:
    in the JSON, or on stderr after the table."""
    stages = {name: round(ms, 2) for name, ms in trace.timings.items() if ms >= 0.05 or not name.count(".")}
    if as_json:
        print_json({"hits": [h.to_dict() for h in trace.hits], **({"timings_ms": stages} if timings else {})})
        return
    print_hits(trace.hits)
    if timings:
        from rich.console import Console

        Console(stderr=True).print("timings (ms): " + ", ".join(f"{n} {ms:.1f}" for n, ms in stages.items())
                                   + f" — total {sum(trace.timings.values()):.1f}", highlight=False)
