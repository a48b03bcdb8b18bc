"""The one protocol every ranking rule follows: hooks the pipeline calls at fixed points of a search."""

from __future__ import annotations

from typing import Protocol

from polyseek.search.context import SearchContext


class Policy(Protocol):
    """A named ranking rule. The pipeline calls, in order for every policy:

    ``prepare`` after the query's images are embedded and before its text is (to rewrite text or add vectors),
    ``before_fusion`` once each signal has its candidates, ``after_fusion`` on the fused ranking, and
    ``finish`` on the hits. A rule implements only the hooks it needs (subclass :class:`BasePolicy`).
    """

    name: str

    def prepare(self, ctx: SearchContext) -> None: ...

    def before_fusion(self, ctx: SearchContext) -> None: ...

    def after_fusion(self, ctx: SearchContext) -> None: ...

    def finish(self, ctx: SearchContext) -> None: ...


class BasePolicy:
    """No-op hooks; a policy overrides the ones it needs."""

    name = "policy"

    def prepare(self, ctx: SearchContext) -> None:
        return None

    def before_fusion(self, ctx: SearchContext) -> None:
        return None

    def after_fusion(self, ctx: SearchContext) -> None:
        return None

    def finish(self, ctx: SearchContext) -> None:
        return None
