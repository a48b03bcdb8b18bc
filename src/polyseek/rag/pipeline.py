"""``ask``: retrieve (all modalities) → rerank → select context → generate (streaming) → cite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyseek.errors import InvalidInputError, PolyseekError
from polyseek.rag.base import Answer, Citation, ContextBlock, ContextTooLongError, Generator, load_generator, resolve_spec
from polyseek.rag.citations import StreamRenumberer, finish
from polyseek.rag.context import (
    DEFAULT_FIXED_K,
    DEFAULT_MAX_ITEMS,
    Candidate,
    score_candidates,
    select_adaptive,
    select_fixed,
)
from polyseek.types import Hit, Query, QueryPart, Signal

if TYPE_CHECKING:
    from polyseek.engine import Engine

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 4000
CHARS_PER_TOKEN = 3.5  # rough, on the safe side for English with a SentencePiece/BPE vocabulary
TOKENS_PER_IMAGE = 800
PROMPT_OVERHEAD_TOKENS = 160  # system prompt, labels, "Question:" scaffolding
ANSWER_TOKENS = 512
BLOCK_CHARS = 1200  # text of one context block at most
NO_CONTEXT = "Nothing in the indexed files matches this question."


def tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass
class AskRun:
    """State of one ask, filled in as its events are produced."""

    question: str
    generator: Generator | None = None
    blocks: list[ContextBlock] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    text: str = ""
    answer: Answer | None = None
    error: PolyseekError | None = None


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError("empty question", hint='ask something, e.g. polyseek ask "when was the invoice paid?"')
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        raise ContextTooLongError(f"question is {len(question):,} characters, over the limit of {MAX_QUESTION_CHARS:,}",
                                  hint="shorten it; put long material in a file and index it")
    return question


def retrieve(engine: Engine, question: str, image: Any, depth: int, expand: str | None = None) -> list[Hit]:
    """All modalities, fused; the question is plain text (no query syntax: questions have apostrophes).
    ``expand``: a generator spec that rewrites the question into more retrieval queries (search expansion)."""
    parts = [QueryPart(text=question)]
    if image is not None:
        parts.append(QueryPart(image=image))
    config = engine.with_config(expand=True, expand_generator=expand) if expand else None
    return engine.search(Query(parts=tuple(parts), k=depth), config=config)


def fit_blocks(candidates: list[Candidate], generator: Generator, question: str, facts: list[str]) -> list[ContextBlock]:
    """Number the chosen candidates and trim them to the generator's window; refuse a question that cannot fit."""
    from polyseek.rag.media import item_picture

    answer_tokens = int(getattr(generator, "max_tokens", ANSWER_TOKENS))
    budget = generator.context_window - answer_tokens - PROMPT_OVERHEAD_TOKENS - tokens(question) - sum(tokens(f) for f in facts)
    if budget < 0:
        raise ContextTooLongError(
            f"the question and concept facts need about {generator.context_window - budget:,} tokens, more than "
            f"{generator.name}'s context window of {generator.context_window:,}",
            hint="shorten the question, or use a model with a larger window (?window= for openai endpoints)")
    blocks: list[ContextBlock] = []
    for candidate in candidates:
        text = candidate.text(BLOCK_CHARS)
        picture = item_picture(candidate.hit.item) if generator.accepts_images and candidate.hit.item.modality.value != "text" else None
        cost = tokens(text) + (TOKENS_PER_IMAGE if picture is not None else 0) + 12
        if cost > budget:
            if picture is not None and tokens(text) + 12 <= budget:  # keep its text, drop its picture
                picture, cost = None, tokens(text) + 12
            elif budget > 60 and text:  # the last block that fits, cut short
                text = text[: int((budget - 12) * CHARS_PER_TOKEN)]
                picture, cost = None, budget
            else:
                break
        blocks.append(ContextBlock(number=len(blocks) + 1, hit=candidate.hit, text=text, image=picture,
                                   relevance=candidate.relevance))
        budget -= cost
    return blocks


