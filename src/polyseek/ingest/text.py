"""Plain text and Markdown: split into passages of whole lines, each with its line span."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from polyseek.errors import CorruptFileError, FileTooLargeError
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.types import Locator, Modality

MAX_BYTES = 50_000_000
PASSAGE_CHARS = 800


def read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FileTooLargeError(f"{path.name}: {size:,} bytes, over the text limit of {MAX_BYTES:,}")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise CorruptFileError(f"{path.name}: looks binary, not text (accepted: UTF-8 or Latin-1 text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def passages(text: str, max_chars: int = PASSAGE_CHARS) -> Iterator[tuple[int, int, str]]:
    """Group lines into passages near ``max_chars``, breaking preferably at blank lines and headings.

    Yields ``(first_line, last_line, body)`` with 1-based inclusive line numbers of the non-blank span.
    """
    lines = text.splitlines()

    def emit(start: int, stop: int) -> Iterator[tuple[int, int, str]]:
        while start < stop and not lines[start].strip():
            start += 1
        while stop > start and not lines[stop - 1].strip():
            stop -= 1
        if start < stop:
            yield start + 1, stop, "\n".join(lines[start:stop])

    start, size = 0, 0
    for number, line in enumerate(lines):
        is_break = not line.strip() or line.lstrip().startswith("#")
        if number > start and (size + len(line) > max_chars or (is_break and size > max_chars // 2)):
            yield from emit(start, number)
            start, size = number, 0
        size += len(line) + 1
    yield from emit(start, len(lines))


@ingestors.register("text")
class TextIngestor:
    name = "text"
    extensions = frozenset({"txt", "md", "markdown", "rst", "text"})
    pictures = False

    def ingest(self, path: Path, progress: ProgressFn | None = None) -> Iterator[Chunk]:
        text = read_text(path)
        for line_start, line_end, body in passages(text):
            # long single lines are cut so no passage outgrows the encoders' window
            for offset in range(0, len(body), PASSAGE_CHARS * 2):
                yield Chunk(
                    modality=Modality.TEXT,
                    locator=Locator(line_start=line_start, line_end=line_end),
                    text=body[offset : offset + PASSAGE_CHARS * 2],
                )
