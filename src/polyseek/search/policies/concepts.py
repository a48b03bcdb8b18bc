"""How personal concepts join a query: a named concept ("Rex") expands the text and adds its reference photos.

A concept named in the text, or whose reference photos resemble a query image, contributes its description to
the text encoders ("Rex" → "Rex (my golden retriever)") and its reference photos to the image space, in
proportion: a photo scores ``q·v + w · min(r·v, likeness)``, where ``q`` is the rest of the query, ``r`` the
mean of the concept's reference photos and ``likeness`` how alike those photos are to one another
(``polyseek.concepts.likeness``). Being Rex saturates at what any photo of Rex reaches, so the reference
photos themselves cannot swamp the query: "Rex in the grass" ranks Rex in grass above Rex on the beach.
Candidates are found with ``q + w·r`` (recall) and ranked by that score.
"""

from __future__ import annotations

import numpy as np

from polyseek.concepts import ConceptMemory
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal


class ConceptsPolicy(BasePolicy):
    name = "concepts"

    def __init__(self, memory: ConceptMemory) -> None:
        self.memory = memory

    def prepare(self, ctx: SearchContext) -> None:
        composition = self.memory.compose(ctx.query, ctx.image_vectors)
        if composition.matched:
            ctx.text_rewrites.append(composition.expand)
        if composition.vector is None:
            return
        ctx.additions[Signal.IMAGE] = composition.vector
        references = composition.references

        def score(matrix: np.ndarray) -> np.ndarray:
            rest = ctx.base_vectors.get(Signal.IMAGE)
            scores = matrix @ rest if rest is not None else np.zeros(len(matrix), dtype=np.float32)
            for weight, mean, likeness in references:
                scores = scores + weight * np.minimum(matrix @ mean, likeness)
            return scores

        ctx.scorers[Signal.IMAGE] = score
