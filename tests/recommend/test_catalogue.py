"""Catalogue ingestion: one item per record with both vectors, incremental per record, bad records by line."""

from __future__ import annotations

import json

from polyseek.ingest.catalogue import record_item_id
from tests.recommend._catalogue import RECORDS, write_catalogue


def _count_encoded(engine):
    """Wrap the engine's own encode step (behind the record-reuse step) to count the chunks it really encodes."""
    reuse = engine.indexer.encode
    seen: list[str] = []
    inner = reuse.encode

    def counting(chunks):
        seen.extend(c.metadata.get("record_id", "?") for c in chunks)
        return inner(chunks)

    reuse.encode = counting
    return seen


def test_each_record_is_one_item_with_image_and_text_vectors(catalogue_engine):
    engine, path = catalogue_engine
    key = str(path.absolute())
    ids = [record_item_id(key, r[0]) for r in RECORDS]
    rows = {row.id: row for row in engine.store.get(ids)}
    assert set(rows) == set(ids)
    first = rows[ids[0]]
    assert first.metadata["record_id"] == "r1" and first.metadata["title"] == "Red dog"
    assert first.metadata["colour"] == [220, 20, 20]
    assert first.metadata["image"].endswith("r1.png")
    assert "Red dog" in first.text and "a red dog runs" in first.text
    assert first.modality == "image"
    for space in ("image", "text"):
        assert set(engine.store.get_vectors(space, ids)) == set(ids)


def test_reindex_encodes_only_changed_and_new_records_and_keeps_ids(tmp_path, engine_factory):
    folder = tmp_path / "shop"
    path = write_catalogue(folder)
    engine = engine_factory(tmp_path / "store")
    engine.index([path])
    key = str(path.absolute())
    before = {r[0]: engine.store.get_vectors("image", [record_item_id(key, r[0])]) for r in RECORDS}

    changed = [(rid, rgb, title + " (new edition)" if rid == "b2" else title, text) for rid, rgb, title, text in RECORDS]
    changed.insert(0, ("n1", (120, 120, 120), "Grey stone", "a grey stone"))  # new first line: positions shift
    changed = [r for r in changed if r[0] != "g1"]  # and one record removed
    write_catalogue(folder, changed)
    encoded = _count_encoded(engine)
    summary = engine.index([path])

    assert sorted(encoded) == ["b2", "n1"], "unchanged records must reuse their stored vectors"
    assert summary.updated == 1 and summary.items == len(changed)
    assert not engine.store.get([record_item_id(key, "g1")]), "a removed record's item is gone"
    for rid in ("r1", "r2", "b1"):  # unchanged records keep their ids and their very vectors
        item = record_item_id(key, rid)
        assert engine.store.get([item])[0].metadata["record_id"] == rid
        assert (engine.store.get_vectors("image", [item])[item] == before[rid][item]).all()
    assert engine.store.count() == len(changed)


def test_changed_picture_is_encoded_again(tmp_path, engine_factory):
    from PIL import Image

    folder = tmp_path / "shop"
    path = write_catalogue(folder)
    engine = engine_factory(tmp_path / "store")
    engine.index([path])
    Image.new("RGB", (32, 32), (0, 0, 0)).save(folder / "pictures" / "r3.png")
    path.write_text(path.read_text() + "\n")  # the file changed too (its mtime and bytes), the record did not
    encoded = _count_encoded(engine)
    engine.index([path])
    assert encoded == ["r3"]


