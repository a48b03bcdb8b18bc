"""What a query must never return: the item it asks for more of, and the photo a composed query starts from.

Composed image retrieval (an image plus a text that modifies it) follows the field's convention: the
reference image itself is not a result; here that is any indexed file with the same content, under any
name. "More like this" (``Query.like``) searches with the item's own stored vectors, excludes the item, and
prefers the item's own kind (``LIKE_OWN_KIND_BONUS`` on its fused score): a photo's neighbours are photos
first, unless another kind truly matches better.
"""

from __future__ import annotations

import numpy as np

from polyseek.catalog import Catalog
from polyseek.errors import NotFoundError
from polyseek.search.calibration import kind_of
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS, item_id

LIKE_OWN_KIND_BONUS = 0.25  # fraction added to the fused score of an item of the liked item's kind


class ExclusionPolicy(BasePolicy):
    name = "exclusion"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def prepare(self, ctx: SearchContext) -> None:
        query = ctx.query
        for record in self.catalog.keys_with_hash(query.exclude_hashes):
            ctx.excluded.update(item_id(record.key, i) for i in range(record.items))
        if not query.like:
            return
        rows = ctx.rows.get([query.like])
        if not rows:
            raise NotFoundError(f"no item with id {query.like!r} to find more like",
                                hint="give the id of an indexed item (search results carry it)")
        ctx.excluded.add(query.like)
        ctx.state[self.name] = kind_of(rows[0])
        for space in DENSE_SIGNALS:
            vector = ctx.rows.get_vectors(space.value, [query.like]).get(query.like)
            if vector is not None:
                current = ctx.additions.get(space)
                vector = np.asarray(vector, dtype=np.float32)
                ctx.additions[space] = vector if current is None else current + vector

    def after_fusion(self, ctx: SearchContext) -> None:
        kind = ctx.state.get(self.name)
        if kind is None or not ctx.fused:
            return
        rows = ctx.rows.by_id([i for i, _ in ctx.fused])
        boosted = [(i, s * (1 + LIKE_OWN_KIND_BONUS) if s > 0 and i in rows and kind_of(rows[i]) == kind
                    else s) for i, s in ctx.fused]
        ctx.fused = sorted(boosted, key=lambda kv: (-kv[1], kv[0]))
