"""An index in ./my-index (deterministic encoders) of three photos and two notes, as the README snippets expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_images


@pytest.fixture
def readme_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory holds ``my-index``, built here; the snippets open it by that name."""
    from polyseek.engine import Engine

    root = tmp_path / "files"
    make_images(root / "photos")
    (root / "notes").mkdir()
    (root / "notes" / "pets.md").write_text("# Dogs\nA dog running on grass chases a ball.\n")
    (root / "notes" / "garden.txt").write_text("Tomatoes and basil grow in the garden beds.\n")
    with Engine(str(tmp_path / "my-index"), image_encoder="deterministic", text_encoder="deterministic") as engine:
        summary = engine.index([str(root)])
    assert summary.added == 5 and not summary.failed
    monkeypatch.chdir(tmp_path)
    return root
