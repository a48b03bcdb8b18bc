"""What commands print: one JSON object per line, and the table of hits (drawn without rich when it can be).

The table is written as plain text when it goes to a pipe or a file and fits the width rich would give it, in
exactly the characters rich's ``Table`` prints there (``box=None``: one space of padding around each cell, the
header over the rows, each line padded to the table's width); :func:`print_hits` checks this against rich itself in
``tests/cli/test_output.py``. Importing rich costs ~65 ms, half of a cold command answered by a running server. In
a terminal (colours), with ``FORCE_COLOR``, or when a column would have to wrap, rich draws it as before. Either
way a cell is shown as the text it holds: neither writer reads ``[...]`` in a file name as markup or ``:dog:`` as
an emoji.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO

HEADERS = ("#", "score", "type", "path", "where", "text")
RIGHT = {0, 1}  # right-justified columns (rank, score)
TEXT_COLUMN = 5
SNIPPET = 200  # characters of an item's text (or its best region's) shown in the text column


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def hit_cells(hits) -> list[tuple[str, ...]]:
    """The table's rows: rank, score, kind, path, where in the file (and which region on a page), text."""
    rows: list[tuple[str, ...]] = []
    for rank, hit in enumerate(hits, 1):
        snippet = " ".join(hit.item.text.split())[:SNIPPET]
        where = hit.item.locator.describe()
        if hit.best_region is not None:  # a PDF page hit: which region on it matched best
            region = hit.best_region
            box = region.locator.bbox
            where += f" {region.metadata.get('kind', 'region')}" + (" [" + ", ".join(f"{v:.0f}" for v in box) + "]" if box else "")
            snippet = " ".join(region.text.split())[:SNIPPET] or snippet
        rows.append((str(rank), f"{hit.score:.4f}", str(hit.item.modality.value), str(hit.item.path), where, snippet))
    return rows


def text_width() -> int:
    """The text column's widest (the rest of a terminal line once ~90 columns of the others are drawn)."""
    return max(20, shutil.get_terminal_size().columns - 90)


def rich_width(environ: dict[str, str] | None = None) -> int:
    """The width rich's ``Console`` takes when it writes to a pipe or a file: ``$COLUMNS``, else the size of a
    terminal on stdin, stdout or stderr, else 80 (``rich.console.Console.size``)."""
    columns = (os.environ if environ is None else environ).get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns)
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        return width or 80
    return 80


def cell_width(text: str) -> int | None:
    """Columns ``text`` takes in a terminal when every character takes one (as rich counts them), else None (wide,
    combining or control characters: rich measures those)."""
    if text.isascii():
        return len(text) if text.isprintable() else None
    for char in text:
        if not char.isprintable() or unicodedata.combining(char) or unicodedata.east_asian_width(char) in ("W", "F"):
            return None
    return len(text)


WORD = re.compile(r"\s*\S+\s*")  # a word and the spaces after it (rich._wrap.re_word)
TRAILING_SPACE = re.compile(r"\s+$")


def wrap_cell(text: str, width: int) -> list[str]:
    """``text`` wrapped at word boundaries into lines of ``width`` columns, a word longer than a line cut with "…",
    as rich wraps a cell with ``overflow="ellipsis"`` (``Text.wrap``: ``divide_line``, ``rstrip_end``, ``truncate``),
    for text of one-column characters."""
    breaks: list[int] = []
    offset = 0
    for match in WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width or (offset and start):  # a word longer than a line starts its own, then is cut
            if start:
                breaks.append(start)
            offset = len(word)
    lines = []
    for begin, end in zip([0, *breaks], [*breaks, len(text)]):
        line = text[begin:end]
        if len(line) > width and (space := TRAILING_SPACE.search(line)) is not None:
            line = line[: len(line) - min(len(space.group(0)), len(line) - width)]
        lines.append(line[: width - 1] + "…" if len(line) > width else line)
    return lines


def plain_table(rows: Sequence[tuple[str, ...]], width: int, text_max: int) -> str | None:
    """The table as rich prints it to a pipe (see the module's docstring), or None when rich would lay it out
    otherwise (a line wider than ``width``: rich narrows columns) or a cell needs rich to measure it."""
    table = [HEADERS, *rows]
    widths = [0] * len(HEADERS)
    for row in table:
        for column, cell in enumerate(row):
            size = cell_width(cell)
            if size is None:
                return None
            widths[column] = max(widths[column], size)
    widths[TEXT_COLUMN] = min(widths[TEXT_COLUMN], text_max)  # the text column's max_width: its cells wrap
    if sum(widths) + 2 * len(widths) > width:
        return None
    lines = []
    for row in table:
        text_lines = wrap_cell(row[TEXT_COLUMN], widths[TEXT_COLUMN])
        for number, text in enumerate(text_lines):
            cells = [*row[:TEXT_COLUMN], text] if number == 0 else [""] * TEXT_COLUMN + [text]
            padded = (c.rjust(w) if i in RIGHT else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            lines.append(" " + "  ".join(padded) + " \n")
    return "".join(lines)


def colours_wanted(stream: TextIO) -> bool:
    """Whether rich would style its output here (a terminal, or colours forced)."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_hits(hits) -> None:
    rows = hit_cells(hits)
    if not colours_wanted(sys.stdout):
        if not rows:
            sys.stdout.write("no results\n")
            return
        text = plain_table(rows, rich_width(), text_width())
        if text is not None:
            sys.stdout.write(text)
            return
    print_rich_table(rows)


def print_rich_table(rows: Sequence[tuple[str, ...]]) -> None:
    """The table drawn by rich (colours in a terminal; columns wrapped to its width)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console()
    if not rows:
        out.print("no results")
        return
    table = Table(show_header=True, header_style="bold", expand=False, box=None)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("type")
    table.add_column("path", overflow="fold")
    table.add_column("where")
    table.add_column("text", overflow="ellipsis", max_width=text_width())
    for row in rows:  # Text: a cell is what it holds, never markup or emoji codes
        table.add_row(*(Text(cell) for cell in row))
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
        sys.stdout.flush()
        sys.stderr.write("timings (ms): " + ", ".join(f"{n} {ms:.1f}" for n, ms in stages.items())
                         + f" — total {sum(trace.timings.values()):.1f}\n")
