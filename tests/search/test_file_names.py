"""A short query made of a file's name words finds that file first, though its content never says them."""

from __future__ import annotations

import pytest

from polyseek.search.policies import file_names as policy_module
from polyseek.search.policies.file_names import FileNames, name_words
from polyseek.types import Filters, Modality
from tests.conftest import make_images
from tests.ingest._pdf import PageSpec, write_pdf

LIGHTHOUSE = PageSpec(lines=[(72, 72, 14, "History of the harbour lighthouse"),
                             (72, 110, 11, "The lighthouse was built in 1874 from granite quarried nearby.")])
REPORT_NOTE = "Harbour report: the harbour master's report on the harbour, and the report we still owe.\n"


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mixed"
    make_images(root / "photos")
    (root / "documents").mkdir()
    write_pdf(root / "documents" / "harbour-report.pdf", [LIGHTHOUSE])  # "report" only in its name
    (root / "notes").mkdir()
    (root / "notes" / "minutes.txt").write_text(REPORT_NOTE)  # both words all over its text, in neither name
    return root


def paths(hits) -> list[str]:
    return [h.item.path.rsplit("/", 1)[-1] for h in hits]


def test_name_words_split_at_separators_case_and_digits():
    assert name_words("/a/harbour-report.pdf") == {"harbour", "report", "pdf"}
    assert name_words("/a/3M_2018_10K.pdf") == {"3", "m", "2018", "10", "k", "pdf"}
    assert name_words("/a/MyHolidayPhotos.jpeg") == {"my", "holiday", "photos", "jpeg"}
    assert name_words("/a/the-end-of") == {"end"}  # stop words are no name words


def test_a_query_naming_a_file_puts_it_first(folder, engine_factory):
    engine = engine_factory()
    engine.index([folder])
    trace = engine.trace("harbour report", k=5)
    assert paths(trace.hits)[0] == "harbour-report.pdf"
    assert trace.hits[0].item.modality == Modality.PAGE
    assert len(trace.state["file-names"]) == 1
    off = engine.search("harbour report", k=5, config=engine.with_config(file_names=False, kind_prior=0.0))
    assert paths(off)[0] != "harbour-report.pdf"  # without the rule (nor "report" naming documents) no evidence
    # word order, case and stop words do not matter; a word the name lacks does
    assert paths(engine.search("the Report of the HARBOUR", k=3))[0] == "harbour-report.pdf"
    assert paths(engine.search("Harbour-Report.pdf", k=3))[0] == "harbour-report.pdf"  # typed as it is
    assert "file-names" not in engine.trace("harbour report cover", k=3).state


def test_filters_still_hold_and_a_shared_name_word_moves_nothing(folder, engine_factory, monkeypatch):
    engine = engine_factory()
    engine.index([folder])
    hits = engine.search("harbour report", k=5, filters=Filters(modalities=(Modality.IMAGE,)))
    assert hits and all(h.item.modality == Modality.IMAGE for h in hits)
    # "report" names two files
    (folder / "notes" / "report-draft.txt").write_text("Draft notes about gardens.\n")
    engine.index([folder])
    assert set(paths(engine.search("report", k=2))) == {"harbour-report.pdf", "report-draft.txt"}
    monkeypatch.setattr(policy_module, "MAX_NAMED_FILES", 1)
    assert "file-names" not in engine.trace("report", k=2).state


def test_files_indexed_later_are_found_by_name(folder, engine_factory):
    engine = engine_factory()
    engine.index([folder])
    assert engine.trace("lighthouse keeper", k=3).state.get("file-names") is None
    (folder / "notes" / "lighthouse-keeper.md").write_text("Shopping list: bread, milk, stamps.\n")
    engine.index([folder])  # the catalog changed: the name map is rebuilt
    assert paths(engine.search("lighthouse keeper", k=3))[0] == "lighthouse-keeper.md"


