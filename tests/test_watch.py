"""The watched index with real file events: create, modify, rename, delete, folders moved in and out, a file written slowly."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from polyseek.watch import Watcher
from tests.conftest import make_images
from tests.integrations._readme import snippet

SETTLE = 0.5


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def indexed(engine) -> dict[str, dict]:
    return {record["path"]: record for record in engine.files()}


@pytest.fixture
def watch_factory(tmp_path: Path, engine_factory):
    """A watcher of a new empty folder into a new index; stopped afterwards."""
    watchers = []

    def make(settle: float = SETTLE):
        folder = tmp_path / f"watched{len(watchers)}"
        folder.mkdir()
        engine = engine_factory(tmp_path / f"store{len(watchers)}")
        engine.index([str(folder)])  # an empty index: the spaces exist before the first batch
        watcher = Watcher(engine, [folder], settle=settle, debounce_ms=100).start()
        assert watcher.live
        watchers.append(watcher)
        return folder, engine, watcher

    yield make
    for watcher in watchers:
        watcher.stop()
        assert not watcher.live


@pytest.fixture
def watched(watch_factory):
    return watch_factory()


def test_create_modify_rename_delete(watched):
    folder, engine, watcher = watched
    photo = make_images(folder, {"red": (220, 20, 20)})["red"]
    note = folder / "note.md"
    note.write_text("# Plants\nThe fern needs shade.\n")
    (folder / ".hidden.jpg").write_bytes(photo.read_bytes())  # hidden and unsupported files are not watched
    (folder / "data.xyz").write_text("not a supported type")
    wait_until(lambda: {str(photo), str(note)} <= set(indexed(engine)), what="created files indexed")
    assert engine.search(image=str(photo), k=1)[0].item.path == str(photo)
    assert not any(".hidden" in p or p.endswith(".xyz") for b in watcher.batches for p in b.indexed)

    note.write_text("# Plants\nThe cactus wants full sun.\n")
    wait_until(lambda: any("cactus" in h.item.text for h in engine.search("cactus sun", k=3)), what="modified note re-indexed")
    assert not any("fern" in h.item.text for h in engine.search("fern shade", k=5))

    moved = folder / "renamed.jpg"
    photo.rename(moved)
    wait_until(lambda: str(moved) in indexed(engine) and str(photo) not in indexed(engine), what="rename followed")

    moved.unlink()
    wait_until(lambda: str(moved) not in indexed(engine), what="deletion followed")
    assert {h.item.path for h in engine.search("anything", k=10)} <= {str(note)}
    assert watcher.status()["last_error"] is None


def test_folders_moved_in_and_out(watched, tmp_path: Path):
    folder, engine, _ = watched
    outside = tmp_path / "outside" / "trip"
    make_images(outside)
    (outside.parent / "trip").rename(folder / "trip")
    inside = folder / "trip"
    wait_until(lambda: sum(p.startswith(str(inside)) for p in indexed(engine)) == 3, what="moved-in folder indexed")
    inside.rename(tmp_path / "outside" / "back")
    wait_until(lambda: not any(p.startswith(str(inside)) for p in indexed(engine)), what="moved-out folder removed")


def test_a_file_being_written_is_indexed_once_complete(watch_factory):
    # pauses longer than a watch step (so a watcher without the settle rule indexes the half file: checked by
    # running this with settle=0.05, which indexed it four times, three of them failed) but well under settle,
    # with room for a loaded machine to oversleep
    settle = 2.0
    folder, engine, watcher = watch_factory(settle)
    folder = folder / "downloads"  # a new folder settles early: it must wait for the file being written in it
    folder.mkdir()
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 64).convert("RGB").save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    target = folder / "download.jpg"
    finished_at: list[float] = []

    def write_slowly() -> None:
        step = len(data) // 4 + 1
        with target.open("wb") as handle:
            for start in range(0, len(data), step):
                handle.write(data[start:start + step])
                handle.flush()
                time.sleep(0.5)
        finished_at.append(time.time())

    writer = threading.Thread(target=write_slowly)
    writer.start()
    writer.join()
    def covers(batch) -> bool:
        return any(str(target) == p or str(target).startswith(p + os.sep) for p in batch.indexed)

    wait_until(lambda: any(covers(b) for b in watcher.batches), what="written file indexed")
    time.sleep(settle * 2)  # a second batch for the same file would come within this
    record = indexed(engine)[str(target)]
    assert record["status"] == "ok" and record["size"] == len(data)
    assert not [b for b in watcher.batches if b.summary and b.summary.failed]
    batches = [b for b in watcher.batches if covers(b)]
    assert len(batches) == 1, "indexed more than once: it was picked up half-written"
    assert batches[0].at >= finished_at[0]
    assert not batches[0].summary.failed


def test_status_endpoint_reports_a_live_index(watched):
    from fastapi.testclient import TestClient

    from polyseek.server import create_app

    folder, engine, watcher = watched
    app = create_app(engine, roots=[str(folder)])
    app.state.polyseek_watcher = watcher
    with TestClient(app) as client:
        status = client.get("/api/status").json()
    assert status["server"]["watch"]["live"] is True
    assert status["server"]["watch"]["paths"] == [str(folder)]


def test_watching_nothing_or_a_missing_folder_is_refused(engine_factory, tmp_path: Path):
    from polyseek.errors import InvalidInputError

    engine = engine_factory(tmp_path / "store")
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        Watcher(engine, [tmp_path / "missing"])
    with pytest.raises(InvalidInputError, match="nothing to watch"):
        Watcher(engine, [])


def read_json_line(process: subprocess.Popen, timeout: float = 120.0) -> dict:
    """The next JSON line the process prints, or a failure (not a hang) when none comes in time."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines and lines[0], f"no output; stderr: {process.stderr.read() if process.poll() is not None else '(running)'}"
    return json.loads(lines[0])


