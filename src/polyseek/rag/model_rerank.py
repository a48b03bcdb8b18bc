"""Optional model reranker: the configured generator model judges each top candidate's relevance zero-shot
(a digit 0-9), seeing the picture of images and pages when it takes images. Switched on per query."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from polyseek.errors import InvalidInputError
from polyseek.rag.base import ContextBlock, Generator, GeneratorResponseError
from polyseek.rag.context import Candidate
from polyseek.rag.prompts import judge_messages

log = logging.getLogger(__name__)
TOP = 8  # candidates judged: each costs one model call
_DIGIT = re.compile(r"\d")


def parse_digit(reply: str) -> int | None:
    match = _DIGIT.search(reply or "")
    return int(match.group(0)) if match else None


def model_rerank(generator: Generator, question: str, candidates: Sequence[Candidate], top: int = TOP) -> list[Candidate]:
    """Re-score the ``top`` most relevant candidates with the model's judgement and put them first, best first.

    The judged relevance is ``(digit + 0.5) / 10``, blended equally with the cross-encoder's; a reply with no
    digit keeps the cross-encoder's score. Candidates below ``top`` keep their order after the judged ones.
    """
    judge = getattr(generator, "judge", None)
    if judge is None:
        raise InvalidInputError(f"generator {generator.name!r} cannot judge relevance",
                                hint="model reranking needs a model: --generator openai:<model>@<url> or llama-cpp:...")
    from polyseek.rag.media import item_picture

    ordered = sorted(candidates, key=lambda c: (-c.relevance, c.rank))
    head, tail = ordered[:top], ordered[top:]
    for candidate in head:
        picture = item_picture(candidate.hit.item) if generator.accepts_images and candidate.hit.item.modality.value != "text" else None
        block = ContextBlock(number=0, hit=candidate.hit, text=candidate.text(1500), image=picture)
        try:
            reply = judge(judge_messages(question, block, with_images=picture is not None))
        except GeneratorResponseError as exc:
            if picture is None or not getattr(exc, "refused_images", False):
                raise
            generator.accepts_images = False  # a text-only model: judge from text from now on
            reply = judge(judge_messages(question, block, with_images=False))
        digit = parse_digit(reply)
        if digit is not None:
            candidate.relevance = 0.5 * candidate.relevance + 0.5 * (digit + 0.5) / 10
        candidate.hit.scores["model_judge"] = float(digit) if digit is not None else -1.0
    head.sort(key=lambda c: (-c.relevance, c.rank))
    return head + tail
