"""Long text queries in the image-text space: an item scores by the query's best-matching sentence, not only the whole.

A caption followed by a paragraph of unrelated sentences (content dilution) is one vector in which the caption
is a minority: text→photo R@10 fell by 21 % relative on the captions set (``polyseek eval robustness``). For a
query of several sentences and at least :data:`MIN_WORDS` words, each sentence (up to :data:`MAX_SENTENCES`) is
also embedded; the image space scores an item by the best of the whole query and its sentences (a scoring rule,
so calibration's backgrounds are scored the same way) and retrieves each sentence's own candidates. One-sentence
queries, composed queries and queries with an image are left as they are; so are the text space and lexical
search, where long questions are the normal case.
"""

from __future__ import annotations

import re

import numpy as np

from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import Signal

MIN_WORDS = 20  # a one-line description stays whole; a paragraph is read sentence by sentence too
MAX_SENTENCES = 8
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` that hold at least two words.

    >>> sentences("A dog runs. It is sunny today! ok")
    ['A dog runs.', 'It is sunny today!']
    """
    return [s.strip() for s in _SPLIT.split(text) if len(s.split()) >= 2]


class SentencesPolicy(BasePolicy):
    name = "sentences"

    def prepare(self, ctx: SearchContext) -> None:
        query = ctx.query
        texts = [p for p in query.parts if p.text]
        if len(query.parts) != 1 or len(texts) != 1 or texts[0].weight <= 0 or Signal.IMAGE in ctx.scorers:
            return
        if query.spaces and Signal.IMAGE not in query.spaces:
            return
        text = texts[0].text or ""
        for rewrite in ctx.text_rewrites:
            text = rewrite(text)
        parts = sentences(text)
        if len(parts) < 2 or len(text.split()) < MIN_WORDS:
            return
        prefix = f"{query.instruction.strip()} " if query.instruction else ""
        vectors = ctx.encoders.encoder(Signal.IMAGE).encode_queries([prefix + s for s in parts[:MAX_SENTENCES]])
        ctx.state[self.name] = vectors

        def best_sentence(matrix: np.ndarray) -> np.ndarray:
            return np.max(np.stack([matrix @ ctx.vectors[Signal.IMAGE], *(matrix @ v for v in vectors)]), axis=0)

        ctx.scorers[Signal.IMAGE] = best_sentence

    def before_fusion(self, ctx: SearchContext) -> None:
        vectors = ctx.state.get(self.name)
        if vectors is None or Signal.IMAGE not in ctx.vectors:
            return
        depth = ctx.config.depth(ctx.query.k)
        found = [i for i, _ in ctx.lists.get(Signal.IMAGE, [])]
        for vector in vectors:
            found += [i for i, _ in ctx.rows.search(Signal.IMAGE.value, vector, depth, ctx.query.filters)]
        candidates = [(i, 0.0) for i in dict.fromkeys(found)]
        if candidates:
            ctx.lists[Signal.IMAGE] = ctx.rescore(Signal.IMAGE, candidates)
