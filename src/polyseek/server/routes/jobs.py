"""Index jobs on folders inside the configured roots, with progress as JSON or server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from polyseek.server import bodies
from polyseek.server.deps import JobBody, StateDep
from polyseek.server.jobs import FINISHED, JobManager
from polyseek.server.routes.ask import SSE_HEADERS

router = APIRouter(tags=["index"])
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0


@router.get("/api/roots", summary="Folders that index jobs may read")
def roots(state: StateDep) -> dict:
    return {"roots": state.policy.describe()}


@router.post("/api/index/jobs", status_code=202, summary="Start indexing a folder or file inside a root",
             openapi_extra=bodies.request_body(bodies.JobRequest))
async def start_job(body: JobBody, state: StateDep) -> JSONResponse:
    job = await run_in_threadpool(state.jobs.start, body.path, body.root)
    return JSONResponse(job.to_dict(), status_code=202, headers={"location": f"/api/index/jobs/{job.id}"})


@router.get("/api/index/jobs", summary="Recent index jobs, newest first")
def list_jobs(state: StateDep) -> dict:
    return {"jobs": [job.to_dict() for job in state.jobs.list()]}


@router.get("/api/index/jobs/{job_id}", summary="One job's state and progress")
def get_job(job_id: str, state: StateDep) -> dict:
    return state.jobs.get(job_id).to_dict()


@router.delete("/api/index/jobs/{job_id}", summary="Cancel a queued or running job (files done so far stay indexed)")
def cancel_job(job_id: str, state: StateDep) -> dict:
    return state.jobs.cancel(job_id).to_dict()


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
def job_events(job_id: str, state: StateDep) -> StreamingResponse:
    jobs = state.jobs
    jobs.get(job_id)  # 404 before the stream opens
    return StreamingResponse(progress_events(jobs, job_id), media_type="text/event-stream", headers=SSE_HEADERS)
