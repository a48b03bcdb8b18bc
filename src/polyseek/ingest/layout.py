"""Page layout from geometry alone: text runs become lines, blocks and regions; graphics become figures and tables.

Everything here works in PDF points from the page's top-left corner (``y`` grows downwards), on plain
boxes, so the same code serves a text layer (pdfium) and OCR output (Tesseract). It is heuristic on
purpose: no layout model ships in a package we can install offline, and these rules are cheap, explainable
and good enough to say *where* on a page the evidence is (a paragraph, a chart, a table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REGION_MAX_CHARS = 1200  # a text region stops growing here (the text encoder reads ~256 word pieces)
REGION_MIN_CHARS = 40  # shorter leftovers (page numbers, running heads) stay in the page text only
MAX_REGIONS = 24  # per page; the smallest text regions are dropped past this
LABEL_MAX_CHARS = 40  # a block this short beside a chart is a label (tick, axis title, legend), not body text
_LEADER = re.compile(r"^[\s._·•…-]*$")  # dot leaders in tables of contents and financial statements
_NUMERIC = re.compile(r"[\d$€£%()]")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box ``(x0, y0, x1, y1)`` in points, origin at the page's top-left."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def expand(self, margin: float) -> Box:
        return Box(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def intersects(self, other: Box) -> bool:
        return self.x0 <= other.x1 and other.x0 <= self.x1 and self.y0 <= other.y1 and other.y0 <= self.y1

    def overlap_area(self, other: Box) -> float:
        width = min(self.x1, other.x1) - max(self.x0, other.x0)
        height = min(self.y1, other.y1) - max(self.y0, other.y0)
        return width * height if width > 0 and height > 0 else 0.0

    def x_overlap(self, other: Box) -> float:
        return max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))

    def y_overlap(self, other: Box) -> float:
        return max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))

    def clip(self, width: float, height: float) -> Box:
        return Box(max(0.0, self.x0), max(0.0, self.y0), min(width, self.x1), min(height, self.y1))

    def as_tuple(self, digits: int = 1) -> tuple[float, float, float, float]:
        return (round(self.x0, digits), round(self.y0, digits), round(self.x1, digits), round(self.y1, digits))


def union_all(boxes: list[Box]) -> Box:
    out = boxes[0]
    for box in boxes[1:]:
        out = out.union(box)
    return out


@dataclass(frozen=True)
class Run:
    """A piece of text on one line with its box (a pdfium text rectangle, an OCR line)."""

    box: Box
    text: str


@dataclass
class Line:
    runs: list[Run] = field(default_factory=list)
    _box: tuple[int, Box] | None = field(default=None, repr=False, compare=False)

    @property
    def box(self) -> Box:
        # layout asks for boxes in nested loops: computed once per number of runs (runs are only appended)
        if self._box is None or self._box[0] != len(self.runs):
            self._box = (len(self.runs), union_all([r.box for r in self.runs]))
        return self._box[1]

    @property
    def height(self) -> float:
        return max(r.box.height for r in self.runs)

    @property
    def text(self) -> str:
        parts: list[str] = []
        previous: Run | None = None
        for run in sorted(self.runs, key=lambda r: r.box.x0):
            piece = run.text.strip()
            if not piece:
                continue
            # pdfium splits words at font changes; only a visible gap means a space
            if previous is not None and (run.box.x0 - previous.box.x1 > 0.15 * run.box.height or previous.text.endswith(" ")):
                parts.append(" ")
            parts.append(piece)
            previous = run
        return "".join(parts)


@dataclass
class Block:
    lines: list[Line] = field(default_factory=list)
    _box: tuple[int, Box] | None = field(default=None, repr=False, compare=False)

    @property
    def box(self) -> Box:
        if self._box is None or self._box[0] != len(self.lines):
            self._box = (len(self.lines), union_all([line.box for line in self.lines]))
        return self._box[1]

    @property
    def line_height(self) -> float:
        return sorted(line.height for line in self.lines)[len(self.lines) // 2]

    @property
    def text(self) -> str:
        return join_lines(sorted(self.lines, key=lambda l: (l.box.y0, l.box.x0)))


@dataclass(frozen=True)
class Region:
    """What the ingestor turns into a region item: ``kind`` is text, figure or table."""

    kind: str
    box: Box
    text: str


def join_lines(lines: list[Line]) -> str:
    out = ""
    for line in lines:
        text = line.text
        if not text:
            continue
        if out.endswith("-") and text[:1].islower():  # a word hyphenated across lines
            out = out[:-1] + text
        else:
            out = f"{out} {text}" if out else text
    return out


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


def group_lines(runs: list[Run]) -> list[Line]:
    """Runs sharing a baseline band form a row; a row splits into lines at gaps wider than a word space
    (two columns, table cells)."""
    runs = [r for r in runs if r.text.strip() and not _LEADER.match(r.text) and r.box.height > 0.5]
    runs.sort(key=lambda r: (r.box.y0, r.box.x0))
    rows: list[list[Run]] = []
    bands: list[tuple[float, float]] = []  # the band of the row's tallest run
    for run in runs:
        for k in range(len(rows) - 1, max(-1, len(rows) - 6), -1):  # only recent rows can share this band
            top, bottom = bands[k]
            overlap = min(bottom, run.box.y1) - max(top, run.box.y0)
            if overlap >= 0.5 * min(bottom - top, run.box.height):
                rows[k].append(run)
                if run.box.height > bottom - top:
                    bands[k] = (run.box.y0, run.box.y1)
                break
        else:
            rows.append([run])
            bands.append((run.box.y0, run.box.y1))
    lines: list[Line] = []
    for row in rows:
        row.sort(key=lambda r: r.box.x0)
        current = Line([row[0]])
        right = row[0].box.x1
        for run in row[1:]:
            if run.box.x0 - right > 0.8 * max(run.box.height, current.height):
                lines.append(current)
                current = Line([run])
            else:
                current.runs.append(run)
            right = max(right, run.box.x1)
        lines.append(current)
    return lines


def group_blocks(lines: list[Line]) -> list[Block]:
    """Lines stacked with paragraph leading, overlapping horizontally and of similar size, form a block."""
    lines = sorted(lines, key=lambda l: (l.box.y0, l.box.x0))
    boxes = [l.box for l in lines]
    heights = [l.height for l in lines]
    sets = _UnionFind(len(lines))
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            gap = boxes[j].y0 - boxes[i].y1
            if gap > 1.5 * max(heights[i], heights[j]):
                if boxes[j].y0 - boxes[i].y1 > 60:
                    break  # sorted by top: nothing further down can be this close
                continue
            ratio = max(heights[i], heights[j]) / max(1e-3, min(heights[i], heights[j]))
            overlap = boxes[i].x_overlap(boxes[j])
            narrow = min(boxes[i].width, boxes[j].width)
            if gap <= 0.75 * max(heights[i], heights[j]) and ratio <= 1.35 and overlap >= 0.3 * narrow:
                sets.union(i, j)
    return [Block([lines[i] for i in group]) for group in sets.groups()]


def _is_cellish(line: Line) -> bool:
    text = line.text
    letters = sum(c.isalpha() for c in text)
    return len(text) <= 30 and (_NUMERIC.search(text) is not None or letters <= 12)


def find_tables(lines: list[Line]) -> list[Box]:
    """Rows of several short, mostly numeric cells, three rows or more in a stack, make a table."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda l: (l.box.y0 + l.box.y1) / 2):
        if rows and any(line.box.y_overlap(other.box) >= 0.5 * min(line.height, other.height) for other in rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    tabular = []
    for row in rows:
        cells = sorted(row, key=lambda l: l.box.x0)
        numeric = sum(1 for c in cells[1:] if _NUMERIC.search(c.text))
        tabular.append(len(cells) >= 3 and numeric >= 2 and all(_is_cellish(c) for c in cells[1:]))
    tables: list[Box] = []
    start = None
    for i, flag in enumerate(tabular + [False]):
        if flag and start is None:
            start = i
            continue
        if flag and start is not None:
            prev = union_all([c.box for c in rows[i - 1]])
            here = union_all([c.box for c in rows[i]])
            if here.y0 - prev.y1 > 3.0 * max(c.height for c in rows[i]):  # too far apart: a new table
                if i - start >= 3:
                    tables.append(union_all([c.box for r in rows[start:i] for c in r]))
                start = i
            continue
        if not flag and start is not None:
            if i - start >= 3:
                first = start
                # a header row (column titles) just above the numbers belongs to the table
                while first > 0 and len(rows[first - 1]) >= 2 and all(_is_cellish(c) for c in rows[first - 1][1:]) and first > start - 2:
                    first -= 1
                tables.append(union_all([c.box for r in rows[first:i] for c in r]))
            start = None
    return tables


def table_text(lines: list[Line]) -> str:
    """Cells joined with `` | `` along rows, rows on their own lines."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda l: (l.box.y0 + l.box.y1) / 2):
        if rows and any(line.box.y_overlap(other.box) >= 0.5 * min(line.height, other.height) for other in rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    return "\n".join(" | ".join(cell.text for cell in sorted(row, key=lambda l: l.box.x0)) for row in rows)


def find_figures(images: list[Box], paths: list[Box], width: float, height: float) -> list[Box]:
    """Pictures and clusters of vector graphics (charts, diagrams) big enough to matter.

    Backgrounds (nearly the whole page) and lone boxes or rules are not figures: a chart is many paths.
    """
    page_area = max(1.0, width * height)
    figures = [b.clip(width, height) for b in images
               if b.clip(width, height).area >= 0.005 * page_area and min(b.width, b.height) >= 24
               and b.clip(width, height).area < 0.85 * page_area]
    shapes = [b.clip(width, height) for b in paths if b.clip(width, height).area < 0.6 * page_area]
    # long thin lines (axes, rules) link the parts of a chart but do not make one, nor stretch its box
    rule = [(b.height < 2.5 and b.width > 0.3 * width) or (b.width < 2.5 and b.height > 0.3 * height) for b in shapes]
    if shapes and len(shapes) <= 4000:
        sets = _UnionFind(len(shapes))
        grown = [b.expand(4.0) for b in shapes]
        order = sorted(range(len(shapes)), key=lambda i: grown[i].x0)
        for a_pos, i in enumerate(order):  # sweep on x keeps this near-linear for thousands of paths
            for j in order[a_pos + 1:]:
                if grown[j].x0 > grown[i].x1:
                    break
                if grown[i].intersects(grown[j]):
                    sets.union(i, j)
        for group in sets.groups():
            group = [i for i in group if not rule[i]]
            if len(group) < 6:
                continue
            box = union_all([shapes[i] for i in group])
            if box.area >= 0.015 * page_area and min(box.width, box.height) >= 36 and box.area < 0.85 * page_area:
                figures.append(box)
    return _merge_overlapping(figures)


def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    boxes = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in boxes:
            for k, other in enumerate(out):
                touching = box.expand(3.0).intersects(other) and (box.x_overlap(other) > 0.5 * min(box.width, other.width)
                                                                  or box.y_overlap(other) > 0.5 * min(box.height, other.height))
                if touching or box.overlap_area(other) > 0.2 * min(box.area, other.area):  # one picture cut in strips
                    out[k] = other.union(box)
                    changed = True
                    break
            else:
                out.append(box)
        boxes = out
    return boxes


def _inside(inner: Box, outer: Box, share: float = 0.6) -> bool:
    return inner.area > 0 and inner.overlap_area(outer) >= share * inner.area


def build_regions(runs: list[Run], images: list[Box], paths: list[Box], width: float, height: float) -> list[Region]:
    """The regions of one page: figures and tables (with their labels and captions), then text regions."""
    lines = group_lines(runs)
    blocks = group_blocks(lines)
    graphic: list[tuple[str, Box]] = [("table", b) for b in find_tables(lines)]
    for box in find_figures(images, paths, width, height):
        if not any(_inside(box, t, 0.5) for _, t in graphic):
            graphic.append(("figure", box))
    regions: list[Region] = []
    taken: set[int] = set()
    for kind, box in graphic:
        if kind == "figure":
            box = _with_labels(box, blocks, taken)
        members = [i for i, b in enumerate(blocks) if i not in taken and _inside(b.box, box.expand(2.0), 0.5)]
        grown = union_all([box] + [blocks[i].box for i in members])
        for _ in range(3):  # titles, subtitles, notes and captions: blocks stacked right above or below
            best, best_gap = None, 0.0
            for i, block in enumerate(blocks):
                if i in taken or i in members or len(block.text) > 400:
                    continue
                if block.box.x0 < grown.x0 - 24 or block.box.x1 > grown.x1 + 24:
                    continue  # wider than the figure's column: body text, not a caption
                gap = max(grown.y0 - block.box.y1, block.box.y0 - grown.y1)
                if -2 <= gap <= 1.6 * block.line_height + 4 and (best is None or gap < best_gap):
                    best, best_gap = i, gap
            if best is None:
                break
            members.append(best)
            grown = grown.union(blocks[best].box)
        taken.update(members)
        full = grown.clip(width, height)
        text = "\n".join(t for t in _graphic_text(kind, box, lines, [blocks[i] for i in members]) if t)
        regions.append(Region(kind, full, text.strip()))
    rest = [b for i, b in enumerate(blocks) if i not in taken]
    regions += _text_regions(rest)
    if len(regions) > MAX_REGIONS:
        keep = sorted(regions, key=lambda r: (r.kind == "text", -len(r.text)))[:MAX_REGIONS]
        regions = [r for r in regions if r in keep]
    return sorted(regions, key=lambda r: (r.box.y0, r.box.x0))


def _with_labels(box: Box, blocks: list[Block], taken: set[int]) -> Box:
    """A chart's box grown over the short texts hugging its graphics: tick labels, axis titles, legends.

    A chart's box comes from its paths (bars, lines, swatches); its words sit just outside them. Short
    blocks (labels, not paragraphs) within about a line and a half of the box join it, repeatedly, so
    an axis title beyond its tick labels joins too.
    """
    for _ in range(4):
        grown = box
        for i, block in enumerate(blocks):
            if i in taken or len(block.text) > LABEL_MAX_CHARS or _inside(block.box, box.expand(2.0), 0.5):
                continue
            margin = 1.5 * block.line_height + 6
            if block.box.intersects(box.expand(margin)):
                grown = grown.union(block.box)
        if grown == box:
            break
        box = grown
    return box


def _graphic_text(kind: str, box: Box, lines: list[Line], members: list[Block]) -> tuple[str, str, str]:
    """A table's or figure's text: the titles above it, every line inside its box, the notes below it.

    The inside is read from *lines*, not from blocks: a block that reaches outside the box (a column of
    numbers merged with the paragraph under the table) would otherwise take its lines with it, and a
    table would keep its header and caption but lose its numbers. A table reads row by row
    ("Revenue | 3,223.9 | 2,076.6"), not column by column as blocks would; a figure reads its axis
    labels, legend and annotations top to bottom.
    """
    area = box.expand(2.0)
    inside = [line for line in lines if _inside(line.box, area, 0.5)]
    outside = sorted((b for b in members if not _inside(b.box, area, 0.5)), key=lambda b: (b.box.y0, b.box.x0))
    above = " ".join(b.text for b in outside if (b.box.y0 + b.box.y1) / 2 <= box.y0 + 2)
    below = " ".join(b.text for b in outside if (b.box.y0 + b.box.y1) / 2 > box.y0 + 2)
    if kind == "table":
        body = table_text(inside)
    else:
        body = " ".join(row.replace(" | ", " ") for row in table_text(inside).splitlines())
    return above, body, below


def _text_regions(blocks: list[Block]) -> list[Region]:
    """Neighbouring blocks of one column are merged into regions of paragraph size (headings join their text)."""
    open_regions: list[list[Block]] = []
    for block in sorted(blocks, key=lambda b: (b.box.y0, b.box.x0)):
        best = None
        for group in open_regions:
            last = group[-1].box
            gap = block.box.y0 - last.y1
            narrow = min(block.box.width, last.width)
            size = sum(len(b.text) for b in group)
            if -2 <= gap <= 2.2 * max(block.line_height, group[-1].line_height) and \
                    block.box.x_overlap(last) >= 0.5 * narrow and size + len(block.text) <= REGION_MAX_CHARS:
                best = group
                break
        if best is None:
            open_regions.append([block])
        else:
            best.append(block)
    out = []
    for group in open_regions:
        text = " ".join(b.text for b in group).strip()
        if len(text) >= REGION_MIN_CHARS:
            out.append(Region("text", union_all([b.box for b in group]), text))
    return out
