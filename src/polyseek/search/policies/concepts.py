"""How personal concepts join a query: a named concept ("Rex") expands the text and adds its reference photos.

A concept named in the text, or whose reference photos resemble a query image, contributes its description to
the text encoders ("Rex" → "Rex (my golden retriever)") and its reference photos to the image space, in
proportion to the rest of the query. Both parts are measured in the same unit, standard deviations above what
an ordinary photo of the collection scores (``polyseek.search.calibration``), and the concept's part
saturates at ``likeness``, the similarity its own photos have to one another (``polyseek.concepts.likeness``):

    score(v) = z_rest(q·v) + w · min(z_concept(r·v), z_concept(likeness))

where ``q`` is the rest of the query and ``r`` the mean of the reference photos. A reference photo is no
more "Rex" than any other photo of Rex, so the rest of the query decides among them: "Rex in the grass"
ranks Rex in grass above the reference photos of Rex on a beach. Candidates are found with ``q + w·r``.
With fewer than ``MIN_BACKGROUND`` photos indexed, the concept's vector is simply added.
"""

from __future__ import annotations

import numpy as np

from polyseek.concepts import ConceptMemory
from polyseek.search.calibration import ModalityBackgrounds
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal

MIN_BACKGROUND = 16  # photos needed to measure what an ordinary photo scores; fewer: the vector is simply added


class ConceptsPolicy(BasePolicy):
    name = "concepts"

    def __init__(self, memory: ConceptMemory, backgrounds: ModalityBackgrounds) -> None:
        self.memory = memory
        self.backgrounds = backgrounds

    def prepare(self, ctx: SearchContext) -> None:
        composition = self.memory.compose(ctx.query, ctx.image_vectors)
        if composition.matched:
            ctx.text_rewrites.append(composition.expand)
        if composition.vector is None:
            return
        ctx.additions[Signal.IMAGE] = composition.vector
        photos = self.backgrounds.group(Signal.IMAGE.value, len(composition.vector), "image")
        if photos is None or len(photos.vectors) < MIN_BACKGROUND:
            return
        references = composition.references

        def standard(direction: np.ndarray) -> tuple[float, float]:
            background = photos.vectors @ direction
            return float(background.mean()), float(background.std()) or 1e-6

        def score(matrix: np.ndarray) -> np.ndarray:
            rest = ctx.base_vectors.get(Signal.IMAGE)
            scores = np.zeros(len(matrix), dtype=np.float32)
            if rest is not None:
                mean, std = standard(rest)
                scores += (matrix @ rest - mean) / std
            for weight, reference, likeness in references:
                mean, std = standard(reference)
                scores += weight * np.minimum((matrix @ reference - mean) / std, (likeness - mean) / std)
            return scores

        ctx.scorers[Signal.IMAGE] = score
