"""Modality names as people type them."""

from __future__ import annotations

import pytest

from polyseek.errors import InvalidInputError
from polyseek.types import Modality


@pytest.mark.parametrize("typed, expected", [
    ("image", Modality.IMAGE), ("Photos", Modality.IMAGE), (" photo ", Modality.IMAGE),
    ("pdf", Modality.PAGE), ("pages", Modality.PAGE), ("video", Modality.VIDEO_MOMENT),
    ("video-moment", Modality.VIDEO_MOMENT), ("audio", Modality.AUDIO_SEGMENT), ("notes", Modality.TEXT),
    (Modality.REGION, Modality.REGION),
])
def test_modality_words(typed, expected):
    assert Modality.parse(typed) is expected


def test_an_unknown_modality_names_what_is_accepted():
    with pytest.raises(InvalidInputError) as caught:
        Modality.parse("hologram")
    assert "unknown modality 'hologram'" in str(caught.value)
    assert "video_moment" in (caught.value.hint or "") and "photo" in (caught.value.hint or "")
