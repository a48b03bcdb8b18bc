"""How a composed query ranks: an image plus a text that changes it ("this dress, in red") is one request.

Composed image retrieval asks for items like the query image as modified by the text. Its answer is the
image space's ranking of the composed vector (``image_weight × image + text_weight × text``) over pictures:
photos and video moments (by their keyframes). The text's own lists (the text space and BM25) would answer
a different question, "notes about red", and in the image space notes, transcripts and page renders sit
close to any text: fused or left in, they come before the pictures asked for. So a composed query ranks
pictures in the image space alone, unless the query names its signals (``spaces``) or kinds (a modality
filter). The query image itself never comes back (``policies/exclusion.py``).

The text weighs ``TEXT_WEIGHT`` times its given weight against the image, so that it modifies the image
rather than being outvoted by it: measured on composed data built from the Flickr8k photos (photo A plus the
caption of B, one of A's 2nd..20th nearest photos; ``scripts/measure_composed_weight.py``), chosen on the dev
photos, reported on the test photos (docs/evaluation.md): R@1/R@5/R@10 of B 0.224/0.691/0.869 at 1:1,
0.351/0.753/0.873 at 2:1, text alone 0.313/0.583/0.718. A person's ``--text-weight``/``--image-weight``
multiply on top of this balance.
"""

from __future__ import annotations

from dataclasses import replace

from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Modality, Signal

PICTURES = (Modality.IMAGE, Modality.VIDEO_MOMENT)  # kinds whose image-space vector is a picture
TEXT_WEIGHT = 2.0  # text : image in a composed query's vector (measured, see above)


class ComposedPolicy(BasePolicy):
    name = "composed"

    def prepare(self, ctx: SearchContext) -> None:
        query = ctx.query
        if query.spaces or not (query.has_text and query.has_image):
            return
        ctx.state[self.name] = True
        parts = tuple(replace(p, weight=p.weight * TEXT_WEIGHT) if p.text else p for p in query.parts)
        query = ctx.query = replace(query, parts=parts)
        if not query.filters.modalities:  # a query for pictures, from retrieval on
            ctx.query = replace(query, filters=replace(query.filters, modalities=PICTURES))

    def before_fusion(self, ctx: SearchContext) -> None:
        if ctx.state.get(self.name) and Signal.IMAGE in ctx.lists:
            for signal in (Signal.TEXT, Signal.LEXICAL):
                ctx.lists.pop(signal, None)
