"""How moments rank: keyframe and words add up as evidence, and adjacent matching moments merge into one span.

The rules themselves are in :mod:`polyseek.search.moments`; this policy runs them at their places in a search:
after fusion (reorder and merge, so merged neighbours free their slots) and on the hits (widen a head's span).
"""

from __future__ import annotations

from polyseek.search.context import SearchContext
from polyseek.search.moments import SHIPPED_RULE, MergedRanking, WordsRule, merge_moments
from polyseek.search.policies.base import BasePolicy


class MomentsPolicy(BasePolicy):
    name = "moments"

    def __init__(self, rule: WordsRule = SHIPPED_RULE) -> None:
        # when a moment's words count on their own against other kinds (moments.cross_kind_evidence, WordsRule);
        # WordsRule(None): moments meet other kinds by the mean of their signals; WordsRule(3.0): session 8's rule
        self.rule = rule

    def after_fusion(self, ctx: SearchContext) -> None:
        named = bool(ctx.state.get("kind-prior.named"))  # a named kind keeps its lead
        if ctx.fusion == "evidence" and ctx.fused and not named:  # several kinds met by evidence (calibration)
            rows = ctx.rows.by_id([i for i, _ in ctx.fused])
            ctx.fused = self.rule.apply(ctx.fused, ctx.lists, rows, ctx.weights)
        merged = merge_moments(ctx.fused, ctx.lists, ctx.rows.get, ctx.query.k, weights=ctx.weights, by_kind=named)
        ctx.fused = merged.ranking
        ctx.state[self.name] = merged

    def finish(self, ctx: SearchContext) -> None:
        merged: MergedRanking | None = ctx.state.get(self.name)
        if merged is not None:
            ctx.hits = merged.apply(ctx.hits)
