"""How moments rank: keyframe and words add up as evidence, and adjacent matching moments merge into one span.

The rules themselves are in :mod:`polyseek.search.moments`; this policy runs them at their places in a search:
after fusion (reorder and merge, so merged neighbours free their slots) and on the hits (widen a head's span).
"""

from __future__ import annotations

from polyseek.search.context import SearchContext
from polyseek.search.moments import MergedRanking, merge_moments
from polyseek.search.policies.base import BasePolicy


class MomentsPolicy(BasePolicy):
    name = "moments"

    def after_fusion(self, ctx: SearchContext) -> None:
        merged = merge_moments(ctx.fused, ctx.lists, ctx.rows.get, ctx.query.k, weights=ctx.weights,
                               by_kind=bool(ctx.state.get("kind-prior.named")))  # a named kind keeps its lead
        ctx.fused = merged.ranking
        ctx.state[self.name] = merged

    def finish(self, ctx: SearchContext) -> None:
        merged: MergedRanking | None = ctx.state.get(self.name)
        if merged is not None:
            ctx.hits = merged.apply(ctx.hits)
