"""End-to-end fixtures: a generated collection, a real ``polyseek serve`` subprocess, and Debian chromium via Playwright.

Screenshots go to ``artifacts/e2e/`` (git-ignored; CI keeps them as artefacts). Set
``POLYSEEK_UPDATE_SCREENSHOT=1`` to also refresh ``docs/img/ui.png``, the README's picture of the UI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("POLYSEEK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
SAMPLE = REPO / "src" / "polyseek" / "sample" / "collection"
TIMEOUT_MS = 30_000  # CI machines and this shared 2-core box are slow; nothing here should take that long

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_collection(tmp_path_factory) -> Path:
    """Sample photos and notes, a two-page PDF with paragraphs, a three-scene video (red, green, blue)."""
    from tests.ingest._media import write_video
    from tests.server._docs import report_pdf

    root = tmp_path_factory.mktemp("e2e") / "collection"
    shutil.copytree(SAMPLE / "photos", root / "photos")
    shutil.copytree(SAMPLE / "notes", root / "notes")
    (root / "docs").mkdir()
    report_pdf(root / "docs" / "report.pdf")
    (root / "video").mkdir()
    write_video(root / "video" / "scenes.mp4", [((220, 30, 30), 2.0), ((30, 200, 40), 2.0), ((30, 40, 220), 2.0)])
    return root


def start_serve(store: str, log_path: Path, *extra: str, env_extra: dict[str, str] | None = None):
    """A ``polyseek serve`` subprocess on a free loopback port (deterministic encoders); returns (process, base URL)."""
    import httpx

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "POLYSEEK_LOG": "WARNING", **(env_extra or {})}
    if "POLYSEEK_TOKEN" not in (env_extra or {}):
        env.pop("POLYSEEK_TOKEN", None)
    log = log_path.open("w")
    command = [sys.executable, "-m", "polyseek", "serve", "--store", store, "--port", str(port),
               "--image-encoder", "deterministic", "--text-encoder", "deterministic", "--no-warm",
               "--log-level", "warning", *extra]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"polyseek serve did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def server(e2e_collection, tmp_path_factory):
    """Base URL of a running ``polyseek serve`` whose index holds the whole collection (indexed over HTTP)."""
    import httpx

    store = tmp_path_factory.mktemp("e2e-store") / "index"
    log_path = tmp_path_factory.mktemp("e2e-log") / "serve.log"
    process, base = start_serve(str(store), log_path, "--root", str(e2e_collection))
    try:
        job = httpx.post(f"{base}/api/index/jobs", json={"path": ""}, timeout=10).json()
        while job["state"] not in {"done", "failed", "cancelled"}:
            time.sleep(0.2)
            job = httpx.get(f"{base}/api/index/jobs/{job['id']}", timeout=10).json()
        assert job["state"] == "done" and not job["summary"]["failed"], job
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the UI; the test fails on any uncaught script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/")
    tab.wait_for_selector("html[data-ready=true]")
    yield tab
    context.close()
    assert not errors, errors


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
