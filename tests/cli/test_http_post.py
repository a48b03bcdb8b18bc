"""The CLI's way to a running server: one HTTP/1.1 POST over a plain socket (no ``http.client``), read by its
Content-Length, chunk by chunk, or to the end; anything that is not a whole HTTP answer means "search in-process"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from polyseek.cli import remote
from polyseek.cli.remote import DISCOVERY, http_post, remote_search, split_url


def test_split_url_reads_what_announce_writes():
    assert split_url("http://127.0.0.1:8765/") == ("127.0.0.1", 8765, "/")
    assert split_url("http://[::1]:9000/") == ("::1", 9000, "/")
    assert split_url("http://localhost/base") == ("localhost", 80, "/base")
    for wrong in ("https://127.0.0.1:1/", "http://:80/", "ftp://x"):
        with pytest.raises(ValueError):
            split_url(wrong)


def one_answer(raw: bytes, close: bool = True) -> tuple[str, list[bytes]]:
    """A listening socket that answers one connection with ``raw`` (then closes it, or keeps it open); its URL and
    the requests it read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(65536)
        head, _, body = request.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += connection.recv(65536)
        seen.append(head + b"\r\n\r\n" + body)
        connection.sendall(raw)
        if close:
            connection.close()
        else:
            threading.Event().wait(3)  # keeps it open: the client must stop at Content-Length
            connection.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/", seen


def test_an_answer_is_read_by_its_length_even_when_the_connection_stays_open():
    body = json.dumps({"hits": [{"id": "é"}]}).encode()
    url, seen = one_answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                           + b"\r\n\r\n" + body, close=False)
    calls: list[int] = []
    status, got = http_post(url, "/api/search", b'{"text": "dog"}', {"Authorization": "Bearer t0k3n"}, timeout=2,
                            meanwhile=lambda: calls.append(1))  # runs once the request is out (the table's imports)
    assert (status, got) == (200, body) and calls == [1]
    assert seen[0].startswith(b"POST /api/search HTTP/1.1\r\n") and b"Authorization: Bearer t0k3n" in seen[0]
    assert seen[0].endswith(b'{"text": "dog"}')


def test_a_chunked_answer_and_one_read_to_the_end():
    url, _ = one_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n")
    assert http_post(url, "/x", b"{}", {}) == (200, b"hello world")
    url, _ = one_answer(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nbusy")
    assert http_post(url, "/x", b"{}", {}) == (503, b"busy")


@pytest.mark.parametrize("raw", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"hits\": []}",
                                 b"", b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nnot json!!!",
                                 b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}"])
def test_anything_but_a_whole_answer_with_hits_means_search_in_process(raw, monkeypatch):
    monkeypatch.setattr(remote, "_asked", set())
    url, _ = one_answer(raw)
    assert remote_search({"url": url}, {"text": "dog"}) is None
    assert url in remote._asked  # not asked again by this process


def test_a_served_json_search_imports_neither_http_client_nor_polyseeks_types(tmp_path: Path):
    hit = {"id": "i1", "score": 0.5, "modality": "image", "path": "/p/dog.jpg", "locator": {}, "text": "",
           "scores": {}, "metadata": {}}
    body = json.dumps({"hits": [hit]}).encode()
    url, seen = one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    store = tmp_path / "store"
    store.mkdir()
    (store / "catalog.sqlite").write_bytes(b"")
    (store / DISCOVERY).write_text(json.dumps({"pid": os.getpid(), "url": url, "token": None}))
    code = ("import atexit, sys; atexit.register(lambda: print(sorted(m for m in ('http.client', 'polyseek.types', "
            "'pathlib', 'polyseek.search.query_syntax') if m in sys.modules), file=sys.stderr)); "
            "from polyseek.cli import main; main(sys.argv[1:])")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("POLYSEEK_STORE", None)
    done = subprocess.run([sys.executable, "-c", code, "search", "a", "dog", "--store", str(store), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"hits": [hit]}
    assert json.loads(seen[0].partition(b"\r\n\r\n")[2])["text"] == "a dog"
    assert done.stderr.strip().splitlines()[-1] == "[]"
