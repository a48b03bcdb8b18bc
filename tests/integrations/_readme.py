"""Snippets out of README.md's "Use it from…" section, so the tests run exactly what the README shows."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str) -> str:
    """The fenced code block that follows ``<!-- snippet: NAME -->`` in README.md."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet: " + re.escape(name) + r" -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"README.md has no snippet {name!r}"
    return match.group(1)
