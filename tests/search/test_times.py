"""A query that names a time gets the moment of the recording it found that covers that time."""

from __future__ import annotations

import pytest

from polyseek.search.policies.times import query_time
from polyseek.types import Filters, Modality
from tests.ingest._media import write_video

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)


@pytest.mark.parametrize(("text", "seconds"), [
    ("what is said at 0:07 in the garden video", 7.0), ("the tour at 1:02:03", 3723.0), ("at 00:45", 45.0),
    ("the talk 2 minutes in", 120.0), ("at 1 min 30 s", 90.0), ("around 1 minute and 5 seconds", 65.0),
    ("90 seconds into the memo", 90.0), ("skip to 1m30s", 90.0), ("at 2:05 and then 0:10", 125.0),
])
def test_times_people_type_are_read(text, seconds):
    assert query_time(text) == seconds


@pytest.mark.parametrize("text", ["3 dogs at the beach", "music of the 90s", "a 2m wall", "ratio 16:9", "v1.2:30", ""])
def test_numbers_that_are_not_times_are_not_read(text):
    assert query_time(text) is None


@pytest.fixture
def recordings(tmp_path, engine_factory):
    folder = tmp_path / "media"
    folder.mkdir()
    write_video(folder / "trip.mkv", [(RED, 2.0), (GREEN, 2.0), (BLUE, 2.0)])  # moments at 0, 2 and 4 s
    engine = engine_factory()
    engine.index([folder])
    return engine


def test_the_moment_at_the_time_takes_the_recordings_place(recordings):
    engine = recordings
    plain = engine.search("trip video", k=3)
    assert plain[0].item.modality == Modality.VIDEO_MOMENT
    moved = 0
    for query, start in (("trip video at 0:03", 2.0), ("trip video 5 seconds in", 4.0), ("trip video at 0:00", 0.0)):
        trace = engine.trace(query, k=3)
        first = trace.hits[0].item
        assert first.path.endswith("trip.mkv") and first.locator.start == pytest.approx(start, abs=0.2)
        assert len({h.item.id for h in trace.hits}) == len(trace.hits)  # moved, not copied
        off = engine.search(query, k=3, config=engine.with_config(times=False))
        if off[0].item.locator.start != pytest.approx(start, abs=0.2):
            assert trace.state["times"]["seconds"] == query_time(query)
            assert off[0].item.id in [h.item.id for h in trace.hits[1:]]  # the best match follows it
            moved += 1
    assert moved >= 2  # at least two of the three times are not the moment the search put first
    # past the end of the recording, or a query that names no time: the search's own order
    assert [h.item.id for h in engine.search("trip video at 9:00", k=3)] == [
        h.item.id for h in engine.search("trip video at 9:00", k=3, config=engine.with_config(times=False))]
    # a filter that leaves the moment out is obeyed
    only = engine.search("trip video at 0:03", k=3, filters=Filters(modalities=(Modality.IMAGE,)))
    assert all(h.item.modality == Modality.IMAGE for h in only)
