"""rclip-style query syntax."""

from __future__ import annotations

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.search.query_syntax import parse_query_syntax


def test_terms_weights_and_images(tmp_path):
    image = tmp_path / "pool.jpg"
    Image.new("RGB", (8, 8)).save(image)
    parsed = parse_query_syntax(f'"2:golden retriever" + {image} - "fruit"')
    assert parsed == [(2.0, "text", "golden retriever"), (1.0, "image", str(image)), (-1.0, "text", "fruit")]


def test_plain_words_join_into_one_term():
    assert parse_query_syntax("a dog running on grass") == [(1.0, "text", "a dog running on grass")]
    assert parse_query_syntax("0.5:cat - dog") == [(0.5, "text", "cat"), (-1.0, "text", "dog")]


@pytest.mark.parametrize("bad", ['"open quote', "cat +", "+ cat", "", "./missing.jpg"])
def test_bad_syntax(bad):
    with pytest.raises(InvalidInputError):
        parse_query_syntax(bad)
