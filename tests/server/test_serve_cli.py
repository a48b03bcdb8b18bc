"""``polyseek serve`` as a real process: the stable contract on a loopback port, and the DNS-rebinding guard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow
def test_serve_answers_the_stable_contract(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "root").mkdir()
    command = [sys.executable, "-m", "polyseek", "serve", "--store", str(tmp_path / "index"), "--port", str(port),
               "--root", str(tmp_path / "root"), "--image-encoder", "deterministic", "--text-encoder", "deterministic",
               "--no-warm", "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "POLYSEEK_TOKEN"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert httpx.post(f"{base}/api/search", json={"text": "anything", "k": 3}).json()["hits"] == []
        (tmp_path / "root" / "note.md").write_text("# Kites\nKites fly on windy days at the beach.\n")
        job = httpx.post(f"{base}/api/index/jobs", json={"path": ""}).json()
        while job["state"] not in {"done", "failed"}:
            time.sleep(0.1)
            job = httpx.get(f"{base}/api/index/jobs/{job['id']}").json()
        hits = httpx.post(f"{base}/api/search", json={"text": "kites windy beach", "k": 3}).json()["hits"]
        assert hits[0]["path"].endswith("note.md") and hits[0]["locator"] == {"line_start": 1, "line_end": 2}
        rebound = httpx.get(f"{base}/api/status", headers={"host": "rebind.example:80"})
        assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    finally:
        process.terminate()
        process.wait(15)
