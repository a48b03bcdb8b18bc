"""Model upgrades without re-embedding first: a projection NEW → OLD serves at once, a backfill re-embeds behind it.

See ``docs/upgrade.md``. Entry points: :func:`upgrade` (start: fit the projection from the index's own items),
:func:`backfill` (resumable, throttled), :func:`finalize`, :func:`rollback`, :func:`status`, and for engines
:func:`attach` / :func:`query_encoder` (what answers a space's queries now) / :func:`use_query_encoder`.
"""

from __future__ import annotations

from polyseek.encoders.projection import (
           ProjectedQueryEncoder,
           Projection,
           QuerySwap,
           fit_linear,
           load_projection,
           save_projection,
)
from polyseek.upgrade.backfill import backfill, finalize, rollback, status
from polyseek.upgrade.core import attach, needs_attach, query_encoder, upgrade, use_query_encoder

__all__ = ["Projection", "ProjectedQueryEncoder", "QuerySwap", "attach", "backfill", "needs_attach", "finalize", "fit_linear", "load_projection",
           "query_encoder", "rollback", "save_projection", "status", "upgrade", "use_query_encoder"]
