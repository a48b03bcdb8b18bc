"""Video previews open at the moment's keyframe (the picture that was embedded), not at its start."""

from __future__ import annotations

import pytest

from polyseek.preview import moment_time, render_preview
from polyseek.types import Item, Locator, Modality


def moment(path, start, end, **metadata):
    return Item(id="m", path=str(path), modality=Modality.VIDEO_MOMENT, locator=Locator(start=start, end=end),
                metadata=metadata)


@pytest.mark.parametrize("metadata, expected", [
    ({"keyframe_time": 14.5}, 14.5),
    ({}, 10.0),  # no keyframe recorded: the start
    ({"keyframe_time": 25.0}, 10.0),  # outside the moment: not trusted
    ({"keyframe_time": float("nan")}, 10.0),
    ({"keyframe_time": "14"}, 10.0),
    ({"keyframe_time": True}, 10.0),
])
def test_moment_time(metadata, expected):
    assert moment_time(moment("talk.mp4", 10.0, 20.0, **metadata)) == expected


def test_the_preview_shows_the_keyframe_not_the_previous_shot(tmp_path):
    pytest.importorskip("av")
    from tests.ingest._media import write_video

    video = tmp_path / "cut.mp4"
    write_video(video, [((220, 20, 20), 1.0), ((20, 20, 220), 1.0)], size=(64, 48), fps=10)
    # the moment starts a little before the cut (shot boundaries are found on sampled frames), its keyframe after
    picture = render_preview(None, moment(video, 0.9, 2.0, keyframe_time=1.5), max_side=64)
    red, _, blue = picture.convert("RGB").getpixel((picture.width // 2 + 3, picture.height // 2 + 3))
    assert blue > 150 and red < 100, (red, blue)
    at_start = render_preview(None, moment(video, 0.9, 2.0), max_side=64)
    red, _, blue = at_start.convert("RGB").getpixel((at_start.width // 2 + 3, at_start.height // 2 + 3))
    assert red > 150 and blue < 100, (red, blue)  # without a keyframe the start is shown: the previous shot
