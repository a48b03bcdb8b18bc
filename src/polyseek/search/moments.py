"""Moments after fusion: ordered by their summed evidence, then adjacent matching moments of a file merged into one span.

A moment's keyframe and its words are independent evidence that should add up, which rank fusion cannot
express (see :func:`order_moments`); so moments are first reordered among the places they hold in the fused
ranking, and then merged.

A long shot is indexed as several moments (pieces cut at speech pauses, at most 15 s each), so a query that
matches the shot finds several neighbours with near-equal scores. Walking the fused ranking best first, a
moment joins an earlier result of the same file when it touches that result's span (gap at most
``MAX_GAP`` seconds) and matches about as well as the result's head on a signal both were found by:
``score ≥ head score − TOLERANCE × spread``, where a signal's spread is its top score minus its median,
so the rule needs no per-encoder threshold. Only signals on which the head itself is strong count (its
score in the upper ``STRONG`` part between median and top): a moment found by its transcript does not pull
in a silent neighbour through an image score that is noise. Joining is measured against the head, never
the last joined moment, so a span cannot drift along a video one weak neighbour at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from polyseek.types import Hit, Locator, Modality, Signal

MOMENT_MODALITIES = frozenset({Modality.VIDEO_MOMENT.value, Modality.AUDIO_SEGMENT.value})  # as rows store them
MAX_GAP = 1.0  # seconds between two moments that still count as adjacent (speech segments leave pauses)
TOLERANCE = 0.25  # fraction of a signal's spread a neighbour may score below the head and still join
STRONG = 0.5  # a head counts a signal when its score is within this fraction of the spread from the top
MIN_WINDOW = 30  # fused candidates looked at for merging, at least
LEXICAL = Signal.LEXICAL  # the BM25 signal: non-matching texts score 0
EVIDENCE_FROM = 1.0  # z below this is what unrelated items score: it counts nothing (chosen on the dev split)


@dataclass
class Span:
    """One result: its head (best-ranked moment) and the moments joined to it."""

    head: str
    score: float
    path: str
    start: float
    end: float
    members: list[str] = field(default_factory=list)
    texts: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class MergedRanking:
    """The fused ranking with merged moments removed, and how to widen the heads' hits."""

    ranking: list[tuple[str, float]]
    spans: dict[str, Span] = field(default_factory=dict)

    def apply(self, hits: Sequence[Hit]) -> list[Hit]:
        """Hits whose head absorbed neighbours get the joined span, text and ``metadata["merged_ids"]``."""
        out = []
        for hit in hits:
            span = self.spans.get(hit.id)
            if span is None or len(span.members) < 2:
                out.append(hit)
                continue
            locator = replace(hit.item.locator, start=span.start, end=span.end)
            texts = []
            for _start, text in sorted(span.texts):
                if text and text not in texts:
                    texts.append(text)
            metadata = {**hit.item.metadata, "merged_ids": list(span.members),
                        "head_locator": hit.item.locator.to_dict()}
            item = replace(hit.item, locator=locator, text=" ".join(texts) or hit.item.text, metadata=metadata)
            out.append(replace(hit, item=item))
        return out


def _signal_stats(lists: Mapping[Any, Sequence[tuple[str, float]]]) -> dict[str, tuple[dict[str, float], float, float]]:
    """Per signal: scores by id, the top score and the spread (top minus median)."""
    stats = {}
    for signal, ranked in lists.items():
        if not ranked:
            continue
        scores = [float(s) for _, s in ranked]
        top = max(scores)
        spread = top - statistics.median(scores) if len(scores) > 1 else abs(top)
        stats[signal] = ({i: float(s) for i, s in ranked}, top, spread if spread > 0 else 1e-12)
    return stats


