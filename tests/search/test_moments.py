"""Merging adjacent matching moments into one span: adjacency, closeness on a signal the head is strong on, no drift."""

from __future__ import annotations

from polyseek.search.moments import merge_moments, order_moments
from polyseek.stores.base import Row
from polyseek.types import Hit, Item, Locator, Modality


def moment(item_id: str, start: float, end: float, path: str = "/v/talk.mp4", text: str = "",
           modality: str = "video_moment") -> Row:
    metadata = {"keyframe_time": (start + end) / 2} if modality == "video_moment" else {}
    return Row(id=item_id, doc=path, path=path, modality=modality, locator={"start": start, "end": end}, text=text,
               metadata=metadata)


def store_of(*rows: Row):
    by_id = {r.id: r for r in rows}
    return lambda ids: [by_id[i] for i in ids if i in by_id]


def image_list(scores: dict[str, float], noise: int = 20) -> list[tuple[str, float]]:
    """A realistic dense list: the given scores on top of many unrelated items near 0.2."""
    ranked = list(scores.items()) + [(f"other{i}", 0.2 - i * 0.001) for i in range(noise)]
    return sorted(ranked, key=lambda kv: -kv[1])


def test_adjacent_near_equal_moments_become_one_span():
    rows = [moment("a", 0, 10), moment("b", 10, 20), moment("c", 20, 30)]
    lists = {"image": image_list({"a": 0.61, "b": 0.60, "c": 0.3})}
    fused = [(i, s) for i, s in lists["image"]]
    merged = merge_moments(fused, lists, store_of(*rows), k=5)
    assert [i for i, _ in merged.ranking][:2] == ["a", "c"]
    span = merged.spans["a"]
    assert (span.start, span.end, span.members) == (0, 20, ["a", "b"])


def test_far_apart_or_other_file_or_weak_do_not_merge():
    rows = [moment("a", 0, 10), moment("far", 30, 40), moment("other", 10, 20, path="/v/b.mp4"), moment("weak", 10, 20)]
    lists = {"image": image_list({"a": 0.61, "far": 0.60, "other": 0.60, "weak": 0.35})}
    merged = merge_moments(lists["image"], lists, store_of(*rows), k=5)
    assert merged.spans == {}
    assert [i for i, _ in merged.ranking][:4] == ["a", "far", "other", "weak"]


def test_span_is_measured_against_its_head_so_it_cannot_drift():
    rows = [moment(f"m{i}", i * 5, i * 5 + 5) for i in range(6)]
    # each neighbour close to the previous one, but the chain falls well below the head
    lists = {"image": image_list({f"m{i}": 0.60 - 0.06 * i for i in range(6)})}
    merged = merge_moments(lists["image"], lists, store_of(*rows), k=5)
    assert merged.spans["m0"].end <= 10


def test_a_signal_the_head_is_weak_on_does_not_pull_neighbours_in():
    # the head matched by its transcript; its silent neighbour ties with it only on a noisy image score
    rows = [moment("said", 0, 5, text="the wiring diagram"), moment("silent", 5, 10)]
    lists = {"lexical": [("said", 9.0)], "image": image_list({"said": 0.19, "silent": 0.19})}
    fused = [("said", 0.02), ("silent", 0.01)] + [(f"other{i}", 0.005) for i in range(20)]
    merged = merge_moments(fused, lists, store_of(*rows), k=5)
    assert merged.spans == {}


def test_non_moments_pass_through_and_hits_get_the_span():
    rows = [moment("a", 0, 4, text="one"), moment("b", 4, 9, text="two"),
            Row(id="photo", doc="/p.jpg", path="/p.jpg", modality="image")]
    lists = {"image": image_list({"photo": 0.9, "a": 0.6, "b": 0.6}), "text": [("a", 0.8), ("b", 0.79), ("x", 0.1)]}
    merged = merge_moments(lists["image"], lists, store_of(*rows), k=5)
    assert [i for i, _ in merged.ranking][:2] == ["photo", "a"]
    hits = [Hit(item=Item(id=r.id, path=r.path, modality=Modality(r.modality), locator=Locator.from_dict(r.locator),
                          text=r.text), score=1.0) for r in rows if r.id != "b"]
    out = {h.id: h for h in merged.apply(hits)}
    assert out["photo"] is hits[1] or out["photo"].item == hits[-1].item
    assert out["a"].item.locator.to_dict() == {"start": 0.0, "end": 9.0}
    assert out["a"].item.text == "one two" and out["a"].item.metadata["merged_ids"] == ["a", "b"]


def test_audio_segments_with_a_pause_between_still_merge():
    rows = [moment("s1", 0.0, 4.0, "/a/song.mp3", "x", "audio_segment"),
            moment("s2", 4.8, 9.0, "/a/song.mp3", "y", "audio_segment")]
    lists = {"text": image_list({"s1": 0.8, "s2": 0.79})}
    merged = merge_moments(lists["text"], lists, store_of(*rows), k=5)
    assert merged.spans["s1"].end == 9.0


