"""A plain ``polyseek search`` goes to a running server before the Typer app is built; anything else to the full CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from polyseek.cli.remote import DISCOVERY, parse_plain_search

HIT = {"id": "i1", "score": 0.5, "modality": "image", "path": "/photos/dog.jpg", "locator": {}, "text": "",
       "scores": {"image": 0.5}, "metadata": {}}


def test_the_plain_parser_reads_the_search_options_it_knows():
    options = parse_plain_search(["a", "dog", "-k", "3", "--json", "--type", "jpg", "-t", ".PNG", "--store=/x",
                                  "--no-rerank", "--after", "2024-01-31", "-m", "image"])
    assert options == {"query": ["a", "dog"], "k": "3", "as_json": True, "file_type": ["jpg", ".PNG"], "store": "/x",
                       "rerank": False, "after": "2024-01-31", "modality": ["image"], "signal": []}


@pytest.mark.parametrize("args", [["dog", "--image", "x.jpg"], ["dog", "-k3"], ["dog", "--store"], ["dog", "--help"],
                                  ["dog", "-k", "1", "-k", "2"], ["--", "dog"], ["dog", "--rerank", "--no-rerank"],
                                  ["dog", "--json=1"], ["dog", "--store", ""], ["dog", "--expand"], ["dog", "--show", "out"]])
def test_anything_else_goes_to_the_full_cli(args):
    assert parse_plain_search(args) is None


class Answers(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        Answers.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        payload = json.dumps({"hits": [HIT]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``polyseek ARGS`` in a new process; stderr's last line says whether the Typer app was imported."""
    code = ("import atexit, sys; atexit.register(lambda: print('APP' if 'polyseek.cli.app' in sys.modules else 'NO-APP', "
            "file=sys.stderr)); from polyseek.cli import main; main(sys.argv[1:])")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("POLYSEEK_STORE", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_plain_search_is_answered_without_the_typer_app_and_other_searches_are_not(tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store = tmp_path / "store"
    store.mkdir()
    (store / "catalog.sqlite").write_bytes(b"")
    # this test process stands in for `polyseek serve`: its pid is alive, its port answers
    (store / DISCOVERY).write_text(json.dumps({"pid": os.getpid(), "url": f"http://127.0.0.1:{server.server_port}/",
                                               "token": None}))
    try:
        served = run_cli("search", "a", "dog", "--store", str(store), "-k", "3", "--type", ".JPG", "--json", "--timings")
        assert served.returncode == 0, served.stderr
        assert json.loads(served.stdout) == {"hits": [HIT], "served_by": "polyseek serve"}
        assert served.stderr.strip().splitlines()[-1] == "NO-APP"
        assert Answers.bodies[-1]["text"] == "a dog" and Answers.bodies[-1]["k"] == 3
        assert Answers.bodies[-1]["filters"]["file_types"] == ["jpg"]
        table = run_cli("search", "dog", "--store", str(store))
        assert table.returncode == 0 and "/photos/dog.jpg" in table.stdout and "0.5000" in table.stdout
        wrong = run_cli("search", "dog", "--store", str(store), "-k", "0")  # the full CLI reports it, as before
        assert wrong.returncode == 2 and "--k" in wrong.stderr and wrong.stderr.strip().splitlines()[-1] == "APP"
        asked = len(Answers.bodies)
        bad_date = run_cli("search", "dog", "--store", str(store), "--after", "someday")
        assert bad_date.returncode == 2 and "--after must be a date" in bad_date.stderr
        assert len(Answers.bodies) == asked  # never sent
    finally:
        server.shutdown()