def _close_enough(head: str, candidate: str, stats: Mapping[Any, tuple[dict[str, float], float, float]],
                  tolerance: float) -> bool:
    for scores, top, spread in stats.values():
        if head not in scores or candidate not in scores or scores[head] < top - STRONG * spread:
            continue
        if scores[candidate] >= scores[head] - tolerance * spread:
            return True
    return False


def _evidence(row: Any, signal: str) -> bool:
    """Whether a moment carries the content a signal looks at: a keyframe (image space) or words (text, lexical)."""
    if signal == Signal.IMAGE:
        return row.modality == Modality.VIDEO_MOMENT.value and "keyframe_time" in (row.metadata or {})
    return bool((row.text or "").strip())


def order_moments(fused: Sequence[tuple[str, float]], lists: Mapping[Any, Sequence[tuple[str, float]]],
                  rows: Mapping[str, Any], weights: Mapping[Any, float], by_kind: bool = False) -> list[tuple[str, float]]:
    """Reorder the moments among the places moments hold in ``fused``, by summed per-signal evidence.

    A moment's keyframe and its transcript are independent evidence, so they add up: the moment's score is
    ``Σ weight × max(0, z − 1)`` over the signals it carries (a keyframe: the image space; words: the text
    space and lexical), where ``z`` standardises a signal's scores over the candidates that carry it; only
    what stands out from the bulk of unrelated items counts. A candidate that carries a signal but was not
    retrieved by it gets the list's floor (its lowest score; 0 for BM25, which scores every non-matching
    text 0). A signal a moment cannot carry counts 0, neither for nor against: a silent moment is not punished
    for having no words, and an audio segment's image-space vector (its words again, through the image-text
    encoder's text side) is not counted twice. Rank fusion (RRF) cannot do this:
    it averages ranks, so a silent moment that is merely first by its keyframe ties with a moment whose very
    words were searched for. Other items keep their places and every place keeps its score, so the ranking
    of a mixed collection stays on the fusion's scale. ``by_kind``: video moments and audio segments are
    reordered each among their own kind's places (when the query names a kind, "the voice memo", its items
    lead and must not be swapped below a better-evidenced video moment).
    """
    places = [n for n, (item_id, _) in enumerate(fused) if item_id in rows and rows[item_id].modality in MOMENT_MODALITIES]
    if len(places) < 2 or len(lists) < 2:
        return list(fused)
    moments = [fused[n][0] for n in places]
    evidence = {item_id: 0.0 for item_id in moments}
    for signal, ranked in lists.items():
        scores = {item_id: float(v) for item_id, v in ranked}
        if not scores:
            continue
        floor = 0.0 if signal == LEXICAL else min(scores.values())
        carriers = [i for i in moments if _evidence(rows[i], signal)]
        population = [scores.get(i, floor) for i in set(scores) | set(carriers)]
        mean, deviation = statistics.fmean(population), statistics.pstdev(population)
        if deviation <= 0:
            continue
        for item_id in carriers:
            z = (scores.get(item_id, floor) - mean) / deviation
            evidence[item_id] += weights.get(signal, 1.0) * max(0.0, z - EVIDENCE_FROM)
    out = list(fused)
    groups = [[n for n in places if rows[fused[n][0]].modality == m] for m in MOMENT_MODALITIES] if by_kind else [places]
    for own in groups:
        ordered = sorted((fused[n][0] for n in own), key=lambda i: -evidence[i])  # stable: ties keep the order
        for place, item_id in zip(own, ordered):
            out[place] = (item_id, fused[place][1])
    return out


WORDS_ALONE = 3.0  # z at which a moment's words count on their own against other kinds (dev split; None: off)


