"""The generative path for real: llama-cpp-python's OpenAI-compatible server with the shipped Gemma-3-270M GGUF,
and the same model in process. A 270M base model: these check plumbing (streaming, citations, errors), not quality."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from polyseek.rag.base import load_generator

pytestmark = pytest.mark.slow


def test_ask_streams_from_a_real_openai_compatible_server(asker, llama_server):
    spec = f"openai:gemma@{llama_server}?max_tokens=48&window=1024"
    events = list(asker.ask_stream("When was the hotel invoice paid?", generator=spec, k=2))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "context" and kinds[-1] == "done", events[-1]
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert len(tokens) > 1 and "".join(tokens).strip()  # streamed in pieces
    done = events[-1]
    assert done["generator"] == spec.split("?")[0]
    context_ids = {c["id"] for c in events[0]["citations"]}
    for citation in done["citations"]:  # whatever the model cited (or was attributed) resolves to an item
        assert citation["id"] in context_ids
        assert asker.get(citation["id"]).locator.to_dict() == citation["locator"]


def test_model_rerank_and_a_context_too_long_for_the_server(asker, llama_server, notes):
    spec = f"openai:gemma@{llama_server}?max_tokens=16&window=1024"
    answer = asker.ask("How much was spent on fuel?", generator=spec, model_rerank=True, k=2)
    assert answer.context and all("model_judge" in hit.scores for hit in answer.context)
    # claim a window far larger than the server's: the server's own refusal must come back as a clear error
    (notes / "ledger.md").write_text("\n\n".join(f"Invoice {n} for the hotel was paid in March by bank transfer number {n * 7}."
                                                 for n in range(400)))
    asker.index([notes])
    before = asker.store.count()
    events = list(asker.ask_stream("Which invoice for the hotel was paid by bank transfer?", k=8, adaptive=False,
                                   generator=f"openai:gemma@{llama_server}?window=32000&max_tokens=8"))
    assert events[-1]["type"] == "error" and events[-1]["code"] == "context_too_long", events[-1]
    assert "context" in events[-1]["message"].lower()
    assert asker.store.count() == before


def test_local_llama_cpp_generator_in_process(asker, gemma_gguf):
    generator = load_generator("llama-cpp:gemma?max_tokens=24&window=1024")
    assert generator.accepts_images is False and generator.path == gemma_gguf
    events = list(asker.ask_stream("Who ate the lettuce?", generator="llama-cpp:gemma?max_tokens=24&window=1024", k=2))
    assert events[0]["type"] == "context" and events[-1]["type"] == "done", events[-1]
    assert sum(1 for e in events if e["type"] == "token") > 1


def test_loading_the_local_model_prints_nothing_on_stderr(gemma_gguf):
    """llama-cpp-python printed llama.cpp's warnings ("llama_kv_cache_iswa: using full-size SWA cache …") even with
    verbose=False; a user of `polyseek ask` saw them. A fresh process, so the model is really loaded here."""
    code = ("from polyseek.rag.llamacpp import LlamaCppGenerator\n"
            "g = LlamaCppGenerator('gemma?window=512&threads=1&max_tokens=4')\n"
            "print(''.join(g.chat([{'role': 'user', 'content': 'Say yes.'}])) is not None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert "llama" not in done.stderr, done.stderr


def test_a_base_model_is_prompted_as_plain_text_and_answers_from_the_context(gemma_gguf):
    """The GGUF has no chat template; llama.cpp's fallback (Llama 2's [INST] <<SYS>>) made Gemma echo the prompt."""
    from polyseek.rag.prompts import ANSWER_CUE, SYSTEM

    generator = load_generator("llama-cpp:gemma?max_tokens=40&window=1024")
    context = "Context:\n[1] facts.txt\nThe Eiffel Tower is 330 metres tall and stands in Paris. It opened in 1889."
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{context}\n\nQuestion: When did the Eiffel Tower open?\n{ANSWER_CUE}"}]
    answer = "".join(generator.chat(messages))
    assert "1889" in answer, answer
    assert not any(marker in answer for marker in ("[INST]", "<<SYS>>", "Question:", "[1] facts.txt")), answer
