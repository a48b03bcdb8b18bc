"""How PDF pages rank: by their text, as pages that absorb their regions, reranked when they lead.

1. With a text query, pages and regions are ranked by the text signals only (``SearchConfig.document_signals``):
   their renders in the image-text space rank evidence worse than text does and cost accuracy at any fusion
   weight (docs/documents.md). A query by image alone still finds them by their picture.
2. After fusion, a page's candidates (its own item and its regions) pool into one result per page, scored as
   its best member; the hit names its best region (``polyseek.search.aggregate``).
3. A query that leaves ``rerank`` unset gets the cross-encoder when a page or region is among its first k
   results (``SearchConfig.rerank_documents``; tuned in docs/documents.md).
"""

from __future__ import annotations

from polyseek.search.aggregate import RERANK_DEPTH, is_document, pool_results
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Modality, Signal


class DocumentsPolicy(BasePolicy):
    name = "documents"

    def before_fusion(self, ctx: SearchContext) -> None:
        lists = ctx.lists
        if Signal.IMAGE not in lists or len(lists) < 2 or Signal.IMAGE in ctx.config.document_signals:
            return
        candidates = list(dict.fromkeys(i for ranked in lists.values() for i, _ in ranked))
        documents = {row.id for row in ctx.rows.get(candidates)  # image tiles are regions without a page: not here
                     if Modality(row.modality).is_document and row.locator.get("page") is not None}
        if not documents:
            return
        ctx.ineligible.setdefault(Signal.IMAGE, set()).update(documents)
        lists[Signal.IMAGE] = [(i, s) for i, s in lists[Signal.IMAGE] if i not in documents]
        if not lists[Signal.IMAGE]:
            del lists[Signal.IMAGE]

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        may_rerank = bool(query.rerank) or (query.rerank is None and ctx.config.rerank_documents)
        wanted = max(query.k, RERANK_DEPTH if may_rerank else 0)
        modalities = query.filters.modalities
        collapse = not modalities or Modality.PAGE in modalities
        ctx.results = pool_results(ctx.rows, query, ctx.fused, wanted, collapse=collapse)
        if query.rerank is None and ctx.config.rerank_documents:
            ctx.rerank_wanted = any(is_document(r.item) for r in ctx.results[: query.k])
