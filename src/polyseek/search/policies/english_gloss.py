"""A query in another language reaches the English-only reranker through the English gloss it was embedded with.

After ``polyseek upgrade --query-encoder multilingual`` a German or Chinese query is embedded partly through its
English dictionary gloss (:class:`polyseek.encoders.multilingual.GlossedQueryEncoder`). The cross-encoder reranker
reads words, and it is English-only. On the README's mixed folder it scored the German "Hafen Leuchtturm" against the
English harbour report at −11.3, and moved the page that retrieval ranked first to fourth, behind a video moment
and two photos. This policy hands the reranker the gloss the text encoder used ("port lighthouse"), so a foreign
query is reranked by its English meaning. English queries, languages without a dictionary and indexes without the
multilingual query encoder are left as they are. No benchmark here has questions over documents in another language
than their documents', so the change is shown on examples (tests/search/test_english_gloss.py), not measured.
"""

from __future__ import annotations

from polyseek.search.context import SearchContext
from polyseek.search.pipeline import query_texts
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal


class EnglishGlossPolicy(BasePolicy):
    name = "english-gloss"

    def before_fusion(self, ctx: SearchContext) -> None:
        if not ctx.query.text:
            return
        lookup = getattr(ctx.encoders.encoder(Signal.TEXT), "english_gloss", None)
        if not callable(lookup):
            return
        texts = query_texts(ctx)  # the texts as the encoder read them
        glossed = [lookup(text) for text in texts]
        if any(glossed):
            ctx.rerank_text = " ".join(gloss or text for gloss, text in zip(glossed, texts))
