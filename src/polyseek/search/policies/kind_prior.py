"""Which kind the person is after, from the query itself: a fitted prior added to the fused evidence per kind.

In a mixed collection calibration (``policies/calibration.py``) fuses standardised evidence; a question about
a report still meets photos and posters that stand out as much as the right page. This policy adds each
kind's prior (:mod:`polyseek.search.kind_prior`, a logistic regression over cheap text features fitted on the
eval sets' dev half) to the fused score of every candidate of that kind, and re-sorts. Within one kind the
order never changes. It acts only where calibration fused several kinds by evidence, so an index of one
kind, a query by image, and any query with a modality filter (``--modality`` always wins) rank as before;
an instruction that names a kind ("find a PDF page") replaces the model's guess. ``SearchConfig.kind_prior``
scales the fitted weight (0 turns it off).

The prior is a guess from the query's form and cannot see the items: it must not overturn evidence it has no
view of. A kind that holds a *literal match* (a candidate whose text holds every content word of a query of at
least :data:`MIN_LITERAL_WORDS` of them, BM25's tokens) is not held back: it gets the largest prior any kind gets,
and evidence decides (on a mixed folder "lighthouse granite" returned five photos before the PDF page holding
both words, which leads without the prior; docs/universal.md). Within a kind the order still never changes. An
instruction that names the kinds is the person's word, not a guess: it still wins over a literal match.
"""

from __future__ import annotations

from polyseek.search.calibration import kind_of
from polyseek.search.context import SearchContext
from polyseek.search.kind_prior import KindPrior, inline_kinds, instruction_kinds, load
from polyseek.search.policies.base import BasePolicy
from polyseek.stores.base import Row
from polyseek.stores.memory import tokenize
from polyseek.types import Signal

# a query needs this many distinct content words before matching all of them counts as clear evidence (one
# word, "lighthouse", is as likely to ask for a picture as for the page that mentions it)
MIN_LITERAL_WORDS = 2

LEAD_MARGIN = 0.01  # how far the last item of a kind the query names is placed above the best of the others
_UNSET = object()


class KindPriorPolicy(BasePolicy):
    name = "kind-prior"

    def __init__(self, prior: KindPrior | None | object = _UNSET) -> None:
        self._prior = prior

    @property
    def prior(self) -> KindPrior | None:
        if self._prior is _UNSET:
            self._prior = load()  # the shipped parameters, read once
        return self._prior if isinstance(self._prior, KindPrior) else None

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        scale = ctx.config.kind_prior
        if not scale or ctx.fusion != "evidence" or not ctx.fused:
            return  # one kind in play (or calibration off): nothing to choose between
        if query.filters.modalities or query.has_image or not query.has_text:
            return  # the person named the kinds, or the query is a picture: no guess from text
        prior = self.prior
        if prior is None:
            return
        biases = prior.biases(query.text, query.instruction, weight=prior.weight * scale)
        named = () if query.instruction and instruction_kinds(query.instruction) else inline_kinds(query.text)
        if not any(biases.values()) and not named:
            return
        rows = ctx.rows.by_id([i for i, _ in ctx.fused])
        # a guess from the query's form yields to a literal match; an instruction naming the kinds does not
        literal = set() if instruction_kinds(query.instruction) else literal_kinds(ctx, rows)
        if literal:
            top = max([0.0, *biases.values()])
            biases = {**biases, **{kind: max(top, biases.get(kind, 0.0)) for kind in literal}}
        adjusted = []
        for item_id, score in ctx.fused:
            row = rows.get(item_id)
            kind = kind_of(row) if row is not None else "other"
            adjusted.append((item_id, score + biases.get(kind, 0.0)))
        if named:  # the query names the kind in its words ("my notes about …", "the voice memo"): its items lead
            leaders = {i for i, _ in adjusted if i in rows and kind_of(rows[i]) in named}
            adjusted = lead(adjusted, leaders)
            ctx.led.update(leaders)  # the person's word: a reranker of passages must not move them back down
            ctx.state[f"{self.name}.named"] = list(named)
        ctx.fused = sorted(adjusted, key=lambda kv: (-kv[1], kv[0]))
        ctx.state[self.name] = biases
        if literal:
            ctx.state[f"{self.name}.literal"] = sorted(literal)


def lead(ranked: list[tuple[str, float]], leaders: set[str]) -> list[tuple[str, float]]:
    """The same scores with ``leaders`` shifted by one amount to just above every other item: they lead, in their
    own order and spacing; the others keep theirs.

    >>> lead([("a", 3.0), ("b", 1.0), ("c", 0.5)], {"b", "c"})
    [('a', 3.0), ('b', 3.51), ('c', 3.01)]
    """
    ours = [s for i, s in ranked if i in leaders]
    others = [s for i, s in ranked if i not in leaders]
    if not ours or not others:
        return ranked
    shift = max(0.0, max(others) - min(ours) + LEAD_MARGIN)
    return [(i, round(s + shift, 12) if i in leaders else s) for i, s in ranked]


def literal_kinds(ctx: SearchContext, rows: dict[str, Row]) -> set[str]:
    """The kinds of the lexical candidates whose text holds every content word of the query (none for a query
    of fewer than :data:`MIN_LITERAL_WORDS` distinct content words)."""
    words = set(tokenize(ctx.query.text or ""))
    lexical = ctx.lists.get(Signal.LEXICAL)
    if len(words) < MIN_LITERAL_WORDS or not lexical:
        return set()
    kinds: set[str] = set()
    for item_id, _ in lexical:
        row = rows.get(item_id)
        if row is None:
            continue
        kind = kind_of(row)
        if kind not in kinds and words <= set(tokenize(row.text)):
            kinds.add(kind)
    return kinds
