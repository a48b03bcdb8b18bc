"""Schemathesis against ``/openapi.json`` of a live loopback uvicorn server: every generated request (valid and
invalid by the schema) is answered without a 5xx, and every error answer is the JSON error shape."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

schemathesis = pytest.importorskip("schemathesis")
uvicorn = pytest.importorskip("uvicorn")
requests = pytest.importorskip("requests")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(indexed):
    """``create_app`` on the deterministic encoders, served by uvicorn on a loopback port in a thread."""
    from polyseek.server import create_app

    engine, root = indexed
    app = create_app(engine, roots=[root], max_concurrent_searches=2, search_queue=16)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-schemathesis", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


def error_shape_problem(response) -> str | None:
    """Why an error answer is not ``{"error": {"code": str, "message": str, ...}}`` as JSON, or None."""
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = (headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        return f"content-type {content_type!r}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"body {response.text[:200]!r}"
    if not (isinstance(error.get("code"), str) and isinstance(error.get("message"), str) and error["message"]):
        return f"error {error!r}"
    return None


def fuzz(base_url: str, examples: int, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Run every operation (but ``skip``) with data valid by the schema, and with invalid data where it has a body
    or query parameters to break; returns request counts by status class."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    counts = {"requests": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    failures: list[str] = []
    session = requests.Session()
    for operation in (op for op in operations if op.label not in skip):
        modes = [GenerationMode.POSITIVE]
        if len(operation.body) or len(operation.query):  # path parameters alone are always strings: nothing to break
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                response = case.call(base_url=base_url, session=session, timeout=60)
                counts["requests"] += 1
                counts[f"{response.status_code // 100}xx"] += 1
                problem = None
                if response.status_code >= 500:
                    problem = f"status {response.status_code}: {response.text[:300]}"
                elif response.status_code >= 400:
                    problem = error_shape_problem(response)
                if problem and len(failures) < 20:
                    failures.append(f"{case.method} {case.formatted_path} {mode.value}: {problem}\n  "
                                    f"{case.as_curl_command()[:400]}")

            try:
                call()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(failures)
    return counts


def test_schemathesis_quick_run_finds_no_server_error(live_server):
    # the long run covers these two: ask loads the cross-encoder, and import's free-form items are slow to generate
    counts = fuzz(live_server, examples=5, skip=("POST /api/ask", "POST /api/concepts/import"))
    print(json.dumps(counts))
    assert counts["5xx"] == 0 and counts["requests"] >= 150, counts
    assert counts["4xx"] > 0 and counts["2xx"] > 0, counts  # both kinds of answer were exercised


@pytest.mark.slow
def test_schemathesis_long_run_finds_no_server_error(live_server):
    counts = fuzz(live_server, examples=30)
    print(json.dumps(counts))
    assert counts["5xx"] == 0 and counts["requests"] >= 1000, counts
