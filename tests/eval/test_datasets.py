"""Dataset adapters on tiny generated datasets: captions folders, M-BEIR JSONL and BEIR text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.eval.datasets import load_beir, load_captions, load_mbeir
from polyseek.types import Modality


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_captions_tasks_and_qrels(tmp_path, make_captions):
    root = make_captions(tmp_path / "caps", {"a.jpg": ["a red square", "red"], "b.jpg": ["green", "a green thing", "grass"]})
    data = load_captions(root)
    assert data.counts == {"n_images": 2, "n_captions": 5}
    t2i, i2t = data.tasks
    assert (t2i.name, t2i.target, i2t.name, i2t.target) == ("text_to_image", (Modality.IMAGE,), "image_to_text", (Modality.TEXT,))
    assert t2i.qrels["b.jpg#2"] == {"b.jpg": 1}
    assert i2t.qrels["b.jpg"] == {"b.jpg#0": 1, "b.jpg#1": 1, "b.jpg#2": 1}
    assert [q.text for q in t2i.queries][:2] == ["a red square", "red"]
    assert [c.modality for c in data.candidates].count(Modality.IMAGE) == 2
    assert load_captions(root, limit_images=1).counts == {"n_images": 1, "n_captions": 2}


def test_captions_refuses_bad_folders(tmp_path, make_captions):
    with pytest.raises(InvalidInputError, match="missing file"):
        load_captions(tmp_path)
    root = make_captions(tmp_path / "caps", {"a.jpg": ["red"]})
    (root / "captions.json").write_text(json.dumps([{"image": "gone.jpg", "captions": ["x"]}]))
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_captions(root)
    (root / "captions.json").write_text(json.dumps([{"image": "a.jpg", "captions": [""]}]))
    with pytest.raises(InvalidInputError, match="empty"):
        load_captions(root)
    (root / "captions.json").write_text(json.dumps([{"image": "a.jpg", "captions": ["x"]}] * 2))
    with pytest.raises(InvalidInputError, match="twice"):
        load_captions(root)


def test_mbeir_with_qrels_and_with_pos_cand_list(tmp_path):
    Image.new("RGB", (20, 20), (200, 0, 0)).save(tmp_path / "red.jpg")
    pool = write_jsonl(tmp_path / "pool.jsonl", [
        {"did": "9:1", "txt": "a red square", "img_path": None, "modality": "text"},
        {"did": "9:2", "txt": "", "img_path": "red.jpg", "modality": "image"},
        {"did": "9:3", "txt": "caption", "img_path": "red.jpg", "modality": "image,text"},
    ])
    queries = write_jsonl(tmp_path / "q.jsonl", [
        {"qid": "1:1", "query_txt": "red", "query_img_path": None, "query_modality": "text", "pos_cand_list": ["9:2"]},
        {"qid": "1:2", "query_txt": "like this", "query_img_path": "red.jpg", "query_modality": "image,text", "pos_cand_list": ["9:1"]},
    ])
    data = load_mbeir(queries, pool)
    (task,) = data.tasks
    assert task.qrels == {"1:1": {"9:2": 1}, "1:2": {"9:1": 1}}
    assert task.target == (Modality.IMAGE, Modality.TEXT)
    assert task.queries[1].text == "like this" and task.queries[1].image == tmp_path / "red.jpg"
    assert data.notes and "image,text" in data.notes[0]
    (tmp_path / "qrels.txt").write_text("1:1 0 9:3 1 4\n1:2 0 9:1 2 4\n")
    assert load_mbeir(queries, pool, qrels=tmp_path / "qrels.txt").tasks[0].qrels == {"1:1": {"9:3": 1}, "1:2": {"9:1": 2}}
    with pytest.raises(InvalidInputError, match="image-root"):
        load_mbeir(queries, pool, image_root=tmp_path / "elsewhere")
    write_jsonl(tmp_path / "bad.jsonl", [{"did": "x", "txt": "t", "modality": "audio"}])
    with pytest.raises(InvalidInputError, match="modality"):
        load_mbeir(queries, tmp_path / "bad.jsonl")


def test_beir_text(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "d1", "title": "Cats", "text": "Cats sleep."}, {"_id": "d2", "title": "", "text": "Dogs run."}])
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "sleeping cats"}, {"_id": "q2", "text": "unjudged"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    data = load_beir(tmp_path)
    (task,) = data.tasks
    assert [q.id for q in task.queries] == ["q1"] and task.qrels == {"q1": {"d1": 1}}
    assert data.candidates[0].text == "Cats\n\nCats sleep."
    with pytest.raises(InvalidInputError, match="missing qrels"):
        load_beir(tmp_path, split="dev")
