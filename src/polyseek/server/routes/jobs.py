"""Index jobs on folders inside the configured roots, with progress as JSON or server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from polyseek.server import bodies
from polyseek.server.app import get_state
from polyseek.server.jobs import FINISHED, JobManager
from polyseek.server.routes.ask import SSE_HEADERS

router = APIRouter(tags=["index"])
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0


@router.get("/api/roots", summary="Folders that index jobs may read")
def roots(request: Request) -> dict:
    return {"roots": get_state(request).policy.describe()}


@router.post("/api/index/jobs", status_code=202, summary="Start indexing a folder or file inside a root",
             openapi_extra=bodies.request_body(bodies.JobRequest))
async def start_job(request: Request) -> JSONResponse:
    body, _ = await bodies.read_body(request, bodies.JobRequest)
    jobs = get_state(request).jobs
    job = await run_in_threadpool(jobs.start, body.path, body.root)
    return JSONResponse(job.to_dict(), status_code=202, headers={"location": f"/api/index/jobs/{job.id}"})


@router.get("/api/index/jobs", summary="Recent index jobs, newest first")
def list_jobs(request: Request) -> dict:
    return {"jobs": [job.to_dict() for job in get_state(request).jobs.list()]}


@router.get("/api/index/jobs/{job_id}", summary="One job's state and progress")
def get_job(job_id: str, request: Request) -> dict:
    return get_state(request).jobs.get(job_id).to_dict()


@router.delete("/api/index/jobs/{job_id}", summary="Cancel a queued or running job (files done so far stay indexed)")
def cancel_job(job_id: str, request: Request) -> dict:
    return get_state(request).jobs.cancel(job_id).to_dict()


async def progress_events(jobs: JobManager, job_id: str) -> AsyncIterator[bytes]:
    """Starlette cancels this generator when the client goes away."""
    seen = -1
    quiet = 0.0
    while True:
        job = jobs.get(job_id)
        if job.version != seen:
            seen = job.version
            quiet = 0.0
            event = "end" if job.state in FINISHED else "progress"
            yield f"event: {event}\ndata: {json.dumps(job.to_dict(), default=str)}\n\n".encode()
            if job.state in FINISHED:
                return
        elif quiet >= HEARTBEAT_SECONDS:  # keeps proxies from closing an idle stream
            quiet = 0.0
            yield b": heartbeat\n\n"
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS


@router.get("/api/index/jobs/{job_id}/events", summary="Progress as server-sent events (`progress` ..., then `end`)",
            response_class=StreamingResponse)
def job_events(job_id: str, request: Request) -> StreamingResponse:
    jobs = get_state(request).jobs
    jobs.get(job_id)  # 404 before the stream opens
    return StreamingResponse(progress_events(jobs, job_id), media_type="text/event-stream", headers=SSE_HEADERS)
