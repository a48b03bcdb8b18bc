"""Fixtures for the recommendation tests: an indexed generated catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.recommend._catalogue import RECORDS, write_catalogue


@pytest.fixture
def catalogue_engine(tmp_path: Path, engine_factory):
    """An engine over the generated catalogue; returns (engine, catalogue path)."""
    path = write_catalogue(tmp_path / "shop")
    engine = engine_factory(tmp_path / "store")
    summary = engine.index([path])
    assert summary.items == len(RECORDS), summary
    return engine, path
