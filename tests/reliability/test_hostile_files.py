"""Files and folders that used to abort or hang a run: undecodable names, FIFOs and devices, unreadable folders."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from PIL import Image


def index_with_deadline(engine, paths, seconds: float = 60, **kwargs):
    """Run ``engine.index`` in a thread; a run that blocks (on a FIFO) fails the test instead of hanging it."""
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(summary=engine.index(paths, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the index run blocked"
    return result["summary"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_name_that_is_not_utf8_is_reported_and_the_run_goes_on(tmp_path, engine_factory):
    """Defect 4: one such name aborted every run with UnicodeEncodeError."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    bad = os.path.join(os.fsencode(folder), b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
    with open(bad, "wb") as handle:
        Image.new("RGB", (16, 16), "blue").save(handle, "PNG")
    engine = engine_factory()
    for _ in range(2):  # and on every re-run
        summary = engine.index([folder])
        assert engine.store.count() == 1
        (failure,) = summary.failed
        assert failure["path"].endswith("caf\\xe9.png")
        assert "not valid UTF-8" in failure["reason"]
        json.dumps(summary.to_dict(), ensure_ascii=False).encode("utf-8")  # prints and serialises


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_and_links_to_devices_are_skipped_not_read(tmp_path, engine_factory):
    """Defect 5: a FIFO or a symlink to a device with an indexable extension hung the indexer forever."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "red.png")
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "null.md").symlink_to("/dev/null")
    engine = engine_factory()
    summary = index_with_deadline(engine, [folder])
    reasons = {Path(f["path"]).name: f["reason"] for f in summary.failed}
    assert set(reasons) == {"pipe.txt", "zero.jpg", "null.md"}
    assert all("not a regular file" in r for r in reasons.values())
    assert summary.added == 1 and engine.store.count() == 1
    # named directly on the command line too
    summary = index_with_deadline(engine, [folder / "pipe.txt", folder / "zero.jpg"])
    assert [Path(f["path"]).name for f in summary.failed] == ["pipe.txt", "zero.jpg"]


def _make_unreadable(folder: Path, monkeypatch) -> None:
    """chmod 000, or, for root (whom permissions do not stop), the same refusals from the OS calls."""
    folder.chmod(0)
    if os.geteuid() != 0:
        return
    real_scandir, real_stat = os.scandir, os.stat

    def denied(path) -> bool:
        text = os.fsdecode(path)
        return text == str(folder) or text.startswith(str(folder) + os.sep)

    def scandir(path="."):
        if denied(path):
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    def stat(path, *args, **kwargs):
        if denied(path) and os.fsdecode(path) != str(folder):
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)


def test_an_unreadable_folder_is_reported_and_its_items_kept(tmp_path, engine_factory, monkeypatch):
    """Defect 6: a sub-folder that became unreadable crashed every later run (PermissionError from exists())."""
    root = tmp_path / "root"
    locked = root / "private"
    locked.mkdir(parents=True)
    Image.new("RGB", (16, 16), "red").save(root / "red.png")
    Image.new("RGB", (16, 16), "blue").save(locked / "blue.png")
    (locked / "notes.txt").write_text("secret notes about whales")
    engine = engine_factory()
    assert engine.index([root]).added == 3
    items = engine.store.count()
    _make_unreadable(locked, monkeypatch)
    try:
        for _ in range(2):
            summary = engine.index([root])
            assert [(f["path"], f["reason"]) for f in summary.failed] == [(str(locked), "cannot read folder: permission denied")]
            assert summary.removed == 0 and engine.store.count() == items  # kept while unreadable
    finally:
        monkeypatch.undo()
        locked.chmod(0o755)
    assert engine.index([root]).unchanged == 3
