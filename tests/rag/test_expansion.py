"""Query expansion (``--expand``): the generator's rewrites are searched and fused; a local fake rewriter for the
plumbing, a local HTTP server speaking the chat-completions API for the OpenAI-compatible contract, and the real
Gemma model in a slow test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from polyseek.errors import InvalidInputError
from polyseek.rag.expansion import parse_rewrites
from polyseek.search.policies.expansion import combmax
from polyseek.types import Signal

REWRITES = {"lodging expenses": "hotel invoice paid\nbank transfer for the hotel"}
NOTES = {"hotel.md": "Hotel invoice paid by bank transfer.", "garden.md": "Tomatoes planted along the south wall.",
         "slugs.md": "Slugs ate lettuce in May.", "dog.md": "Rex chased seagulls on the beach.",
         "fuel.md": "Fuel came to 84 euros.", "dinner.md": "Dinner at the harbour restaurant."}
CALLS: list[str] = []


class FakeRewriter:
    """A generator with a ``chat`` method that rewrites known queries (``tests.rag.test_expansion:FakeRewriter``)."""

    name = "fake-rewriter"
    accepts_images = False
    context_window = 4096

    def chat(self, messages, max_tokens=None):
        query = messages[-1]["content"].split("Query: ", 1)[1].split("\n", 1)[0]
        CALLS.append(query)
        yield REWRITES.get(query, "")

    def stream(self, question, blocks, facts=()):
        yield "unused"


def top_path(hits) -> str:
    return Path(hits[0].item.path).name


@pytest.fixture
def notes_engine(tmp_path: Path, engine_factory):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text + "\n")
    engine = engine_factory()
    engine.index([folder])
    return engine


def test_parse_rewrites_strips_markers_duplicates_and_the_original():
    reply = '1. "hotel invoice"\n- Query: bank transfer\n\nmoney for the room\nhotel invoice\n' + "x" * 300 + "\n3) receipts"
    assert parse_rewrites(reply, "Money for the room", n=3) == ["hotel invoice", "bank transfer", "receipts"]
    assert parse_rewrites("", "anything") == []
    # what Gemma-3-270M (a base model) wrote on MMLongBench-Doc: template tokens, URLs, the prompt echoed back
    echoed = "<<SYS>>\n<</SYS>> Query: How many charts are there?\n<URI>http://www.google.com/search?q=charts\n[/INST] <<SYS"
    assert parse_rewrites(echoed, "How many charts are there?") == []
    assert parse_rewrites("<SYS> count of charts in the report", "How many charts?") == ["count of charts in the report"]


def test_combmax_keeps_each_items_best_score():
    assert combmax([[("a", 0.2)], [("b", 0.9), ("a", 0.5)]]) == [("b", 0.9), ("a", 0.5)]


def test_expansion_finds_what_the_literal_query_misses(notes_engine):
    engine = notes_engine
    CALLS.clear()
    plain = engine.search("lodging expenses", k=6)
    spec = "tests.rag.test_expansion:FakeRewriter"
    config = engine.with_config(expand=True, expand_generator=spec)
    trace = engine.trace("lodging expenses", k=6, config=config)
    assert top_path(trace.hits) == "hotel.md"
    before = {top_path([h]): h.scores.get("text", 0.0) for h in plain}
    assert before.get("hotel.md", 0.0) < 0.05  # the literal words are in no note: found by chance, if at all
    assert trace.hits[0].scores["text"] > 0.3 and "lexical" in trace.hits[0].scores
    assert trace.state["expansion.queries"] == ["hotel invoice paid", "bank transfer for the hotel"]
    assert Signal.LEXICAL in trace.lists  # the rewrites' words found the note lexically too
    engine.search("lodging expenses", k=3, config=config)
    assert CALLS == ["lodging expenses"]  # the second search reuses the cached rewrite
    assert top_path(engine.search("slugs lettuce", k=1, config=config)) == "slugs.md"  # no rewrite: as before


def test_expansion_is_off_by_default_and_refuses_a_generator_that_cannot_rewrite(notes_engine):
    CALLS.clear()
    notes_engine.search("lodging expenses", k=3)
    assert CALLS == [] and notes_engine.config.expand is False
    with pytest.raises(InvalidInputError, match="needs a model generator"):
        notes_engine.search("lodging expenses", config=notes_engine.with_config(expand=True, expand_generator="extractive"))


class ChatHandler(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible chat-completions server: it streams rewrites of the query it is sent."""

    requests: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, **body})
        query = body["messages"][-1]["content"].split("Query: ", 1)[1].split("\n", 1)[0]
        reply = REWRITES.get(query, "")
        chunks = [reply[: len(reply) // 2], reply[len(reply) // 2:]]
        stream = "".join("data: " + json.dumps({"choices": [{"delta": {"content": c}}]}) + "\n\n" for c in chunks)
        payload = (stream + "data: [DONE]\n\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def chat_server():
    ChatHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", ChatHandler.requests
    server.shutdown()
    server.server_close()


def test_openai_compatible_endpoint_rewrites_for_search_from_the_cli(notes_engine, chat_server):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    url, requests = chat_server
    store = notes_engine.store_uri
    notes_engine.close()
    result = CliRunner().invoke(app, ["search", "lodging expenses", "--store", store, "--expand", "-g",
                                      f"openai:rewriter@{url}", "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert Path(hits[0]["path"]).name == "hotel.md"
    request = requests[0]
    assert request["path"] == "/v1/chat/completions" and request["model"] == "rewriter"
    assert request["stream"] is True and request["temperature"] == 0 and request["max_tokens"] == 96
    assert request["messages"][0]["role"] == "system" and "Query: lodging expenses" in request["messages"][1]["content"]


def test_cli_says_in_one_line_that_expansion_needs_a_model(notes_engine, capsys):
    from polyseek.cli.app import main

    store = notes_engine.store_uri
    notes_engine.close()
    with pytest.raises(SystemExit) as exit_:
        main(["search", "lodging", "--store", store, "--expand", "-g", "extractive"])
    err = capsys.readouterr().err
    assert exit_.value.code != 0 and "needs a model generator" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the message and its hint


@pytest.mark.slow
@pytest.mark.timeout(1800)  # seconds on 2 quiet cores; it ran past 600 s at load average 30
def test_gemma_rewrites_a_query(gemma_gguf, asker):
    from polyseek.rag.expansion import expander_for

    spec = "llama-cpp:gemma?window=512"  # the prompt is ~120 tokens: a small window loads faster
    rewrites = expander_for(spec)("when was the hotel invoice paid?")
    assert isinstance(rewrites, list) and len(rewrites) <= 3
    assert all(isinstance(r, str) and 0 < len(r) <= 200 for r in rewrites)
    hits = asker.search("when was the hotel invoice paid?", k=3,
                        config=asker.with_config(expand=True, expand_generator=spec))
    assert hits  # the search runs through whatever the small model wrote