WEIGHTS = {"image": 1.0, "text": 1.0, "lexical": 0.5}


def test_words_searched_for_outrank_a_keyframe_that_is_merely_first():
    rows = {r.id: r for r in [moment("silent", 0, 5), moment("said", 60, 65, text="the wiring diagram"),
                              moment("other", 30, 35, text="lunch break")]}
    lists = {"image": image_list({"silent": 0.25, "said": 0.21, "other": 0.2}),
             "text": [("said", 0.9), ("other", 0.4)] + [(f"t{i}", 0.38 - i * 0.001) for i in range(20)],
             "lexical": [("said", 12.0), ("t0", 1.0), ("t1", 0.9)]}
    fused = [("silent", 0.0164), ("said", 0.0150), ("other", 0.0120)]  # what averaged ranks give
    assert [i for i, _ in order_moments(fused, lists, rows, WEIGHTS)] == ["said", "silent", "other"]


def test_a_silent_moment_is_not_punished_for_having_no_words():
    rows = {r.id: r for r in [moment("silent", 0, 5), moment("chatty", 60, 65, text="something else")]}
    lists = {"image": image_list({"silent": 0.5, "chatty": 0.21}),
             "text": [("chatty", 0.45)] + [(f"t{i}", 0.44 - i * 0.001) for i in range(20)]}
    fused = [("chatty", 0.0164), ("silent", 0.0150)]
    assert [i for i, _ in order_moments(fused, lists, rows, WEIGHTS)] == ["silent", "chatty"]


def test_other_items_keep_their_places_and_places_keep_their_scores():
    rows = {r.id: r for r in [moment("a", 0, 5), moment("b", 60, 65, text="wiring"),
                              Row(id="photo", doc="/p.jpg", path="/p.jpg", modality="image")]}
    lists = {"image": image_list({"a": 0.3, "photo": 0.29, "b": 0.2}),
             "text": [("b", 0.9)] + [(f"t{i}", 0.4 - i * 0.001) for i in range(20)]}
    fused = [("a", 0.03), ("photo", 0.02), ("b", 0.01)]
    out = order_moments(fused, lists, rows, WEIGHTS)
    assert out[1] == ("photo", 0.02) and [s for _, s in out] == [0.03, 0.02, 0.01] and out[0][0] == "b"


def test_a_recording_and_a_video_moment_keep_their_kinds_places():
    """When the query names a kind, video moments and audio segments are reordered each among their own places,
    so a voice memo that the kind prior put first is not swapped below a better-evidenced video moment."""
    rows = {r.id: r for r in [moment("memo", 0, 3, path="/a/memo.mp3", text="buy coffee", modality="audio_segment"),
                              moment("tour", 0, 5, text="the garden tour"), moment("tour2", 60, 65)]}
    lists = {"image": image_list({"tour": 0.4, "memo": 0.2, "tour2": 0.3}),
             "text": [("tour", 0.9), ("memo", 0.3)] + [(f"t{i}", 0.4 - i * 0.001) for i in range(20)]}
    fused = [("memo", 0.05), ("tour2", 0.04), ("tour", 0.03)]
    out = order_moments(fused, lists, rows, WEIGHTS, by_kind=True)
    assert out[0] == ("memo", 0.05) and [i for i, _ in out[1:]] == ["tour", "tour2"]
    # without a named kind the evidence orders every moment place (words said beat a keyframe, whatever the kind)
    assert order_moments(fused, lists, rows, WEIGHTS)[0][0] == "tour"


def test_a_moment_meets_other_kinds_by_what_it_shows_or_says():
    """Calibrated pool (dense lists in z units, fused by their mean): a moment whose very words were asked for
    ranks above a photo that merely looks alike; a silent moment keeps its keyframe's evidence, like a photo."""
    from polyseek.search.fusion import evidence
    from polyseek.search.moments import cross_kind_evidence

    rows = {r.id: r for r in [moment("said", 60, 65, text="mountain climber climbing"), moment("silent", 0, 5),
                              Row(id="photo", doc="/p.jpg", path="/p.jpg", modality="image")]}
    lists = {"image": [("photo", 4.3), ("silent", 3.95), ("said", 3.5)] + [(f"o{i}", 1.0 - i * 0.01) for i in range(20)],
             "text": [("said", 4.7)] + [(f"t{i}", 0.5 - i * 0.01) for i in range(20)],
             "lexical": [("said", 26.0)] + [(f"t{i}", 2.0) for i in range(5)]}
    has_text = {"said"} | {f"t{i}" for i in range(20)}
    fused = evidence(lists, WEIGHTS, lambda item, signal: signal == "image" or item in has_text)
    fused = [(i, s) for i, s in fused if i in rows]
    assert [i for i, _ in fused] == ["photo", "silent", "said"]  # the mean of its signals holds the moment back
    out = cross_kind_evidence(fused, lists, rows, WEIGHTS, words_alone=3.0)
    assert [i for i, _ in out] == ["said", "photo", "silent"]  # (moments then order among their places as before)
    assert dict(out)["photo"] == dict(fused)["photo"] and dict(out)["silent"] == dict(fused)["silent"]
    assert cross_kind_evidence(fused, lists, rows, WEIGHTS, words_alone=None) == fused
    assert cross_kind_evidence(fused, lists, rows, WEIGHTS, words_alone=5.0) == fused  # words below it: the mean


