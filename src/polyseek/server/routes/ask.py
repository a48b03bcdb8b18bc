"""``POST /api/ask``: a grounded answer with citations, streamed as server-sent events (or one JSON object)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from polyseek.errors import PolyseekError
from polyseek.server import bodies
from polyseek.server.deps import AskBody, EngineDep, SettingsDep, StateDep, UploadsDep
from polyseek.server.uploads import one_image

router = APIRouter(tags=["ask"])
log = logging.getLogger(__name__)
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event; its name is the event's ``type`` (context, token, done, error)."""
    return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event, ensure_ascii=False, default=str)}\n\n".encode()


def ask_events(engine: Any, kwargs: dict[str, Any]) -> Iterator[bytes]:
    """Engine events as SSE; failures become an ``error`` event (the HTTP status is already sent)."""
    try:
        yield b": polyseek answer stream\n\n"  # opens the stream at once, before retrieval and generation start
        for event in engine.ask_stream(**kwargs):
            yield sse(event)
    except PolyseekError as exc:
        yield sse({"type": "error", "code": exc.code, "message": exc.message})
    except Exception:  # noqa: BLE001 - never a trace to the client
        log.exception("ask stream failed")
        yield sse({"type": "error", "code": "internal_error", "message": "answering failed; see the server log"})


@router.post("/api/ask", summary="Ask a question; the answer cites indexed items",
             description="Default: text/event-stream with events `context` (citations), `token` (text), `done` "
                         "(answer + citations) or `error` (code + message). With `stream: false`: one JSON object "
                         '`{"answer", "citations": [{"id", "path", "locator", "modality", "snippet"}]}`.',
             openapi_extra=bodies.request_body(bodies.AskRequest, {"image": "optional image the question is about"}))
async def ask(body: AskBody, uploads: UploadsDep, state: StateDep, engine: EngineDep, settings: SettingsDep):
    image = await run_in_threadpool(one_image, uploads, state.decodes)
    kwargs: dict[str, Any] = {**settings.ask_options, "question": body.question, "image": image,
                              "k": body.k, "adaptive": body.adaptive}
    if not body.stream:
        answer = await run_in_threadpool(lambda: engine.ask(**kwargs))
        return answer.to_dict()
    return StreamingResponse(ask_events(engine, kwargs), media_type="text/event-stream", headers=SSE_HEADERS)
