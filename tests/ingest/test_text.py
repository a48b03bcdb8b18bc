"""Text and Markdown ingestion: passages with line spans, bad text files."""

from __future__ import annotations

import pytest

from polyseek.errors import CorruptFileError
from polyseek.ingest.text import TextIngestor, passages


def test_passages_keep_line_spans():
    text = "# Title\nintro line\n\n" + "\n".join(f"line {i} " + "x" * 60 for i in range(30)) + "\n\n# End\nbye\n"
    spans = list(passages(text, max_chars=400))
    assert len(spans) > 2
    lines = text.splitlines()
    for start, end, body in spans:
        assert 1 <= start <= end <= len(lines)
        assert body.splitlines()[0].strip() == lines[start - 1].strip()
    assert spans[0][0] == 1 and spans[-1][1] == len(lines)
    covered = {n for s, e, _ in spans for n in range(s, e + 1)}
    assert covered >= {n for n, line in enumerate(lines, 1) if line.strip()}  # every non-blank line is somewhere


def test_ingest_utf8_latin1_and_binary(tmp_path):
    (tmp_path / "a.md").write_text("héllo wörld\n", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "c.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "d.txt").write_text("")
    ingestor = TextIngestor()
    assert next(ingestor.ingest(tmp_path / "a.md")).text == "héllo wörld"
    assert next(ingestor.ingest(tmp_path / "b.txt")).text == "café au lait"
    with pytest.raises(CorruptFileError, match="binary"):
        list(ingestor.ingest(tmp_path / "c.txt"))
    assert list(ingestor.ingest(tmp_path / "d.txt")) == []


def test_one_huge_line_is_cut(tmp_path):
    (tmp_path / "long.txt").write_text("word " * 5000)
    chunks = list(TextIngestor().ingest(tmp_path / "long.txt"))
    assert len(chunks) > 1 and all(len(c.text) <= 1600 for c in chunks)
