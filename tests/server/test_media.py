"""The render cache: one render per key under concurrency, LRU eviction by bytes, size snapping, media types."""

from __future__ import annotations

import threading
import time

import pytest

from polyseek.errors import NotFoundError
from polyseek.server.media import ImageCache, file_fingerprint, media_type, served_type, snap


def test_concurrent_requests_render_once():
    cache = ImageCache()
    calls = []

    def render():
        calls.append(1)
        time.sleep(0.05)
        return b"jpeg-bytes"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_render("k", render))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert {r for r in results} == {results[0]} and results[0][0] == b"jpeg-bytes"


def test_least_recently_used_entries_are_evicted_by_size():
    cache = ImageCache(max_bytes=800)
    for key in "abcd":
        cache.get_or_render(key, lambda: b"x" * 100)
    cache.get_or_render("a", lambda: b"never")  # touch a: b is now the oldest
    for key in "efghij":
        cache.get_or_render(key, lambda: b"y" * 100)
    assert cache.get_or_render("a", lambda: b"new")[0] == b"x" * 100
    assert cache.get_or_render("b", lambda: b"new")[0] == b"new"


def test_a_failed_render_is_not_cached():
    cache = ImageCache()
    with pytest.raises(RuntimeError):
        cache.get_or_render("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get_or_render("k", lambda: b"ok")[0] == b"ok"


def test_helpers(tmp_path):
    assert snap(100, (160, 320)) == 160 and snap(5000, (160, 320)) == 320
    assert media_type("a.MP4") == "video/mp4" and media_type("x.heic") == "image/heic"
    assert media_type("noext") == "application/octet-stream"
    with pytest.raises(NotFoundError):
        file_fingerprint(str(tmp_path / "gone.jpg"))


def test_files_that_could_run_script_are_never_served_as_pages():
    assert served_type("page.html") == ("text/plain; charset=utf-8", "inline")
    assert served_type("logo.svg") == ("text/plain; charset=utf-8", "inline")
    assert served_type("notes.md")[0] == "text/plain; charset=utf-8"
    assert served_type("film.mp4") == ("video/mp4", "inline") and served_type("doc.pdf") == ("application/pdf", "inline")
    assert served_type("tool.exe")[1] == "attachment"