def answer_from_hits(question: str, hits: list[Hit], generator: Generator, *, reranker: Any = None,
                     k: int | None = None, adaptive: bool = True) -> Answer:
    """The steps of ``ask`` after retrieval, for hits found elsewhere (evaluation, tools): rerank → select →
    fit → generate → cite. ``reranker`` defaults to the shared cross-encoder."""
    from polyseek.rag.extractive import load_cross_encoder

    budget = k or (DEFAULT_MAX_ITEMS if adaptive else DEFAULT_FIXED_K)
    blocks: list[ContextBlock] = []
    if hits:
        candidates = score_candidates(question, hits, reranker or load_cross_encoder())
        chosen = select_adaptive(candidates, max_items=budget) if adaptive else select_fixed(candidates, budget)
        blocks = fit_blocks(chosen, generator, question, [])
    renumber = StreamRenumberer({b.number for b in blocks})
    text = "".join(renumber.feed(p) for p in (generator.stream(question, blocks) if blocks else iter([NO_CONTEXT])))
    text += renumber.flush()
    final, citations = finish(text, renumber.blocks(blocks))
    return Answer(answer=final, citations=citations, context=[b.hit for b in blocks], generator=generator.name)


def _events(engine: Engine, run: AskRun, *, image: Any, k: int | None, generator: str | None, adaptive: bool,
            model_rerank: bool, expand: bool) -> Iterator[dict[str, Any]]:
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100):
        raise InvalidInputError(f"k must be an integer from 1 to 100, got {k!r}")
    run.question = question = check_question(run.question)
    run.generator = gen = load_generator(generator)
    budget = k or (DEFAULT_MAX_ITEMS if adaptive else DEFAULT_FIXED_K)
    if image is not None:
        from polyseek.inputs import load_image

        image = load_image(image)  # a path, bytes or PIL image; refused here, before any work, if unreadable
    hits = retrieve(engine, question, image, depth=max(20, 3 * budget), expand=resolve_spec(generator) if expand else None)
    image_vectors = None
    if image is not None and engine.concepts.list():
        image_vectors = engine.encoder(Signal.IMAGE).encode_images([image])
    matched = engine.concepts.match([question], image_vectors)
    run.concepts = [c.name for c in matched]
    facts = [c.facts() for c in matched]
    if hits:
        from polyseek.rag.extractive import load_cross_encoder

        candidates = score_candidates(question, hits, load_cross_encoder())
        if model_rerank:
            from polyseek.rag.model_rerank import model_rerank as rerank_with_model

            candidates = rerank_with_model(gen, question, candidates)
        chosen = select_adaptive(candidates, max_items=budget) if adaptive else select_fixed(candidates, budget)
        run.blocks = fit_blocks(chosen, gen, question, facts)
    else:
        fit_blocks([], gen, question, facts)  # still refuse a question that cannot fit
    yield {"type": "context", "citations": [Citation.from_hit(b.hit, b.number).to_dict() for b in run.blocks],
           "concepts": run.concepts}
    if not run.blocks:
        pieces: Iterator[str] = iter([NO_CONTEXT])
    else:
        pieces = gen.stream(question, run.blocks, facts)
    renumber = StreamRenumberer({b.number for b in run.blocks})  # [1], [2], [3]… in order of first use
    for piece in pieces:
        if not isinstance(piece, str):
            raise InvalidInputError(f"generator {gen.name} produced {type(piece).__name__}, not text")
        shown = renumber.feed(piece)
        run.text += shown
        if shown:
            yield {"type": "token", "text": shown}
    if tail := renumber.flush():
        run.text += tail
        yield {"type": "token", "text": tail}
    text, citations = finish(run.text, renumber.blocks(run.blocks))
    run.answer = Answer(answer=text, citations=citations, context=[b.hit for b in run.blocks], generator=gen.name,
                        concepts=run.concepts)
    yield {"type": "done", **run.answer.to_dict()}


def ask_stream(engine: Engine, question: str, *, image: Any = None, k: int | None = None, generator: str | None = None,
               adaptive: bool = True, model_rerank: bool = False, expand: bool = False,
               _run: AskRun | None = None) -> Iterator[dict[str, Any]]:
    """Events ``context`` → ``token``… → ``done``; any polyseek error becomes a final ``error`` event."""
    run = _run or AskRun(question=question)
    try:
        yield from _events(engine, run, image=image, k=k, generator=generator, adaptive=adaptive, model_rerank=model_rerank,
                           expand=expand)
    except PolyseekError as exc:
        run.error = exc
        yield {"type": "error", "code": exc.code, "message": str(exc)}


def ask(engine: Engine, question: str, **options: Any) -> Answer:
    """The whole answer at once; raises the error an ``error`` event would carry."""
    run = AskRun(question=question)
    for _event in ask_stream(engine, question, _run=run, **options):
        pass
    if run.error is not None:
        raise run.error
    assert run.answer is not None
    return run.answer
