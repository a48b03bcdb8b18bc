"""Long text queries: in the image space an item scores by the best of the whole query and its sentences."""

from __future__ import annotations

import numpy as np
from PIL import Image

from polyseek.search.policies.sentences import sentences
from polyseek.types import Signal

LONG = ("the red one. Green grass grows here and the green trees grow near green fields in the green valley "
        "on this quiet afternoon.")


def test_sentences_split():
    assert sentences(LONG)[0] == "the red one."
    assert sentences("One line only") == ["One line only"]


def test_long_query_scores_by_its_best_sentence(tmp_path, engine_factory):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220)}.items():
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    engine = engine_factory()
    engine.index([str(photos)])
    encoder = engine.encoder(Signal.IMAGE)
    red = encoder.encode_images([Image.new("RGB", (64, 48), (220, 20, 20))])[0]
    whole, first, second = encoder.encode_queries([LONG, *sentences(LONG)])
    ctx = engine.trace(LONG, k=3)
    assert Signal.IMAGE in ctx.scorers
    score = {hit.item.path.rsplit("/", 1)[-1]: hit.scores["image"] for hit in ctx.hits}
    assert np.isclose(score["red.png"], max(whole @ red, first @ red, second @ red), atol=1e-4)
    assert score["red.png"] > whole @ red + 0.1  # its own sentence, not the diluted whole, scores it
    short = engine.trace("the red one with green grass", k=3)  # one sentence: scored as a whole
    assert Signal.IMAGE not in short.scorers
