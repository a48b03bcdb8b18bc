"""Generator for any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio).

Spec: ``openai:<model>@<base_url>``, e.g. ``openai:gpt-4o-mini@https://api.openai.com/v1`` or
``openai:gemma@http://127.0.0.1:8080/v1``. Options follow ``?``: ``vision=auto|yes|no`` (send pictures as
image parts; ``auto`` tries and falls back to text when the server refuses images), ``timeout=SECONDS``,
``window=TOKENS`` (the model's context window), ``max_tokens=N``. The API key is read from
``$POLYSEEK_API_KEY`` or ``$OPENAI_API_KEY`` at request time and never stored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from polyseek.errors import InvalidInputError
from polyseek.rag.base import (
    SPEC_HINT,
    ContextBlock,
    GeneratorError,
    GeneratorResponseError,
    GeneratorTimeoutError,
    GeneratorUnreachableError,
    generators,
)
from polyseek.rag.prompts import answer_messages

log = logging.getLogger(__name__)
KEY_ENVS = ("POLYSEEK_API_KEY", "OPENAI_API_KEY")
_IMAGE_REFUSALS = ("image", "vision", "multimodal", "mmproj", "content type", "image_url")
_CONTEXT_REFUSALS = ("context length", "context window", "exceed", "too long", "maximum context", "n_ctx")


def parse_spec(arg: str) -> tuple[str, str, dict[str, str]]:
    """``model@base_url?opts`` → (model, base_url, options)."""
    model, at, rest = arg.partition("@")
    if not model or not at or not rest:
        raise InvalidInputError(f"bad openai generator spec 'openai:{arg}'", hint=SPEC_HINT)
    url, _, query = rest.partition("?")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidInputError(f"generator base URL must be http(s)://host[:port]/..., got {url!r}", hint=SPEC_HINT)
    options = dict(parse_qsl(query))
    unknown = set(options) - {"vision", "timeout", "window", "max_tokens"}
    if unknown:
        raise InvalidInputError(f"unknown generator option(s) {sorted(unknown)}", hint="accepted: vision, timeout, window, max_tokens")
    return model, url.rstrip("/"), options


def api_key() -> str | None:
    for name in KEY_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return None


class StreamEndedEarly(GeneratorResponseError):
    """The stream closed without ``data: [DONE]``: the server failed mid-answer (or before the first token)."""


def iter_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Decode an OpenAI server-sent-event stream into its JSON chunks; stops at ``[DONE]``.

    A ``data:`` line that is not JSON, or JSON that is not an object, raises :class:`GeneratorResponseError`;
    so does a stream that ends without ``[DONE]`` (:class:`StreamEndedEarly`).
    """
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
            continue
        if not line.startswith("data:"):
            raise GeneratorResponseError(f"malformed streaming line from the endpoint: {line[:200]!r}",
                                         hint="expected server-sent events ('data: {...}')")
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise GeneratorResponseError(f"malformed streaming chunk from the endpoint: {payload[:200]!r} ({exc.msg})") from None
        if not isinstance(chunk, dict):
            raise GeneratorResponseError(f"malformed streaming chunk from the endpoint: {payload[:200]!r} (not an object)")
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise GeneratorResponseError(f"the endpoint reported an error mid-stream: {message}")
        yield chunk
    raise StreamEndedEarly("the endpoint's stream ended before 'data: [DONE]' (the answer may be cut short)")


def chunk_text(chunk: dict[str, Any]) -> str:
    """The text of one chat-completion chunk (empty for role-only or final chunks)."""
    choices = chunk.get("choices")
    if choices is None:
        return ""
    if not isinstance(choices, list):
        raise GeneratorResponseError(f"malformed streaming chunk: 'choices' is {type(choices).__name__}, not a list")
    pieces = []
    for choice in choices:
        if not isinstance(choice, dict):
            raise GeneratorResponseError("malformed streaming chunk: a choice is not an object")
        delta = choice.get("delta") or choice.get("message") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if content is None and "text" in choice:  # completions-style servers
            content = choice["text"]
        if content is not None and not isinstance(content, str):
            raise GeneratorResponseError(f"malformed streaming chunk: content is {type(content).__name__}, not text")
        pieces.append(content or "")
    return "".join(pieces)