def test_bad_records_are_reported_with_line_numbers_and_the_rest_is_indexed(tmp_path, engine_factory):
    bad = [
        "{not json",
        json.dumps({"title": "no id"}),
        json.dumps({"id": "x1", "image": "pictures/missing.png", "title": "lost picture"}),
        json.dumps({"id": "r1", "title": "duplicate"}),
        json.dumps({"id": "x2", "metadata": "not an object", "title": "t"}),
        json.dumps({"id": "x3"}),
        json.dumps([1, 2]),
    ]
    path = write_catalogue(tmp_path / "shop", extra_lines=bad)
    engine = engine_factory(tmp_path / "store")
    summary = engine.index([path])
    assert summary.items == len(RECORDS)
    lines = {f["path"].rsplit(":", 1)[1]: f["reason"] for f in summary.failed}
    first_bad = len(RECORDS) + 1
    assert sorted(int(n) for n in lines) == list(range(first_bad, first_bad + len(bad)))
    assert "not valid JSON" in lines[str(first_bad)]
    assert "missing 'id'" in lines[str(first_bad + 1)]
    assert "image not found" in lines[str(first_bad + 2)]
    assert "duplicate id 'r1'" in lines[str(first_bad + 3)] and "line 1" in lines[str(first_bad + 3)]
    assert "'metadata' must be an object" in lines[str(first_bad + 4)]
    assert "neither an image nor any text" in lines[str(first_bad + 5)]
    assert all(reason.startswith(f"line {n}:") for n, reason in lines.items())
    assert all("\n" not in reason for reason in lines.values())


def test_csv_catalogue_with_header(tmp_path, engine_factory):
    from PIL import Image

    folder = tmp_path / "csvshop"
    folder.mkdir()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "a.png")
    path = folder / "items.csv"
    path.write_text('id,image,title,description,metadata\n'
                    'a,a.png,Red lamp,a lamp that glows red,"{""price"": 12}"\n'
                    'b,,Blue chair,a wooden chair painted blue,\n'
                    'c,,Broken,,"{not json"\n'
                    'd,,too,many,fields,here\n')
    engine = engine_factory(tmp_path / "store")
    summary = engine.index([path])
    assert summary.items == 2
    key = str(path.absolute())
    a, b = engine.store.get([record_item_id(key, "a"), record_item_id(key, "b")])
    assert a.metadata["price"] == 12 and a.modality == "image"
    assert b.modality == "text" and "description: a wooden chair painted blue" in b.text
    reasons = sorted(f["reason"] for f in summary.failed)
    assert reasons[0].startswith("line 4: 'metadata' is not a JSON object")
    assert reasons[1].startswith("line 5:")


def test_a_table_that_is_not_a_catalogue_is_indexed_as_text(tmp_path, engine_factory):
    """A data export or a log in a notes folder was refused ("no 'id' column"); it is searchable text now."""
    expenses = tmp_path / "expenses.csv"
    expenses.write_text("date,what,amount\n2024-03-01,train to Lyon,42.50\n2024-03-02,\"hotel, two nights\",180\n")
    log = tmp_path / "events.jsonl"
    log.write_text('{"when": "09:30", "event": "standup"}\n\n{"when": "14:00", "event": "dentist"}\n')
    engine = engine_factory(tmp_path / "store")
    summary = engine.index([expenses, log])
    assert summary.added == 2 and not summary.failed
    (table,) = engine.file_items(str(expenses))
    assert table.modality == "text" and "what: hotel, two nights; amount: 180" in table.text
    assert (table.locator.line_start, table.locator.line_end) == (2, 3)
    (events,) = engine.file_items(str(log))
    assert '"event": "dentist"' in events.text and events.locator.line_end == 3
    assert engine.index([expenses, log]).unchanged == 2


def test_a_catalogue_file_lists_its_items(tmp_path, engine_factory):
    """Records carry their own ids (not numbered): listing a catalogue file's items finds them all."""
    from PIL import Image

    (tmp_path / "a.png").write_bytes(b"")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "a.png")
    catalogue = tmp_path / "films.jsonl"
    catalogue.write_text('{"id": "f1", "image": "a.png", "text": "a red film"}\n{"id": "f2", "text": "a quiet film"}\n')
    engine = engine_factory()
    engine.index([str(catalogue)])
    items = engine.file_items(str(catalogue))
    assert [i.text for i in items] and len(items) == 2