def test_only_moments_gain_and_only_by_their_words_over_their_mean():
    from polyseek.search.moments import cross_kind_evidence

    rows = {r.id: r for r in [moment("a", 0, 5), moment("b", 60, 65, text="wiring diagram"),
                              Row(id="photo", doc="/p.jpg", path="/p.jpg", modality="image")]}
    lists = {"image": [("a", 3.0), ("photo", 2.5), ("b", 1.0)], "text": [("b", 5.0), ("x", 0.1)]}
    fused = [("a", 3.0), ("photo", 2.5), ("b", 2.0)]  # b: the mean of its keyframe (1.0) and its words (5.0)
    out = dict(cross_kind_evidence(fused, lists, rows, WEIGHTS, words_alone=3.0))
    assert out == {"a": 3.0, "photo": 2.5, "b": 2.0 + (5.0 - 3.0)}  # a (silent) has no words: unchanged


def _look_alike_case(task: str):
    """A calibrated pool: a photo ``P``, its own shot ``mP`` (its narration: another caption of P), and ``mX``, a
    shot of a similar picture whose narration shares some of the words."""
    from polyseek.search.moments import CrossKindCase

    rows = {r.id: r for r in [moment("mP", 0, 5, path="/v/a.mp4", text="white dog shakes off water on the shore"),
                              moment("mX", 10, 15, path="/v/a.mp4", text="white dog runs on the shore"),
                              Row(id="P", doc="/P.jpg", path="/P.jpg", modality="image"),
                              Row(id="Q", doc="/Q.jpg", path="/Q.jpg", modality="image")]}
    lists = {"image": [("P", 3.6), ("mP", 3.55), ("Q", 3.3), ("mX", 3.2)] + [(f"o{i}", 1.0 - i * 0.01) for i in range(20)],
             "text": [("mP", 5.0), ("mX", 3.9)] + [(f"t{i}", 0.5 - i * 0.01) for i in range(20)]}
    fused = (("P", 3.6), ("Q", 3.3), ("mP", 3.5), ("mX", 3.4))
    if task == "moments":  # the query is a caption of P, asked of the video: its shot is right, the photo its twin
        return CrossKindCase("moments", fused, lists, rows, WEIGHTS, right=frozenset({"mP"}), twins=frozenset({"P"}))
    return CrossKindCase("captions", fused, lists, rows, WEIGHTS, right=frozenset({"P"}), twins=frozenset({"mP"}))


def test_words_rule_fitted_on_a_tiny_dev_set_keeps_photos_first_for_captions():
    """The session-8 rule (words from 3 z count alone) lifts the look-alike's shot over the right photo for a caption
    query; counting only the best words (within a margin) lifts the right shot and leaves the look-alike."""
    from polyseek.search.moments import WordsRule, fit_words_rule, score_words_rule

    dev = [_look_alike_case("moments"), _look_alike_case("captions")]
    mean, words3, best = WordsRule(None), WordsRule(3.0), WordsRule(3.0, best_words=0.5)
    assert score_words_rule(mean, dev)["moment_r1"] == 0.0  # P's twin taken out, Q's look beats mP's mean
    assert score_words_rule(words3, dev) == {"moment_r1": 1.0, "caption_kind_top1": 0.0, "caption_r1": 0.0,
                                             "n_moments": 1.0, "n_captions": 1.0}  # mX (3.9) over P (3.6)
    chosen, table = fit_words_rule(dev, [mean, words3, best])
    assert chosen == best and len(table) == 3
    assert table[2][1]["moment_r1"] == 1.0 and table[2][1]["caption_kind_top1"] == 1.0
    from polyseek.search.moments import SHIPPED_RULE
    assert score_words_rule(SHIPPED_RULE, dev)["moment_r1"] == 1.0 == score_words_rule(SHIPPED_RULE, dev)["caption_kind_top1"]
    # the floor on captions outranks moment R@1: without the margin rule the mean is the only feasible one
    assert fit_words_rule(dev, [words3, mean])[0] == mean
    # nothing reaches the caption floor: the least summed shortfall from both goals
    assert fit_words_rule(dev, [mean, words3, best], min_kind_top1=1.01, moment_goal=1.0)[0] == best
    assert fit_words_rule(dev, [mean, words3], min_kind_top1=1.01, moment_goal=1.0)[0] == mean  # 1.01 each: R@1


def test_demoted_moment_is_held_at_its_keyframe():
    from polyseek.search.moments import WordsRule

    case = _look_alike_case("captions")
    out = dict(WordsRule(3.0, best_words=0.5, demote=True).apply(case.fused, case.lists, case.rows, case.weights))
    assert out["P"] == 3.6 and out["mP"] > 3.6  # the best words count alone
    assert out["mX"] < 3.4  # words held back, and the mean above its keyframe taken away
