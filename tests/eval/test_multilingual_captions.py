"""``eval captions --lang``: multilingual captions as text→image tasks over the same gallery, and MRV."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.eval.multilingual import by_half, load_captions_lang, mean_rank_variance


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "images").mkdir()
    records = []
    for i, colour in enumerate(["red", "green", "blue"]):
        Image.new("RGB", (8, 8), colour).save(tmp_path / "images" / f"{i}.jpg")
        records.append({"image": f"{i}.jpg", "captions": [f"a {colour} square", f"{colour} colour"]})
    (tmp_path / "captions.json").write_text(json.dumps(records))
    multilingual = {"0.jpg": {"zh": ["红色方块", "红色"], "fr_translation": ["un carré rouge"]},
                    "1.jpg": {"zh": ["绿色方块"]}, "2.jpg": {"de": ["ein blaues Quadrat"]}}
    (tmp_path / "captions_multilingual.json").write_text(json.dumps(multilingual, ensure_ascii=False))
    return tmp_path


def test_one_language_is_the_english_shape(folder):
    dataset = load_captions_lang(folder, ["zh"])
    assert [t.name for t in dataset.tasks] == ["text_to_image"]
    task = dataset.tasks[0]
    assert [q.text for q in task.queries] == ["红色方块", "红色", "绿色方块"]
    assert task.qrels["0.jpg#zh#1"] == {"0.jpg": 1}
    assert len(dataset.candidates) == 3  # the gallery is every image, with or without a caption in that language


def test_several_languages_aliases_and_per_image(folder):
    dataset = load_captions_lang(folder, ["en", "zh", "fr"], per_image=1)
    assert [t.name for t in dataset.tasks] == ["text_to_image_en", "text_to_image_zh", "text_to_image_fr"]
    assert [len(t.queries) for t in dataset.tasks] == [3, 2, 1]
    assert dataset.tasks[2].queries[0].id == "0.jpg#fr_translation#0"
    with pytest.raises(InvalidInputError, match="no captions in language 'ja'"):
        load_captions_lang(folder, ["ja"])


def test_mrv_is_the_mean_variance_of_ranks_across_languages():
    def per_query(ranks):
        return {f"{image}#{n}": {"first_relevant_rank": rank} for image, rank in ranks.items() for n in ["0"]}
    report = {"per_query": {
        "text_to_image_en": per_query({"a": 1, "b": 2}),
        "text_to_image_zh": {"a#zh#0": {"first_relevant_rank": 3}, "b#zh#0": {"first_relevant_rank": 2},
                             "a#zh#1": {"first_relevant_rank": 50}},  # only the first caption counts
    }}
    result = mean_rank_variance(report, ["en", "zh"])
    assert result["n_images"] == 2
    assert result["mrv"] == pytest.approx((1.0 + 0.0) / 2)  # var(1, 3) = 1, var(2, 2) = 0


def test_by_half_splits_queries_by_their_images_position():
    report = {"per_query": {"text_to_image_zh": {
        "a.jpg#zh#0": {"recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0},
        "b.jpg#zh#0": {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 1.0},
        "c.jpg#zh#0": {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0},
        "z.jpg#zh#0": {"recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0}}}}  # z: not in the gallery order
    halves = by_half(report, ["a.jpg", "b.jpg", "c.jpg"])["text_to_image_zh"]
    assert halves["dev"] == {"queries": 2, "recall@1": 0.5, "recall@5": 0.5, "recall@10": 0.5}  # a, c
    assert halves["heldout"] == {"queries": 1, "recall@1": 0.0, "recall@5": 0.0, "recall@10": 1.0}  # b


def test_by_half_gives_each_half_its_own_mrv():
    def result(rank):
        return {"recall@1": float(rank == 1), "recall@5": float(rank <= 5), "recall@10": float(rank <= 10), "first_relevant_rank": rank}

    report = {"languages": ["en", "zh"], "per_query": {
        "text_to_image_en": {"a.jpg#0": result(1), "b.jpg#0": result(2)},
        "text_to_image_zh": {"a.jpg#zh#0": result(3), "b.jpg#zh#0": result(12)}}}
    mrv = by_half(report, ["a.jpg", "b.jpg"])["mrv"]
    assert mrv["dev"]["mrv"] == 1.0 and mrv["dev"]["n_images"] == 1  # a: ranks 1 and 3
    assert mrv["heldout"]["mrv"] == 25.0  # b: ranks 2 and 12
