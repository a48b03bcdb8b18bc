"""Engine.ask / ask_stream end to end on the deterministic encoders with the real cross-encoder."""

from __future__ import annotations

import pytest

from polyseek.errors import CorruptFileError, InvalidInputError
from polyseek.rag.base import Answer, ContextTooLongError, GeneratorUnreachableError


def index_state(engine):
    return engine.store.count(), {k: (v.hash, v.items) for k, v in engine.catalog.files().items()}


def test_extractive_answer_cites_items_that_resolve_to_locators(asker):
    answer = asker.ask("When was the hotel invoice paid?")
    assert isinstance(answer, Answer) and answer.generator == "extractive"
    assert answer.answer.startswith("The invoice for the hotel was paid on 12 March 2024 by bank transfer [1]")
    assert answer.citations and {c.number for c in answer.citations} <= {1, 2, 3, 4, 5, 6, 7, 8}
    for citation in answer.citations:
        item = asker.get(citation.id)
        assert item.path == citation.path and item.locator.to_dict() == citation.locator
        assert citation.locator["line_start"] >= 1 and citation.snippet in item.text
    contract = answer.to_dict()
    assert set(contract) >= {"answer", "citations"}
    assert set(contract["citations"][0]) >= {"id", "path", "locator"}


def test_stream_events_in_order(asker):
    events = list(asker.ask_stream("How much did dinner cost?", k=3))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "context" and kinds[-1] == "done" and set(kinds[1:-1]) == {"token"}
    assert "".join(e["text"] for e in events if e["type"] == "token").startswith("Dinner cost 45 euros")
    done = events[-1]
    assert "Dinner cost 45 euros" in done["answer"] and done["citations"][0]["path"].endswith("trip.md")
    assert {c["id"] for c in done["citations"]} <= {c["id"] for c in events[0]["citations"]}


def test_fixed_and_adaptive_selection_differ_in_size(asker):
    adaptive = asker.ask("Who ate the lettuce in May?", k=8)
    fixed = asker.ask("Who ate the lettuce in May?", k=2, adaptive=False)
    assert len(fixed.context) == 2
    assert adaptive.context[0].item.path.endswith("garden.md")
    assert "Slugs ate half of the lettuce" in adaptive.answer


@pytest.mark.parametrize("question, kwargs, error, message", [
    ("", {}, InvalidInputError, "empty question"),
    ("fine?", {"k": 0}, InvalidInputError, "k must be"),
    ("x " * 3000, {}, ContextTooLongError, "over the limit"),
    ("fine?", {"generator": "nonsense"}, InvalidInputError, "unknown generator"),
    ("fine?", {"generator": "llama-cpp:/nowhere/model.gguf"}, InvalidInputError, "not found"),
    ("fine?", {"image": b"not an image"}, CorruptFileError, "not an image"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(asker, question, kwargs, error, message):
    before = index_state(asker)
    with pytest.raises(error, match=message):
        asker.ask(question, **kwargs)
    events = list(asker.ask_stream(question, **kwargs))
    assert events[-1]["type"] == "error" and events[-1]["code"] == error.code and message.split()[0] in events[-1]["message"]
    assert index_state(asker) == before


def test_configured_endpoint_streams_and_unknown_markers_are_dropped(asker, scripted_server):
    base, requests = scripted_server
    events = list(asker.ask_stream("When was the hotel invoice paid?", generator=f"openai:good@{base}"))
    assert [e["type"] for e in events].count("token") == 2
    done = events[-1]
    assert done["answer"] == "The hotel invoice was paid on 12 March 2024 [1]. It was paid by bank transfer [1]."
    assert [c["number"] for c in done["citations"]] == [1] and done["citations"][0]["path"].endswith("trip.md")
    assert "12 March 2024" in requests[-1]["messages"][1]["content"]


def test_endpoint_failures_surface_as_error_events(asker, scripted_server):
    base, _ = scripted_server
    before = index_state(asker)
    for spec, code in [(f"openai:malformed@{base}", "generator_bad_response"), (f"openai:slow@{base}?timeout=1", "generator_timeout"),
                       ("openai:m@http://127.0.0.1:9/v1", "generator_unreachable")]:
        events = list(asker.ask_stream("When was the invoice paid?", generator=spec))
        assert events[0]["type"] == "context" and events[-1]["type"] == "error" and events[-1]["code"] == code
    with pytest.raises(GeneratorUnreachableError):
        asker.ask("When was the invoice paid?", generator="openai:m@http://127.0.0.1:9/v1")
    assert index_state(asker) == before


def test_context_is_trimmed_to_the_window_and_an_unfittable_question_refused(asker, scripted_server):
    base, requests = scripted_server
    asker.ask("When was the hotel invoice paid?", generator=f"openai:good@{base}?window=900")
    prompt = requests[-1]["messages"][1]["content"]
    assert len(prompt) < (900 - 512) * 3.5 + 400
    with pytest.raises(ContextTooLongError, match="context window"):
        asker.ask("When was it paid? " * 60, generator=f"openai:good@{base}?window=900")


def test_model_rerank_needs_a_model_and_runs_with_one(asker, scripted_server):
    base, requests = scripted_server
    with pytest.raises(InvalidInputError, match="cannot judge"):
        asker.ask("When was the invoice paid?", model_rerank=True)
    answer = asker.ask("When was the invoice paid?", generator=f"openai:good@{base}", model_rerank=True)
    judged = [r for r in requests if not r["stream"]]
    assert judged and "Relevance digit" in judged[0]["messages"][1]["content"]
    assert answer.context[0].scores["model_judge"] == 7.0


def test_empty_index_answers_without_calling_the_model(engine_factory, scripted_server):
    base, requests = scripted_server
    answer = engine_factory().ask("anything?", generator=f"openai:good@{base}")
    assert answer.citations == [] and "Nothing in the indexed files" in answer.answer and requests == []


def test_page_renders_go_to_a_vision_model_as_images(engine_factory, tmp_path, scripted_server):
    from tests.ingest._pdf import report_page, text_page, write_pdf

    base, requests = scripted_server
    folder = tmp_path / "pdfs"
    folder.mkdir()
    write_pdf(folder / "report.pdf", [text_page(1), report_page()])
    engine = engine_factory()
    engine.index([folder])
    answer = engine.ask("Which region led revenue growth?", generator=f"openai:good@{base}?vision=yes", k=3)
    parts = requests[-1]["messages"][1]["content"]
    kinds = [p["type"] for p in parts]
    assert "image_url" in kinds and kinds.count("image_url") == sum(1 for h in answer.context if h.item.locator.page)
    assert {c.locator["page"] for c in answer.citations} <= {1, 2}
    assert all(c.path.endswith("report.pdf") for c in answer.citations)
    extractive = engine.ask("Which region led revenue growth?")
    assert "Europe" in extractive.answer and extractive.citations[0].locator["page"] == 2