def test_the_name_map_reads_the_catalog_once_per_change(folder, engine_factory, monkeypatch):
    engine = engine_factory()
    engine.index([folder])
    names = FileNames(engine.catalog)
    calls = []
    original = engine.catalog.files
    monkeypatch.setattr(engine.catalog, "files", lambda: calls.append(1) or original())
    assert list(names.named({"harbour", "report"})) == [str((folder / "documents" / "harbour-report.pdf").resolve())]
    assert names.named({"report", "lighthouse"}) == {}
    assert len(calls) == 1


def test_a_named_file_no_signal_found_comes_in_by_its_best_item():
    """Deep in a large index a named file may be in no signal's candidates: its item closest to the query in the
    text space is brought in first, and the query's filters still hold."""
    import numpy as np

    from polyseek.catalog import Catalog, FileRecord
    from polyseek.search.config import SearchConfig
    from polyseek.search.context import SearchContext
    from polyseek.search.policies.file_names import FileNamesPolicy
    from polyseek.search.rows import RowCache
    from polyseek.stores.base import Row
    from polyseek.stores.memory import MemoryStore
    from polyseek.types import Query, QueryPart, Signal, item_id

    store = MemoryStore()
    store.create({"text": 2})
    key = "/docs/boat-inspection.pdf"
    vectors = [np.array(v, dtype=np.float32) for v in ([1.0, 0.0], [0.0, 1.0])]
    store.upsert([Row(id=item_id(key, n), doc=key, path=key, modality="page", locator={"page": n + 1}, text=f"page {n}",
                      vectors={"text": vectors[n]}) for n in range(2)]
                 + [Row(id="other", doc="/n.txt", path="/n.txt", modality="text", text="boats", vectors={"text": vectors[0]})])
    catalog = Catalog(None)
    catalog.commit_files([FileRecord(key, 1, 0.0, "h", items=2), FileRecord("/n.txt", 1, 0.0, "g", items=1)])

    def run(filters: Filters | None = None) -> SearchContext:
        query = Query(parts=(QueryPart(text="boat inspection"),), k=3, filters=filters or Filters())
        ctx = SearchContext(query=query, config=SearchConfig(), rows=RowCache(store), encoders=None)
        ctx.vectors = {Signal.TEXT: np.array([0.1, 0.9], dtype=np.float32)}  # closest to the second page
        ctx.fused = [("other", 0.7)]
        FileNamesPolicy(catalog).after_fusion(ctx)
        return ctx

    ctx = run()
    assert [i for i, _ in ctx.fused] == [item_id(key, 1), "other"] and ctx.fused[0][1] > 0.7
    assert ctx.pinned == {item_id(key, 1)}
    assert [i for i, _ in run(Filters(modalities=(Modality.TEXT,))).fused] == ["other"]


def test_kind_words_possessives_and_filler_do_not_hide_a_named_file(tmp_path, engine_factory):
    from PIL import Image

    root = tmp_path / "mine"
    (root / "photos").mkdir(parents=True)
    for name, colour in (("grace-hopper", "navy"), ("coffee", "brown"), ("temple", "gold"), ("grass", "green")):
        Image.new("RGB", (64, 48), colour).save(root / "photos" / f"{name}.jpg")
    (root / "notes").mkdir()
    (root / "notes" / "coffee.md").write_text("# Brewing\nGrind the beans just before brewing.\n")
    (root / "notes" / "pets.md").write_text("# Pets\nDogs need a daily walk.\n")
    engine = engine_factory()
    engine.index([root])
    for query in ("photo of grace hopper", "Grace Hopper's picture", "my grace hopper photos"):
        assert paths(engine.search(query, k=3))[0] == "grace-hopper.jpg", query
    # the kind decides between two files of the same name
    assert paths(engine.search("notes about coffee", k=3))[0] == "coffee.md"
    assert paths(engine.search("coffee photo", k=3))[0] == "coffee.jpg"
    # a content word the name lacks still means a description, not a name; a kind with no such file moves nothing
    assert "file-names" not in engine.trace("grace hopper's computer", k=3).state
    assert "file-names" not in engine.trace("video of grace hopper", k=3).state
