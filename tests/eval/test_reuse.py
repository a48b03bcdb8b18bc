"""`eval universal --reuse-index`: a pool assembled from an index built before ranks exactly as one indexed afresh.

Deterministic encoders (plumbing only): what is checked is that copied rows and vectors are the ones the indexer
would have written, that a space of another encoder is re-encoded rather than copied, and that a changed file or a
wrong folder is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polyseek.catalog import Catalog
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.reuse import import_files
from polyseek.eval.universal import UniversalOptions, run_universal


def build_source(folder: Path, paths: list[Path], image_encoder: str) -> Path:
    engine = Engine(str(folder / "store"), image_encoder=image_encoder, text_encoder="deterministic")
    try:
        engine.index([str(p) for p in paths])
    finally:
        engine.close()
    return folder


def all_vectors(store: str) -> dict[str, dict[str, np.ndarray]]:
    engine = Engine(store, image_encoder="deterministic", text_encoder="deterministic")
    try:
        ids = [i for record in engine.catalog.files().values() for i in engine.indexer.file_item_ids(record)]
        return {space: engine.store.get_vectors(space, ids) for space in ("image", "text")}
    finally:
        engine.close()


def options(pool, reuse=()) -> UniversalOptions:
    return UniversalOptions(captions=pool["captions"], pages=(pool["pages"],), distractors=(pool["distractors"],),
                            image_queries=2, reuse=tuple(reuse))


def test_a_reused_pool_ranks_like_a_fresh_one(pool, tmp_path):
    source_image = "deterministic:32"  # another image encoder than the pool's: its vectors must be made again
    source = build_source(tmp_path / "old", [pool["captions"] / "images", pool["pages"] / "documents", pool["distractors"]],
                          source_image)
    before = {p.name: p.stat().st_mtime for p in (source / "store").rglob("*") if p.is_file()}
    fresh = run_universal(options(pool), workdir=tmp_path / "fresh", image_encoder="deterministic", text_encoder="deterministic")
    reused = run_universal(options(pool, [source]), workdir=tmp_path / "reused", image_encoder="deterministic",
                           text_encoder="deterministic")
    entries = [e for task in reused["imported"].values() for e in task]
    assert sum(e["files"] for e in entries) == 4 + 2 + 2 and not any(e["skipped"] for e in entries)
    assert sum(e["items"] for e in entries) == reused["pool"]["items"] == fresh["pool"]["items"]
    # the text space was built by the same encoder: copied; the image space only when its encoder matches too
    assert all(e["copied_spaces"] == ["text"] and set(e["remade_spaces"]) == {"image"} for e in entries)
    # nothing was indexed afresh, and every query ranks exactly as on the fresh index
    assert all(entry["added"] == 0 for entry in reused["timing"]["indexing"].values())
    assert reused["per_query"] == fresh["per_query"]
    assert reused["tasks"] == fresh["tasks"]
    # the rows hold the fresh index's vectors in every space (the 32-dim source image vectors were not copied)
    old, new = all_vectors(str(tmp_path / "fresh" / "store")), all_vectors(str(tmp_path / "reused" / "store"))
    for space in ("image", "text"):
        assert set(old[space]) == set(new[space]) and old[space]
        assert all(np.allclose(old[space][i], new[space][i]) for i in old[space])
    # the source was only read
    assert before == {p.name: p.stat().st_mtime for p in (source / "store").rglob("*") if p.is_file()}


def test_a_changed_file_is_indexed_not_copied(pool, tmp_path):
    source = build_source(tmp_path / "old", [pool["distractors"]], "deterministic")
    (pool["distractors"] / "note.txt").write_text("a note rewritten after the source indexed it\n")
    engine = Engine(str(tmp_path / "pool" / "store"), image_encoder="deterministic", text_encoder="deterministic")
    try:
        report = import_files(engine, source, [str(pool["distractors"])])
        assert report["copied_spaces"] == ["image", "text"] and not report["remade_spaces"]  # same encoders: all copied
        assert report["files"] == 1 and report["skipped"] == {str(pool["distractors"] / "note.txt"): "the source indexed another version of the file"}
        summary = engine.index([str(pool["distractors"])])
        assert summary.added == 1 and summary.unchanged == 1  # the note indexed afresh; the copied poster left as is
        hits = engine.search("rewritten", k=2)
        assert hits[0].item.path.endswith("note.txt")
    finally:
        engine.close()


def test_wrong_sources_are_refused_in_one_line(pool, tmp_path):
    engine = Engine(str(tmp_path / "pool" / "store"), image_encoder="deterministic", text_encoder="deterministic")
    try:
        with pytest.raises(InvalidInputError, match="holds no polyseek index"):
            import_files(engine, tmp_path / "nowhere", [str(pool["distractors"])])
        with pytest.raises(InvalidInputError, match="pool's own index"):
            engine.index([str(pool["distractors"])])
            import_files(engine, tmp_path / "pool", [str(pool["distractors"])])
        empty = tmp_path / "empty"
        empty.mkdir()
        Catalog(empty / "catalog.sqlite").close()  # a catalog never written to
        with pytest.raises(InvalidInputError, match="no description"):
            import_files(engine, empty, [str(pool["distractors"])])
    finally:
        engine.close()


def test_reused_only_keeps_the_pdfs_the_source_holds(pool, tmp_path):
    source = build_source(tmp_path / "old", [pool["pages"] / "documents" / "fruit.pdf"], "deterministic")
    report = run_universal(UniversalOptions(pages=(pool["pages"],), reuse=(source,), reused_only=True, own=False),
                           workdir=tmp_path / "pool", image_encoder="deterministic", text_encoder="deterministic")
    assert report["tasks"]["reports"]["n_queries"] == 1  # the question on tools.pdf left out with its PDF
    assert report["imported"]["reports"][0]["files"] == 1 and report["timing"]["indexing"]["reports"]["added"] == 0
    assert any("held complete by a --reuse-index" in note for note in report["notes"])
    with pytest.raises(InvalidInputError, match="needs at least one --reuse-index"):
        run_universal(UniversalOptions(pages=(pool["pages"],), reused_only=True), store="memory://",
                      image_encoder="deterministic", text_encoder="deterministic")


def test_max_pages_per_page_set(pool):
    one = UniversalOptions(pages=(pool["pages"],), max_pages=(3,), own=False)
    report = run_universal(one, store="memory://", image_encoder="deterministic", text_encoder="deterministic")
    assert report["tasks"]["reports"]["n_queries"] == 1  # fruit.pdf's 3 pages fit, tools.pdf's 2 more do not
    with pytest.raises(InvalidInputError, match="once per --pages"):
        run_universal(UniversalOptions(pages=(pool["pages"],), max_pages=(3, 4)), store="memory://",
                      image_encoder="deterministic", text_encoder="deterministic")
