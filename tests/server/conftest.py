"""Fixtures for the HTTP API tests: an indexed collection on the deterministic encoders and a TestClient."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def png_bytes(rgb=(220, 20, 20), size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def indexed(collection: Path, engine_factory):
    """(engine, collection root) with the collection indexed on the deterministic encoders (LanceDB store)."""
    engine = engine_factory()
    engine.index([collection])
    return engine, collection


@pytest.fixture
def make_client():
    """Build a TestClient around create_app(engine, **options); closes them after the test."""
    from fastapi.testclient import TestClient

    from polyseek.server import create_app

    clients = []

    def make(engine, **options):
        client = TestClient(create_app(engine, **options), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(indexed, make_client):
    engine, root = indexed
    return make_client(engine, roots=[root])