@generators.register("openai")
class OpenAICompatGenerator:
    """Streams chat completions over HTTP with httpx; sends pictures when the model takes them."""

    def __init__(self, arg: str = "") -> None:
        self.model, self.base_url, options = parse_spec(arg)
        self.name = f"openai:{self.model}@{self.base_url}"
        vision = options.get("vision", "auto").lower()
        if vision not in {"auto", "yes", "no"}:
            raise InvalidInputError(f"vision must be auto, yes or no, got {vision!r}")
        self.vision = vision
        self.accepts_images = vision != "no"
        try:
            self.timeout = float(options.get("timeout", 120))
            self.context_window = int(options.get("window", 8192))
            self.max_tokens = int(options.get("max_tokens", 512))
        except ValueError as exc:
            raise InvalidInputError(f"generator option is not a number: {exc}") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def chat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None, stream: bool = True) -> Iterator[str]:
        """Send one chat request and yield text pieces; every failure becomes a :class:`GeneratorError`."""
        import httpx

        body = {"model": self.model, "messages": messages, "stream": stream, "temperature": 0,
                "max_tokens": max_tokens or self.max_tokens}
        url = f"{self.base_url}/chat/completions"
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        try:
            with httpx.Client(timeout=timeout) as client, client.stream("POST", url, json=body, headers=self._headers()) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._http_error(response.status_code, response.text)
                if not stream:
                    response.read()
                    try:
                        payload = response.json()
                    except ValueError:
                        raise GeneratorResponseError(f"the endpoint at {url} did not return JSON: {response.text[:200]!r}") from None
                    if not isinstance(payload, dict):
                        raise GeneratorResponseError(f"the endpoint at {url} returned {type(payload).__name__}, not an object")
                    yield chunk_text(payload)
                    return
                produced = False
                try:
                    for chunk in iter_sse(response.iter_lines()):
                        text = chunk_text(chunk)
                        if text:
                            produced = True
                            yield text
                except StreamEndedEarly:
                    if produced:
                        raise
                    # some servers (llama-cpp-python) answer a refused prompt with an empty 200 stream:
                    # the same request without streaming returns the reason
                    for _ in self.chat(messages, max_tokens=1, stream=False):
                        pass
                    raise
        except httpx.TimeoutException as exc:
            raise GeneratorTimeoutError(f"the endpoint at {self.base_url} did not answer within {self.timeout:g} s ({type(exc).__name__})",
                                        hint="raise the timeout with ?timeout=SECONDS, or check the server's load") from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise GeneratorUnreachableError(f"cannot reach the generator endpoint at {self.base_url}: {exc}",
                                            hint="is the server running? check the URL in the spec openai:<model>@<base_url>") from None
        except httpx.HTTPError as exc:
            raise GeneratorUnreachableError(f"HTTP failure talking to {self.base_url}: {exc}") from None

    def _http_error(self, status: int, text: str) -> GeneratorError:
        try:
            detail = json.loads(text).get("error", text)
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except (ValueError, AttributeError):
            detail = text
        detail = str(detail)[:500]
        lowered = detail.lower()
        if status in (401, 403):
            return GeneratorResponseError(f"the endpoint refused the request ({status}): {detail}",
                                          hint="set the API key in $POLYSEEK_API_KEY or $OPENAI_API_KEY")
        if status == 400 and any(word in lowered for word in _CONTEXT_REFUSALS):
            error = GeneratorResponseError(f"the context is too long for the model ({status}): {detail}",
                                           hint="ask with a smaller --k, or set ?window= to the model's context size")
            error.code = "context_too_long"
            return error
        error = GeneratorResponseError(f"the endpoint answered HTTP {status}: {detail}")
        error.refused_images = status in (400, 415, 422, 500) and any(w in lowered for w in _IMAGE_REFUSALS)  # type: ignore[attr-defined]
        return error

    def stream(self, question: str, blocks: Sequence[ContextBlock], facts: Sequence[str] = ()) -> Iterator[str]:
        with_images = self.accepts_images and any(b.image is not None for b in blocks)
        messages = answer_messages(question, blocks, facts, with_images=with_images)
        produced = False
        try:
            for piece in self.chat(messages):
                produced = True
                yield piece
        except GeneratorResponseError as exc:
            # a text-only model behind "vision=auto": remember, and answer from the blocks' text instead
            if not (with_images and self.vision == "auto" and not produced and getattr(exc, "refused_images", False)):
                raise
            log.info("%s refused image parts (%s); falling back to text context", self.name, exc.message)
            self.accepts_images = False
            yield from self.chat(answer_messages(question, blocks, facts, with_images=False))

    def judge(self, messages: list[dict[str, Any]]) -> str:
        """One short non-streaming completion (used by the model reranker)."""
        return "".join(self.chat(messages, max_tokens=4, stream=False))


__all__ = ["OpenAICompatGenerator", "StreamEndedEarly", "iter_sse", "chunk_text", "parse_spec"]
