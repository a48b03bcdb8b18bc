"""parse_input dispatches on type and refuses what it does not understand."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.inputs import parse_input


def test_dispatch(tmp_path):
    image = Image.new("RGB", (4, 4), "red")
    image.save(tmp_path / "r.png")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    assert parse_input("a cat").text == "a cat"
    assert parse_input(image).image.size == (4, 4)
    assert parse_input(tmp_path / "r.png").image.size == (4, 4)
    assert parse_input(buffer.getvalue()).image.size == (4, 4)
    part = parse_input({"image": str(tmp_path / "r.png"), "weight": 0.5})
    assert part.weight == 0.5 and part.image is not None


@pytest.mark.parametrize("bad", [12, 1.5, None, True, object(), b"", b"garbage", {"text": "a", "image": "b"}, {"txt": "a"}, {"text": "a", "weight": "heavy"}])
def test_refusals_name_what_is_accepted(bad):
    with pytest.raises(InvalidInputError):
        parse_input(bad)
