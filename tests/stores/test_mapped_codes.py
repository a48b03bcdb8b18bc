"""A shortlist's offset codes (the integer scan's input) are kept in a file of their own and memory-mapped when it
opens; a shortlist written before that file existed keeps it on its first scan; answers never change."""

from __future__ import annotations

import os

import numpy as np
import pytest

import polyseek.stores.shortlist as shortlist_module
from polyseek.stores.shortlist import UNSIGNED_FILE, Shortlist
from polyseek.types import Filters, Modality

N, DIM, PREFIX, VERSION = 2400, 32, 16, 7
FILTERS = [None, Filters(modalities=(Modality.IMAGE,)), Filters(modalities=(Modality.PAGE, Modality.TEXT))]


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kinds = ["image", "page", "text"]
    monkeypatch.setattr(shortlist_module, "ROWS_PER_LIST", 300)
    space = tmp_path / "space"
    shortlist_module.build(space, vectors, [f"r{i:05d}" for i in range(N)], [kinds[i % 3] for i in range(N)],
                           ["x"] * N, np.arange(N, dtype=np.float64), version=VERSION, prefix=PREFIX)
    return space


def queries(count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(6)
    out = rng.normal(size=(count, DIM)).astype(np.float32)
    return list(out / np.linalg.norm(out, axis=1, keepdims=True))


def answers(shortlist: Shortlist) -> list:
    return [shortlist.search(q, 15, f) for q in queries() for f in FILTERS]


def reference(folder, monkeypatch) -> list:
    """The answers of numpy's float scan over the int8 codes read whole (no offset copy, no file)."""
    with monkeypatch.context() as patch:
        patch.setattr(shortlist_module, "INTEGER_SCAN", False)
        plain = Shortlist(folder)
        assert plain._codes is not None and not plain._mapped
        return answers(plain)


def test_build_writes_the_offset_codes_and_a_shortlist_maps_them(folder, monkeypatch):
    kept = folder / UNSIGNED_FILE.format(version=VERSION)
    codes = np.load(folder / "codes.npy")
    np.testing.assert_array_equal(np.load(kept).astype(np.int16) - 128, codes)  # c + 128, as uint8
    mapped = Shortlist(folder)
    assert mapped._mapped and mapped._codes is None and not mapped._unsigned.flags.writeable  # a read-only map
    with monkeypatch.context() as patch:
        patch.setattr(shortlist_module, "INTEGER_SCAN", False)
        read_whole = Shortlist(folder)
    assert mapped.ram_bytes == read_whole.ram_bytes - codes.nbytes  # the map is page cache, not this process's RAM
    assert answers(mapped) == reference(folder, monkeypatch)  # ids and exact scores
    np.testing.assert_array_equal(mapped.codes, codes)  # the int8 codes are made again from the map where asked


def test_a_shortlist_without_the_file_keeps_it_on_its_first_scan(folder, monkeypatch):
    kept = folder / UNSIGNED_FILE.format(version=VERSION)
    kept.unlink()  # as a store built before the file existed
    want = reference(folder, monkeypatch)
    first = Shortlist(folder)
    assert not first._mapped and first._codes is not None
    assert answers(first) == want and kept.exists()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []  # written whole, by rename
    second = Shortlist(folder)
    assert second._mapped and answers(second) == want


def test_a_kept_file_of_the_wrong_shape_or_type_is_not_used(folder, monkeypatch):
    kept = folder / UNSIGNED_FILE.format(version=VERSION)
    want = reference(folder, monkeypatch)
    for wrong in (np.zeros((N, PREFIX // 2), dtype=np.uint8), np.zeros((N, PREFIX), dtype=np.int8)):
        np.save(kept, wrong)
        opened = Shortlist(folder)
        assert not opened._mapped and answers(opened) == want
    kept.write_bytes(b"not numpy")
    assert not Shortlist(folder)._mapped


def test_a_folder_it_may_not_write_leaves_the_store_as_it_was(folder, monkeypatch):
    kept = folder / UNSIGNED_FILE.format(version=VERSION)
    kept.unlink()
    want = reference(folder, monkeypatch)

    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", refuse)
    opened = Shortlist(folder)
    assert answers(opened) == want
    assert sorted(p.name for p in folder.iterdir() if "unsigned" in p.name) == []  # nothing half-written left
