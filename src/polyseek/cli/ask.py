"""``polyseek ask``: a grounded answer with citations, streamed as it is written."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from polyseek.cli.common import ImageEncoderOption, StoreOption, TextEncoderOption, make_engine, print_json

console = Console(stderr=True)
GENERATOR_HELP = ("Answer backend: extractive (default, no LLM), openai:<model>@<base_url> (key from $POLYSEEK_API_KEY "
                  "or $OPENAI_API_KEY), llama-cpp:<file.gguf> or llama-cpp:gemma. Default: $POLYSEEK_GENERATOR or extractive.")


def ask(
    question: list[str] = typer.Argument(..., help="The question, e.g. polyseek ask when was the hotel invoice paid"),
    image: Optional[Path] = typer.Option(None, "--image", "-i", help="An image to ask about (joins the retrieval query)."),
    k: Optional[int] = typer.Option(None, "--k", "-k", min=1, max=100, help="Most context items (adaptive) or exactly k (--fixed)."),
    generator: Optional[str] = typer.Option(None, "--generator", "-g", help=GENERATOR_HELP, envvar="POLYSEEK_GENERATOR"),
    fixed: bool = typer.Option(False, "--fixed", help="Use the top k context items instead of adaptive selection."),
    model_rerank: bool = typer.Option(False, "--model-rerank", help="Let the generator model judge the top candidates' relevance first."),
    expand: bool = typer.Option(False, "--expand", help="Let the generator model rewrite the question into more search queries "
                                "(needs a model generator; docs/ask.md has what it measured)."),
    store: Optional[str] = StoreOption,
    image_encoder: Optional[str] = ImageEncoderOption,
    text_encoder: Optional[str] = TextEncoderOption,
    as_json: bool = typer.Option(False, "--json", help='Print one JSON object {"answer": ..., "citations": [...]} at the end.'),
    events: bool = typer.Option(False, "--events", help="Print each streaming event as one JSON line (context, token, done, error)."),
) -> None:
    """Answer a question from the index, citing files with page, region or time span."""
    from polyseek.errors import GeneratorError, InvalidInputError, PolyseekError

    text = " ".join(question)
    engine = make_engine(store, image_encoder, text_encoder, read_only=True)
    try:
        stream = engine.ask_stream(text, image=str(image) if image else None, k=k, generator=generator,
                                   adaptive=not fixed, model_rerank=model_rerank, expand=expand)
        streaming = not as_json and not events
        done = None
        for event in stream:
            if events:
                print_json(event)
            if event["type"] == "token" and streaming:
                sys.stdout.write(event["text"])
                sys.stdout.flush()
            elif event["type"] == "done":
                done = event
            elif event["type"] == "error":
                if events:
                    raise typer.Exit(1)
                error_class = {"invalid_input": InvalidInputError, "context_too_long": InvalidInputError}.get(event["code"], GeneratorError)
                error: PolyseekError = error_class(event["message"])
                error.code = event["code"]
                raise error
        if done is None or events:
            return
        if as_json:
            print_json({key: done[key] for key in ("answer", "citations", "generator", "concepts", "context")})
            return
        sys.stdout.write("\n")
        if not str(done.get("answer") or "").strip():  # a model that wrote nothing usable: say so, show what it read
            print_no_answer(done)
            return
        print_citations(done["citations"])
    finally:
        engine.close()


def print_no_answer(done: dict) -> None:
    """An empty answer is never printed as a blank: the generator is named and the sources it was given listed."""
    Console(highlight=False).print(f"(no answer: {done.get('generator') or 'the generator'} wrote nothing usable for "
                                   "this question; the sources it was given are below — try another generator with -g)")
    print_citations([{**block, "number": number} for number, block in enumerate(done.get("context") or [], start=1)])


def print_citations(citations: list[dict]) -> None:
    from polyseek.types import Locator

    out = Console(highlight=False)
    if not citations:
        return
    out.print()
    for citation in citations:
        where = Locator.from_dict(citation["locator"]).describe()
        out.print(f"[bold][{citation['number']}][/bold] {citation['path']}" + (f"  {where}" if where else "")
                  + f"  ({citation['modality']})")


def register(app: typer.Typer) -> None:
    app.command()(ask)
