"""A CLI search is answered by a running ``polyseek serve`` of the same store, and falls back when there is none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyseek.cli.remote import DISCOVERY, find_server

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polyseek", *args], capture_output=True, text=True, env=ENV, timeout=300)


@pytest.mark.slow
def test_a_running_server_answers_cli_searches_and_goes_away_cleanly(collection, engine_factory, tmp_path: Path):
    store = tmp_path / "store"
    engine = engine_factory(store)
    engine.index([collection])
    expected = [h.id for h in engine.search("a dog running on grass", k=3)]
    engine.close()
    server = subprocess.Popen([sys.executable, "-m", "polyseek", "serve", "--store", str(store), "--port", "0", "--no-warm"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.time() + 120
        while find_server(str(store)) is None:
            assert server.poll() is None and time.time() < deadline, server.stderr.read() if server.poll() is not None else "no discovery file"
            time.sleep(0.2)
        assert oct((store / DISCOVERY).stat().st_mode & 0o777) == "0o600"
        served = cli("search", "a dog running on grass", "--store", str(store), "--k", "3", "--json", "--timings")
        assert served.returncode == 0, served.stderr
        out = json.loads(served.stdout)
        assert out.get("served_by") == "polyseek serve" and [h["id"] for h in out["hits"]] == expected
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert not (store / DISCOVERY).exists()  # withdrawn on exit
    local = json.loads(cli("search", "a dog running on grass", "--store", str(store), "--k", "3", "--json", "--timings").stdout)
    assert "served_by" not in local and [h["id"] for h in local["hits"]] == expected


def test_a_stale_discovery_file_is_ignored(collection, engine_factory, tmp_path: Path):
    store = tmp_path / "store"
    engine = engine_factory(store)
    engine.index([collection])
    engine.close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (store / DISCOVERY).write_text(json.dumps({"pid": int(dead), "url": "http://127.0.0.1:9/", "token": None}))
    assert find_server(str(store)) is None
    result = cli("search", "dog", "--store", str(store), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["hits"]