@dataclass(frozen=True)
class WordsRule:
    """When a moment's words count on their own against other kinds (:func:`cross_kind_evidence`).

    ``words_alone``: the z its strongest word signal must reach (None: never, the mean of its signals).
    ``best_words``: and be within this many z of the best words of any moment in the candidates (None: any).
    ``agree``: and its keyframe's image z be within this of the best other item's (None: not asked).
    ``said_alone``: words from this z count without the keyframe's agreement. ``lift_cap``: words lift a moment
    to at most its keyframe z plus this. ``demote``: a moment whose words do not count alone is held at its
    keyframe's evidence (its words cannot lift it above how it looks). ``offset``: z taken from every moment
    whose words do not count alone (a prior for the other kinds; 0: none).
    """

    words_alone: float | None = WORDS_ALONE
    best_words: float | None = None
    agree: float | None = None
    said_alone: float | None = None
    lift_cap: float | None = None
    demote: bool = False
    offset: float = 0.0

    def apply(self, fused: Sequence[tuple[str, float]], lists: Mapping[Any, Sequence[tuple[str, float]]],
              rows: Mapping[str, Any], weights: Mapping[Any, float]) -> list[tuple[str, float]]:
        return cross_kind_evidence(fused, lists, rows, weights, self.words_alone, agree=self.agree,
                                   said_alone=self.said_alone, lift_cap=self.lift_cap, best_words=self.best_words,
                                   demote=self.demote, offset=self.offset)


# shipped (session 9, dev split; docs/universal.md): words from 2 z count alone for the moment whose words match
# best; the other moments are held at their keyframe's evidence. Same moment R@1 as words alone from 3 z on dev
# and test, a photo first for more captions (test 0.590 -> 0.632 of 600 captions).
SHIPPED_RULE = WordsRule(2.0, best_words=0.0, demote=True)


@dataclass(frozen=True)
class CrossKindCase:
    """One dev query as the moments policy sees it, and what is right at rank 1.

    ``task``: ``"moments"`` (a moment is wanted) or ``"captions"`` (a photo is wanted); ``right``: the ids that
    are right at rank 1; ``twins``: ids the task does not score (the same picture held as the other kind)."""

    task: str
    fused: tuple[tuple[str, float], ...]
    lists: Mapping[Any, Sequence[tuple[str, float]]]
    rows: Mapping[str, Any]
    weights: Mapping[Any, float]
    right: frozenset[str]
    twins: frozenset[str] = frozenset()


def score_words_rule(rule: WordsRule, cases: Sequence[CrossKindCase]) -> dict[str, float]:
    """Top-1 figures of ``rule`` over ``cases``: right moment first (moments), a photo first and the right one
    first (captions); the moments are then ordered among their places (:func:`order_moments`) and twins taken
    out before the top is read, as ``eval universal`` does (moments are not merged here)."""
    sums = {"moment_r1": 0.0, "caption_kind_top1": 0.0, "caption_r1": 0.0}
    counts = {"moments": 0, "captions": 0}
    for case in cases:
        fused = order_moments(rule.apply(case.fused, case.lists, case.rows, case.weights), case.lists, case.rows,
                              case.weights)  # as the moments policy goes on (merging aside)
        ranking = [i for i, _ in fused if i not in case.twins]
        top = ranking[0] if ranking else None
        row = case.rows.get(top) if top is not None else None
        counts[case.task] += 1
        if case.task == "moments":
            sums["moment_r1"] += top in case.right
        else:
            sums["caption_kind_top1"] += row is not None and row.modality not in MOMENT_MODALITIES
            sums["caption_r1"] += top in case.right
    return {"moment_r1": sums["moment_r1"] / max(1, counts["moments"]),
            "caption_kind_top1": sums["caption_kind_top1"] / max(1, counts["captions"]),
            "caption_r1": sums["caption_r1"] / max(1, counts["captions"]), **{f"n_{t}": float(n) for t, n in counts.items()}}


