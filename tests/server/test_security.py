"""Security of the HTTP API: token, Host/Origin checks, upload limits, root confinement, no file disclosure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polyseek.server.security import LOOPBACK_NAMES, RootPolicy, is_loopback

from .conftest import png_bytes

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the collection, outside every root, with an image in it."""
    folder = tmp_path / "private"
    folder.mkdir()
    from PIL import Image

    Image.new("RGB", (20, 20), (1, 2, 3)).save(folder / "secret.png")
    (folder / "diary.md").write_text("my secret diary\n")
    return folder


# ---- API token ----------------------------------------------------------------------------------
def test_token_is_required_except_for_health_and_the_ui_shell(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], token=TOKEN)
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    for method, path in [("get", "/api/status"), ("post", "/api/search"), ("get", "/openapi.json"),
                         ("get", "/api/files"), ("post", "/api/index/jobs"), ("get", "/api/concepts")]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
    wrong = client.post("/api/search", json={"text": "x"}, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.post("/api/search", json={"text": "dog"}, headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert client.get("/api/status", headers={"x-polyseek-token": TOKEN}).status_code == 200


def test_login_sets_an_httponly_cookie(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], token=TOKEN)
    assert client.post("/api/login", json={"token": "wrong"}).status_code == 401
    response = client.post("/api/login", json={"token": TOKEN})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and TOKEN.lower() not in cookie
    assert client.get("/api/status").status_code == 200  # the cookie now authenticates
    client.post("/api/logout")
    assert client.get("/api/status").status_code == 401


# ---- Host and Origin ------------------------------------------------------------------------------
def test_loopback_server_refuses_other_host_names(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], allowed_hosts=LOOPBACK_NAMES)
    assert client.get("/api/status", headers={"host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/api/status", headers={"host": "localhost"}).status_code == 200
    rebound = client.get("/api/status", headers={"host": "attacker.example:8765"})
    assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"


def test_cross_site_writes_are_refused(client):
    hostile = client.post("/api/search", json={"text": "dog"}, headers={"origin": "https://evil.example"})
    assert hostile.status_code == 403 and hostile.json()["error"]["code"] == "cross_origin"
    same = client.post("/api/search", json={"text": "dog"}, headers={"origin": "http://testserver"})
    assert same.status_code == 200


def test_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


# ---- upload limits --------------------------------------------------------------------------------
def test_oversized_upload_is_refused(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], max_upload_bytes=4096)
    big = {"image": ("big.png", os.urandom(10_000), "image/png")}
    response = client.post("/api/search", files=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    ok = client.post("/api/search", files={"image": ("small.png", png_bytes(), "image/png")})
    assert ok.status_code == 200


def test_oversized_body_without_content_length_is_cut_off(indexed, make_client):
    engine, root = indexed
    client = make_client(engine, roots=[root], max_upload_bytes=4096)

    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/api/search", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_decompression_bomb_upload_is_refused(client, tmp_path):
    from tests.conftest import png_header_only

    bomb = png_header_only(tmp_path / "bomb.png", 30_000, 30_000).read_bytes()
    response = client.post("/api/search", files={"image": ("bomb.png", bomb, "image/png")})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_uploads_stay_in_the_private_temp_dir(client, indexed):
    _, root = indexed
    before = {p for p in root.rglob("*")}
    client.post("/api/search", files={"image": ("q.png", png_bytes(), "image/png")})
    created = client.post("/api/concepts", data={"name": "Blob"}, files=[("images", ("../../evil.png", png_bytes(), "image/png"))])
    assert created.status_code == 201, created.text
    stored = Path(created.json()["images"][0])
    temp_dir = client.app.state.polyseek.temp_dir
    assert stored.is_relative_to(temp_dir) and stored.name != "evil.png"
    assert {p for p in root.rglob("*")} == before
    assert not (root.parent / "evil.png").exists()


def test_temp_dir_is_removed_at_shutdown(indexed):
    from fastapi.testclient import TestClient

    from polyseek.server import create_app

    engine, root = indexed
    app = create_app(engine, roots=[root])
    with TestClient(app):
        temp_dir = app.state.polyseek.temp_dir
        assert temp_dir.is_dir()
    assert not temp_dir.exists()


# ---- root confinement -----------------------------------------------------------------------------
def test_index_jobs_refuse_traversal(client, indexed, outside):
    _, root = indexed
    attempts = ["../private", str(outside), "/etc", "photos/../../private", "~", "../private/../../.."]
    for path in attempts:
        response = client.post("/api/index/jobs", json={"path": path})
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    assert client.post("/api/index/jobs", json={"path": "photos\x00/x"}).status_code == 400
    assert client.post("/api/index/jobs", json={"path": "photos", "root": 3}).status_code == 400
    assert client.post("/api/index/jobs", json={"path": "no-such-folder"}).status_code == 404


def test_symlink_folder_escaping_the_root_is_refused(client, indexed, outside):
    _, root = indexed
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    response = client.post("/api/index/jobs", json={"path": "link-out"})
    assert response.status_code == 403


def test_symlinked_file_escaping_the_root_is_not_indexed(client, indexed, outside):
    import time

    engine, root = indexed
    (root / "photos" / "sneaky.md").symlink_to(outside / "diary.md")
    (root / "photos" / "fine.md").write_text("a fine note about tulips\n")
    job = client.post("/api/index/jobs", json={"path": "photos"}).json()
    for _ in range(200):
        job = client.get(f"/api/index/jobs/{job['id']}").json()
        if job["state"] in {"done", "failed", "cancelled"}:
            break
        time.sleep(0.05)
    assert job["state"] == "done", job
    assert job["refused"] == [str(root.resolve() / "photos" / "sneaky.md")]
    paths = {f["path"] for f in client.get("/api/files").json()["files"]}
    assert str(root.resolve() / "photos" / "fine.md") in paths
    assert not any("sneaky" in p or "diary" in p for p in paths)
    hits = client.post("/api/search", json={"text": "secret diary", "k": 20}).json()["hits"]
    assert not any("secret" in h["text"] for h in hits)


def test_indexing_is_off_without_roots(indexed, make_client):
    engine, _ = indexed
    client = make_client(engine)
    response = client.post("/api/index/jobs", json={"path": "/tmp"})
    assert response.status_code == 403 and "--root" in response.json()["error"]["hint"]


def test_several_roots_need_a_root_number(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "x").mkdir(parents=True)
    (second / "x").mkdir(parents=True)
    policy = RootPolicy([first, second])
    assert policy.resolve("x", 1) == (second / "x").resolve()
    assert policy.resolve(str(first / "x")) == (first / "x").resolve()
    with pytest.raises(Exception, match="root number"):
        policy.resolve("x")


def test_query_image_paths_reveal_nothing_and_read_nothing(client, indexed, outside):
    _, root = indexed
    existing = client.post("/api/search", json={"text": f"{outside / 'secret.png'}"})
    missing = client.post("/api/search", json={"text": f"{outside / 'nothing.png'}"})
    inside = client.post("/api/search", json={"text": f"{root / 'photos' / 'green.jpg'}"})
    assert existing.status_code == missing.status_code == inside.status_code == 400
    assert existing.json()["error"]["code"] == missing.json()["error"]["code"] == "invalid_input"
    assert existing.json()["error"]["hint"] == missing.json()["error"]["hint"] and "upload" in missing.json()["error"]["hint"]


def test_concept_import_cannot_read_files_outside(client, outside):
    items = [{"name": "Leak", "images": [str(outside / "secret.png")]}]
    response = client.post("/api/concepts/import", json={"items": items})
    assert response.status_code == 403
    assert client.get("/api/concepts/Leak").status_code == 404


def test_serve_refuses_a_public_bind_without_a_token(monkeypatch):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    monkeypatch.delenv("POLYSEEK_TOKEN", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--store", "memory://", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code != 0 and "token is required" in str(result.exception)
    result = runner.invoke(app, ["serve", "--store", "memory://", "--host", "0.0.0.0", "--token", "short"])
    assert result.exit_code != 0 and "too short" in str(result.exception)
    monkeypatch.delenv("MISSING_TOKEN_VAR", raising=False)
    result = runner.invoke(app, ["serve", "--store", "memory://", "--token-env", "MISSING_TOKEN_VAR"])
    assert result.exit_code != 0 and "MISSING_TOKEN_VAR" in str(result.exception)


def test_loopback_detection():
    assert all(is_loopback(h) for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
    assert not any(is_loopback(h) for h in ["0.0.0.0", "192.168.1.4", "example.com", "::"])