@pytest.mark.slow
def test_readme_watch_command(tmp_path: Path):
    """``polyseek watch`` as the README shows it, on two folders: catches up, then follows a new file."""
    from polyseek.engine import Engine

    pictures, notes = tmp_path / "Pictures", tmp_path / "notes"
    make_images(pictures)
    notes.mkdir()
    with Engine(str(tmp_path / "my-index"), image_encoder="deterministic", text_encoder="deterministic") as engine:
        engine.index([str(notes)])
    line = snippet("watch").strip()
    argv = shlex.split(line.replace("~/Pictures", str(pictures)).replace("~/notes", str(notes)))
    assert argv[:2] == ["polyseek", "watch"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "polyseek", *argv[1:], "--json", "--settle", "0.3"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = read_json_line(process)
        assert first["event"] == "initial" and first["summary"]["added"] == 3
        (notes / "todo.md").write_text("# Todo\nWater the fern.\n")
        batch = read_json_line(process)
        assert batch["event"] == "batch" and batch["indexed"] == [str(notes / "todo.md")]
        assert batch["summary"]["added"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode in (0, 130), process.stderr.read()  # 130: Ctrl+C landed outside the OS wait


@pytest.mark.slow
def test_serve_watch_reports_live_and_follows_the_root(tmp_path: Path):
    """``polyseek serve --root DIR --watch``: the status says live, the root is indexed, a new photo follows."""
    import socket

    import httpx

    root = tmp_path / "root"
    make_images(root)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "polyseek", "serve", "--root", str(root), "--watch", "--settle", "0.3",
                                "--port", str(port), "--store", str(tmp_path / "index"), "--no-warm", "--log-level", "warning",
                                "--image-encoder", "deterministic", "--text-encoder", "deterministic"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def status() -> dict | None:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stderr.read()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
        except httpx.HTTPError:
            return None

    try:
        first = wait_until(lambda: (s := status()) and s["files"] == 3 and s, timeout=120, what="root indexed")
        assert first["server"]["watch"]["live"] is True and first["server"]["watch"]["paths"] == [str(root)]
        make_images(root / "new", {"teal": (20, 160, 160)})
        wait_until(lambda: (s := status()) and s["files"] == 4, timeout=60, what="new photo indexed")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0, process.stderr.read()