def fit_words_rule(cases: Sequence[CrossKindCase], grid: Sequence[WordsRule], min_kind_top1: float = 0.95,
                   moment_goal: float = 0.0) -> tuple[WordsRule, list[tuple[WordsRule, dict[str, float]]]]:
    """The rule of ``grid`` closest to both goals: a photo first for at least ``min_kind_top1`` of the caption
    queries and the right moment first for at least ``moment_goal`` of the moment queries. Among rules that meet
    both, or failing that the caption floor, the best moment R@1; when none meets the floor, the least summed
    shortfall from the two goals (ties: caption R@1, then grid order). Returns it and every rule's figures."""
    table = [(rule, score_words_rule(rule, cases)) for rule in grid]

    def shortfall(m: dict[str, float]) -> float:
        return max(0.0, min_kind_top1 - m["caption_kind_top1"]) + max(0.0, moment_goal - m["moment_r1"])

    both = [(r, m) for r, m in table if shortfall(m) == 0.0]
    floor = [(r, m) for r, m in table if m["caption_kind_top1"] >= min_kind_top1]
    if both or floor:
        best = max(both or floor, key=lambda rm: (rm[1]["moment_r1"], rm[1]["caption_r1"]))
    else:
        best = max(table, key=lambda rm: (-shortfall(rm[1]), rm[1]["caption_r1"]))
    return best[0], table


def _standard_lists(lists: Mapping[Any, Sequence[tuple[str, float]]]) -> dict[Any, tuple[dict[str, float], float]]:
    """Per signal: evidence by id and the floor an eligible item the list did not return gets (``fusion.evidence``:
    dense lists arrive standardised by calibration; BM25 is standardised over its own list, 0 → its floor)."""
    out = {}
    for signal, ranked in lists.items():
        scores = {i: float(s) for i, s in ranked}
        if not scores:
            continue
        if signal == LEXICAL:
            values = list(scores.values())
            mean, deviation = statistics.fmean(values), statistics.pstdev(values) or 1.0
            out[signal] = ({i: (s - mean) / deviation for i, s in scores.items()}, -mean / deviation)
        else:
            out[signal] = (scores, min(scores.values()))
    return out


def cross_kind_evidence(fused: Sequence[tuple[str, float]], lists: Mapping[Any, Sequence[tuple[str, float]]],
                        rows: Mapping[str, Any], weights: Mapping[Any, float],
                        words_alone: float | None = WORDS_ALONE, *, agree: float | None = None,
                        said_alone: float | None = None, lift_cap: float | None = None,
                        best_words: float | None = None, demote: bool = False,
                        offset: float = 0.0) -> list[tuple[str, float]]:
    """Where calibration fused several kinds by evidence: a moment whose words clearly match counts by its words.

    ``fusion.evidence`` averages an item's evidence over the signals it could match: a photo's is its one image-
    space score, a narrated moment's the mean of its keyframe, its words in the text space and BM25. So a moment
    whose very words were asked for ("Mountain climber climbing snowy mountaintop", text z 4.7) fell below a photo
    that merely looks alike (z 4.3) once its keyframe pulled the mean down. Here a moment whose strongest word
    signal (text space or BM25, standardised as fusion standardises it) reaches ``words_alone`` z counts by that
    signal when it is above the mean: words said are evidence on their own, as a photo's look is. Other items
    keep their scores; a moment only gains; :func:`order_moments` then orders the moments among their places as
    before. A search restricted to moments (one kind: rank fusion) never comes here. The threshold was chosen on
    the dev split of the universal pool with moments (docs/universal.md, session 8): lower lifts the moments
    task further and costs the caption task more (a caption and a shot's description are the same kind of query).
    """
    if words_alone is None and not offset:
        return list(fused)
    words_alone = float("inf") if words_alone is None else words_alone
    standard = _standard_lists(lists)
    image, _ = standard.get(Signal.IMAGE, ({}, 0.0))
    best_picture = max((z for i, z in image.items() if i in rows and rows[i].modality not in MOMENT_MODALITIES),
                       default=None)  # the best other item's look (a photo's, a poster's, a page render's)
    out = list(fused)
    found: dict[int, tuple[float, float | None, float]] = {}
    for n, (item_id, score) in enumerate(fused):
        row = rows.get(item_id)
        if row is None or row.modality not in MOMENT_MODALITIES:
            continue
        carried = [(signal, scores.get(item_id, floor)) for signal, (scores, floor) in standard.items()
                   if item_id in scores or _evidence(row, signal)]
        said = [value for signal, value in carried if signal != Signal.IMAGE]
        look = next((value for signal, value in carried if signal == Signal.IMAGE), None)
        total = sum(weights.get(signal, 1.0) for signal, _ in carried) or 1.0
        mean = sum(weights.get(signal, 1.0) * value for signal, value in carried) / total
        found[n] = (max(said) if said else float("-inf"), look, mean)
    top_said = max((w for w, _, _ in found.values()), default=float("-inf"))
    for n, (words, look, mean) in found.items():
        item_id, score = fused[n]
        gated = words >= words_alone
        if gated and best_words is not None and words < top_said - best_words:
            gated = False  # another moment's words match clearly better: these are a look-alike's words
        if gated and agree is not None and not (said_alone is not None and words >= said_alone):
            # the words count alone only where the moment's keyframe also looks like the best picture
            gated = look is not None and (best_picture is None or look >= best_picture - agree)
        if not gated:
            lowered = max(0.0, mean - look) if demote and look is not None else 0.0  # words cannot lift it
            out[n] = (item_id, score - lowered - offset)
            continue
        if lift_cap is not None and look is not None:
            words = min(words, look + lift_cap)
        out[n] = (item_id, score + max(0.0, words - mean))
    return sorted(out, key=lambda kv: -kv[1])


