"""The OpenAI-compatible generator against local HTTP servers: streaming, image parts, and every failure mode."""

from __future__ import annotations

import socket

import pytest
from PIL import Image

from polyseek.errors import InvalidInputError
from polyseek.rag.base import (
    ContextBlock,
    GeneratorResponseError,
    GeneratorTimeoutError,
    GeneratorUnreachableError,
    load_generator,
)
from polyseek.rag.openai_compat import OpenAICompatGenerator, chunk_text, iter_sse
from polyseek.types import Hit, Item, Locator, Modality


def block(number=1, text="The hotel invoice was paid on 12 March 2024 by bank transfer.", image=None, modality=Modality.TEXT):
    item = Item(id=f"id{number}", path=f"/docs/file{number}.pdf", modality=modality, locator=Locator(page=number), text=text)
    return ContextBlock(number=number, hit=Hit(item=item, score=1.0), text=text, image=image)


def test_sse_parsing_contract():
    lines = ["", ": keep-alive", 'data: {"choices": [{"delta": {"role": "assistant"}}]}',
             'data: {"choices": [{"delta": {"content": "Hi"}}]}', "data: [DONE]", 'data: {"never": "read"}']
    assert [chunk_text(c) for c in iter_sse(iter(lines))] == ["", "Hi"]
    for bad, message in [("data: {oops", "malformed streaming chunk"), ("garbage line", "malformed streaming line"),
                         ("data: [1, 2]", "not an object"), ('data: {"error": {"message": "overloaded"}}', "overloaded")]:
        with pytest.raises(GeneratorResponseError, match=message):
            list(iter_sse(iter([bad])))
    with pytest.raises(GeneratorResponseError, match="content is int"):
        chunk_text({"choices": [{"delta": {"content": 3}}]})


def test_spec_validation_and_key_never_stored(monkeypatch):
    for spec in ["openai:", "openai:model", "openai:m@ftp://x", "openai:m@http://h/v1?vision=maybe", "openai:m@http://h/v1?colour=1"]:
        with pytest.raises(InvalidInputError):
            load_generator(spec)
    monkeypatch.setenv("POLYSEEK_API_KEY", "sk-secret-123")
    generator = OpenAICompatGenerator("gpt-x@https://api.example.com/v1?vision=no&timeout=5")
    assert (generator.model, generator.base_url, generator.accepts_images, generator.timeout) == ("gpt-x", "https://api.example.com/v1", False, 5.0)
    assert "sk-secret" not in repr(vars(generator)) and "sk-secret" not in generator.name


def test_streams_text_and_sends_key_from_environment(scripted_server, monkeypatch):
    base, requests = scripted_server
    monkeypatch.setenv("POLYSEEK_API_KEY", "sk-test")
    generator = OpenAICompatGenerator(f"good@{base}")
    pieces = list(generator.stream("When was the invoice paid?", [block()]))
    assert pieces == ["The hotel invoice was paid on 12 March 2024 [1].", " It was paid by bank transfer [9]."]
    assert requests[0]["stream"] is True and requests[0]["_auth"] == "Bearer sk-test"
    assert "12 March 2024" in requests[0]["messages"][1]["content"]  # text context as a plain string


def test_images_are_sent_as_image_parts_and_text_only_models_fall_back(scripted_server):
    base, requests = scripted_server
    page = block(modality=Modality.PAGE, image=Image.new("RGB", (300, 400), (250, 250, 250)))
    vision = OpenAICompatGenerator(f"good@{base}?vision=yes")
    assert "".join(vision.stream("q?", [page]))
    parts = requests[-1]["messages"][1]["content"]
    assert [p["type"] for p in parts].count("image_url") == 1
    assert parts[[p["type"] for p in parts].index("image_url")]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    auto = OpenAICompatGenerator(f"text-only@{base}")  # vision=auto: the 400 about images → retry with text
    assert "12 March 2024" in "".join(auto.stream("q?", [page]))
    assert auto.accepts_images is False and isinstance(requests[-1]["messages"][1]["content"], str)
    strict = OpenAICompatGenerator(f"text-only@{base}?vision=yes")  # told it takes images: the refusal is an error
    with pytest.raises(GeneratorResponseError, match="HTTP 400"):
        list(strict.stream("q?", [page]))


@pytest.mark.parametrize("model, error, message", [
    ("malformed", GeneratorResponseError, "malformed streaming chunk"),
    ("bad-choices", GeneratorResponseError, "'choices' is dict"),
    ("no-done", GeneratorResponseError, "ended before 'data: \\[DONE\\]'"),
    ("empty", GeneratorResponseError, "ended before"),
    ("auth", GeneratorResponseError, "refused the request \\(401\\)"),
    ("too-long", GeneratorResponseError, "context is too long"),
])
def test_bad_responses_are_clear_errors(scripted_server, model, error, message):
    base, _ = scripted_server
    with pytest.raises(error, match=message) as info:
        list(OpenAICompatGenerator(f"{model}@{base}").stream("q?", [block()]))
    if model == "too-long":
        assert info.value.code == "context_too_long"


def test_timeout_and_unreachable(scripted_server):
    base, _ = scripted_server
    with pytest.raises(GeneratorTimeoutError, match="within 1 s"):
        list(OpenAICompatGenerator(f"slow@{base}?timeout=1").stream("q?", [block()]))
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GeneratorUnreachableError, match="cannot reach") as info:
        list(OpenAICompatGenerator(f"good@http://127.0.0.1:{port}/v1").stream("q?", [block()]))
    assert info.value.code == "generator_unreachable"
