"""How a composed query ranks: an image plus a text that changes it ("this dress, in red") is one request.

Composed image retrieval asks for items like the query image as modified by the text. Its answer is the
image space's ranking of the composed vector (``image_weight × image + text_weight × text``) over pictures:
photos and video moments (by their keyframes). The text's own lists (the text space and BM25) would answer
a different question, "notes about red", and in the image space notes, transcripts and page renders sit
close to any text: fused or left in, they come before the pictures asked for. So a composed query ranks
pictures in the image space alone, unless the query names its signals (``spaces``) or kinds (a modality
filter). The query image itself never comes back (``policies/exclusion.py``).
"""

from __future__ import annotations

from dataclasses import replace

from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Modality, Signal

PICTURES = (Modality.IMAGE, Modality.VIDEO_MOMENT)  # kinds whose image-space vector is a picture


class ComposedPolicy(BasePolicy):
    name = "composed"

    def prepare(self, ctx: SearchContext) -> None:
        query = ctx.query
        if query.spaces or not (query.has_text and query.has_image):
            return
        ctx.state[self.name] = True
        if not query.filters.modalities:  # a query for pictures, from retrieval on
            ctx.query = replace(query, filters=replace(query.filters, modalities=PICTURES))

    def before_fusion(self, ctx: SearchContext) -> None:
        if ctx.state.get(self.name) and Signal.IMAGE in ctx.lists:
            for signal in (Signal.TEXT, Signal.LEXICAL):
                ctx.lists.pop(signal, None)