def merge_moments(
    fused: Sequence[tuple[str, float]],
    lists: Mapping[Any, Sequence[tuple[str, float]]],
    get_rows: Callable[[list[str]], Sequence[Any]],
    k: int = 10,
    *,
    max_gap: float = MAX_GAP,
    tolerance: float = TOLERANCE,
    weights: Mapping[Any, float] | None = None,
    by_kind: bool = False,
) -> MergedRanking:
    """Join adjacent matching moments of the same file; ``fused`` is best first, ``lists`` the per-signal rankings.

    ``get_rows(ids)`` returns stored rows (with ``id``, ``path``, ``modality``, ``locator``, ``text``). The first
    ``max(30, 3k)`` candidates are considered; the ranking that comes back is ``fused`` without the moments
    that joined a better-ranked one. Items that are not moments pass through untouched.
    """
    rows = {row.id: row for row in get_rows([i for i, _ in fused])} if fused else {}
    if not any(getattr(r, "modality", None) in MOMENT_MODALITIES for r in rows.values()):
        return MergedRanking(list(fused))
    if weights is not None:
        fused = order_moments(fused, lists, rows, weights, by_kind=by_kind)
    window = list(fused[: max(MIN_WINDOW, 3 * k)])
    stats = _signal_stats(lists)
    spans: list[Span] = []
    joined: set[str] = set()
    for item_id, score in window:
        row = rows.get(item_id)
        if row is None or row.modality not in MOMENT_MODALITIES:
            continue
        locator = Locator.from_dict(row.locator)
        if locator.start is None:
            continue
        start, end = float(locator.start), float(locator.end if locator.end is not None else locator.start)
        target = next((s for s in spans if s.path == row.path and start <= s.end + max_gap
                       and end >= s.start - max_gap and _close_enough(s.head, item_id, stats, tolerance)), None)
        if target is None:
            spans.append(Span(item_id, score, row.path, start, end, [item_id], [(start, row.text)]))
            continue
        target.start, target.end = min(target.start, start), max(target.end, end)
        target.members.append(item_id)
        target.texts.append((start, row.text))
        joined.add(item_id)
    ranking = [(i, s) for i, s in fused if i not in joined]
    return MergedRanking(ranking, {s.head: s for s in spans if len(s.members) > 1})
