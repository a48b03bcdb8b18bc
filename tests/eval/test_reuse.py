"""`eval universal --reuse-index`: a pool assembled from an index built before ranks exactly as one indexed afresh.

Deterministic encoders (plumbing only): what is checked is that copied rows and vectors are the ones the indexer
would have written, that a space of another encoder is re-encoded rather than copied, and that a changed file or a
wrong folder is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polyseek.catalog import Catalog
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.reuse import import_files
from polyseek.eval.universal import UniversalOptions, run_universal
from tests.ingest._pdf import PageSpec, write_pdf


def page(words: str) -> PageSpec:
    return PageSpec(lines=[(72, 72, 14, words.title()), (72, 110, 11, f"This page is about {words} and little else.")])


@pytest.fixture
def sets(tmp_path: Path, make_captions) -> dict[str, Path]:
    captions = make_captions(tmp_path / "flickr", {"red.jpg": ["red", "a red thing"], "blue.jpg": ["blue", "a blue thing"]})
    pages = tmp_path / "reports"
    (pages / "documents").mkdir(parents=True)
    write_pdf(pages / "documents" / "fruit.pdf", [page(w) for w in ("apples", "bananas", "cherries")])
    write_pdf(pages / "documents" / "tools.pdf", [page(w) for w in ("hammers", "saws")])
    questions = [{"qid": 1, "question": "Which page talks about bananas?", "doc_id": "fruit.pdf", "evidence_pages": [2]},
                 {"qid": 2, "question": "Where are saws described?", "doc_id": "tools.pdf", "evidence_pages": [2]}]
    (pages / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    misc = tmp_path / "misc"
    misc.mkdir()
    (misc / "note.txt").write_text("a note about red bananas\n")
    Image.new("RGB", (30, 40), (210, 30, 30)).save(misc / "poster.jpg")
    return {"captions": captions, "pages": pages, "misc": misc}


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


def options(sets, reuse=()) -> UniversalOptions:
    return UniversalOptions(captions=sets["captions"], pages=(sets["pages"],), distractors=(sets["misc"],),
                            image_queries=2, reuse=tuple(reuse))


def test_a_reused_pool_ranks_like_a_fresh_one(sets, tmp_path):
    source_image = "deterministic:32"  # another image encoder than the pool's: its vectors must be made again
    source = build_source(tmp_path / "old", [sets["captions"] / "images", sets["pages"] / "documents", sets["misc"]],
                          source_image)
    before = {p.name: p.stat().st_mtime for p in (source / "store").rglob("*") if p.is_file()}
    fresh = run_universal(options(sets), workdir=tmp_path / "fresh", image_encoder="deterministic", text_encoder="deterministic")
    reused = run_universal(options(sets, [source]), workdir=tmp_path / "reused", image_encoder="deterministic",
                           text_encoder="deterministic")
    entries = [e for task in reused["imported"].values() for e in task]
    assert sum(e["files"] for e in entries) == 2 + 2 + 2 and not any(e["skipped"] for e in entries)
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


def test_a_changed_file_is_indexed_not_copied(sets, tmp_path):
    source = build_source(tmp_path / "old", [sets["misc"]], "deterministic")
    (sets["misc"] / "note.txt").write_text("a note rewritten after the source indexed it\n")
    engine = Engine(str(tmp_path / "pool" / "store"), image_encoder="deterministic", text_encoder="deterministic")
    try:
        report = import_files(engine, source, [str(sets["misc"])])
        assert report["copied_spaces"] == ["image", "text"] and not report["remade_spaces"]  # same encoders: all copied
        assert report["files"] == 1 and report["skipped"] == {str(sets["misc"] / "note.txt"): "the source indexed another version of the file"}
        summary = engine.index([str(sets["misc"])])
        assert summary.added == 1 and summary.unchanged == 1  # the note indexed afresh; the copied poster left as is
        hits = engine.search("rewritten", k=2)
        assert hits[0].item.path.endswith("note.txt")
    finally:
        engine.close()


def test_wrong_sources_are_refused_in_one_line(sets, tmp_path):
    engine = Engine(str(tmp_path / "pool" / "store"), image_encoder="deterministic", text_encoder="deterministic")
    try:
        with pytest.raises(InvalidInputError, match="holds no polyseek index"):
            import_files(engine, tmp_path / "nowhere", [str(sets["misc"])])
        with pytest.raises(InvalidInputError, match="pool's own index"):
            engine.index([str(sets["misc"])])
            import_files(engine, tmp_path / "pool", [str(sets["misc"])])
        empty = tmp_path / "empty"
        empty.mkdir()
        Catalog(empty / "catalog.sqlite").close()  # a catalog never written to
        with pytest.raises(InvalidInputError, match="no description"):
            import_files(engine, empty, [str(sets["misc"])])
    finally:
        engine.close()


def test_reused_only_keeps_the_pdfs_the_source_holds(sets, tmp_path):
    source = build_source(tmp_path / "old", [sets["pages"] / "documents" / "fruit.pdf"], "deterministic")
    report = run_universal(UniversalOptions(pages=(sets["pages"],), reuse=(source,), reused_only=True, own=False),
                           workdir=tmp_path / "pool", image_encoder="deterministic", text_encoder="deterministic")
    assert report["tasks"]["reports"]["n_queries"] == 1  # the question on tools.pdf left out with its PDF
    assert report["imported"]["reports"][0]["files"] == 1 and report["timing"]["indexing"]["reports"]["added"] == 0
    assert any("held complete by a --reuse-index" in note for note in report["notes"])
    with pytest.raises(InvalidInputError, match="needs at least one --reuse-index"):
        run_universal(UniversalOptions(pages=(sets["pages"],), reused_only=True), store="memory://",
                      image_encoder="deterministic", text_encoder="deterministic")


def test_max_pages_per_page_set(sets):
    one = UniversalOptions(pages=(sets["pages"],), max_pages=(3,), own=False)
    report = run_universal(one, store="memory://", image_encoder="deterministic", text_encoder="deterministic")
    assert report["tasks"]["reports"]["n_queries"] == 1  # fruit.pdf's 3 pages fit, tools.pdf's 2 more do not
    with pytest.raises(InvalidInputError, match="once per --pages"):
        run_universal(UniversalOptions(pages=(sets["pages"],), max_pages=(3, 4)), store="memory://",
                      image_encoder="deterministic", text_encoder="deterministic")
