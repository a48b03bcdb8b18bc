"""Grounded answers: the Answer/Citation types, the Generator protocol, its registry and its errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from polyseek.errors import GeneratorError, InvalidInputError
from polyseek.registry import Registry
from polyseek.types import Hit

DEFAULT_GENERATOR = "extractive"
GENERATOR_ENV = "POLYSEEK_GENERATOR"


# ---- errors: each has a stable code that the stream's error event and the HTTP server carry ----
class GeneratorUnreachableError(GeneratorError):
    code = "generator_unreachable"


class GeneratorTimeoutError(GeneratorError):
    code = "generator_timeout"


class GeneratorResponseError(GeneratorError):
    """The endpoint answered, but with an HTTP error or a stream that does not follow the protocol."""

    code = "generator_bad_response"


class ContextTooLongError(InvalidInputError):
    """The question (with concept facts) does not fit the generator's context window even with no context."""

    code = "context_too_long"


# ---- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Citation:
    """Where a claim comes from: an indexed item and its locator (page and region, time span, lines)."""

    id: str
    path: str
    locator: dict[str, Any]
    modality: str
    snippet: str = ""
    number: int = 0  # the [n] marker used in the answer text

    @classmethod
    def from_hit(cls, hit: Hit, number: int, snippet: str | None = None) -> Citation:
        item = hit.item
        text = snippet if snippet is not None else " ".join(item.text.split())[:300]
        return cls(id=item.id, path=item.path, locator=item.locator.to_dict(), modality=item.modality.value,
                   snippet=text, number=number)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "locator": self.locator, "modality": self.modality,
                "snippet": self.snippet, "number": self.number}


@dataclass(frozen=True)
class Answer:
    """An answer whose claims carry ``[n]`` markers; ``citations`` resolve each ``n`` to an item and locator."""

    answer: str
    citations: list[Citation]
    context: list[Hit]
    generator: str
    concepts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON contract: ``{"answer": ..., "citations": [{"id", "path", "locator", ...}]}`` plus extras."""
        return {
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "generator": self.generator,
            "concepts": list(self.concepts),
            "context": [{"id": h.id, "path": h.item.path, "locator": h.item.locator.to_dict(),
                         "modality": h.item.modality.value, "score": float(h.score)} for h in self.context],
        }


@dataclass
class ContextBlock:
    """One numbered piece of context handed to a generator: the hit, its text, and its picture if it has one."""

    number: int
    hit: Hit
    text: str
    image: Any = None  # PIL.Image.Image of the image, page render, region crop or keyframe; loaded on demand
    relevance: float = 0.0

    @property
    def label(self) -> str:
        where = self.hit.item.locator.describe()
        name = self.hit.item.path.rsplit("/", 1)[-1]
        return f"[{self.number}] {name}" + (f", {where}" if where else "") + f" ({self.hit.item.modality.value})"


@runtime_checkable
class Generator(Protocol):
    """Writes an answer from numbered context blocks, streaming text pieces.

    ``accepts_images`` says whether blocks' pictures are sent to the model (as image parts) or only their text.
    ``context_window`` is in tokens; the pipeline trims the context to fit it.
    """

    name: str
    accepts_images: bool
    context_window: int

    def stream(self, question: str, blocks: Sequence[ContextBlock], facts: Sequence[str] = ()) -> Iterator[str]: ...


generators: Registry[Generator] = Registry(
    "generator",
    lazy={
        "extractive": "polyseek.rag.extractive",
        "openai": "polyseek.rag.openai_compat",
        "llama-cpp": "polyseek.rag.llamacpp",
    },
)

_cache: dict[str, Generator] = {}


def resolve_spec(spec: str | None) -> str:
    """The generator spec in force: ``spec``, else ``$POLYSEEK_GENERATOR``, else ``extractive``."""
    import os

    return (spec or os.environ.get(GENERATOR_ENV) or DEFAULT_GENERATOR).strip()


def load_generator(spec: str | None = None) -> Generator:
    """A generator from its spec: ``extractive``, ``openai:<model>@<base_url>``, ``llama-cpp:<path.gguf>``,
    ``llama-cpp:gemma``, or a dotted path ``package.module:Class``. Loaded generators are reused.

    >>> load_generator("extractive").name
    'extractive'
    """
    spec = resolve_spec(spec)
    if not spec:
        raise InvalidInputError("empty generator spec", hint=SPEC_HINT)
    if spec not in _cache:
        name, _, arg = spec.partition(":")
        if "." in name and arg[:1].isidentifier():  # dotted escape hatch
            _cache[spec] = generators.get(spec)()
        else:
            factory = generators.get(name)
            _cache[spec] = factory(arg) if arg else factory()
    return _cache[spec]


SPEC_HINT = ("accepted: extractive, openai:<model>@<base_url> (key from $POLYSEEK_API_KEY or $OPENAI_API_KEY), "
             "llama-cpp:<path.gguf>, llama-cpp:gemma")
