"""Index jobs: one background thread runs ``Engine.index`` on folders inside the roots, one job at a time."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyseek.errors import NotFoundError, PolyseekError
from polyseek.server.security import RootPolicy

log = logging.getLogger(__name__)
FINISHED = frozenset({"done", "failed", "cancelled"})


class JobCancelled(Exception):
    """Raised from the progress callback to stop a run; the catalog's journal keeps the index consistent."""


@dataclass
class Job:
    id: str
    target: str
    state: str = "queued"  # queued → running → done | failed | cancelled
    files_done: int = 0
    files_total: int = 0
    current: str = ""
    detail: str = ""
    summary: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    refused: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    version: int = 0  # bumped on every change so watchers can tell
    cancel_requested: bool = False

    def to_dict(self) -> dict[str, Any]:
        elapsed = ((self.finished or time.time()) - self.started) if self.started else 0.0
        return {
            "id": self.id, "target": self.target, "state": self.state,
            "files_done": self.files_done, "files_total": self.files_total,
            "current": self.current, "detail": self.detail, "summary": self.summary, "error": self.error,
            "refused": self.refused[:100], "created": self.created, "started": self.started,
            "finished": self.finished, "elapsed": round(elapsed, 3), "version": self.version,
        }


class JobManager:
    """Queue of index jobs with progress that HTTP handlers read; indexing stays serialised by the engine."""

    def __init__(self, engine: Any, policy: RootPolicy, keep: int = 50) -> None:
        self.engine = engine
        self.policy = policy
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None

    def start(self, path: str | None, root: int | None = None) -> Job:
        target = self.policy.resolve(path, root)
        with self._lock:
            job = Job(id=f"job-{next(self._ids)}", target=str(target))
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.state in FINISHED]
            for old in finished[: max(0, len(self._jobs) - self.keep)]:
                del self._jobs[old.id]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._worker, name="polyseek-index-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no index job {job_id!r}")
        return job

    def list(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def active(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state in {"queued", "running"})

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state not in FINISHED:
            job.cancel_requested = True
            self._bump(job)
        return job

    def close(self, wait: float = 15.0) -> None:
        """Cancel everything and wait a little for a running job to stop before the engine closes."""
        for job in self._jobs.values():
            job.cancel_requested = True
        self._queue.put(None)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(wait)

    # ---- worker ---------------------------------------------------------------------------------
    @staticmethod
    def _bump(job: Job, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(job, name, value)
        job.version += 1

    def _worker(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.cancel_requested:
                self._bump(job, state="cancelled", finished=time.time())
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        from polyseek.ingest.base import supported_extensions

        self._bump(job, state="running", started=time.time())
        target = Path(job.target)

        def on_progress(event: Any) -> None:
            if event.files_done < 0:  # inside one long file, called from an ingest thread: never raise here
                self._bump(job, current=event.path, detail=event.detail)
                return
            if job.cancel_requested:
                raise JobCancelled()
            if getattr(event, "stage", "") == "wait":  # another process holds the store's writer lock
                self._bump(job, detail=event.detail)
                return
            self._bump(job, files_done=event.files_done, files_total=event.files_total,
                       current=event.path or job.current, detail="")

        try:
            paths: list[Path | str] = [target]
            if target.is_dir():
                kept, refused = self.policy.confine(target, supported_extensions())
                if refused:  # a symlink inside the root points outside: index the rest file by file
                    job.refused = refused
                    paths = list(kept)
            summary = self.engine.index([str(p) for p in paths], on_progress=on_progress)
            # the state last: a reader on another thread never sees "done" without its summary
            self._bump(job, summary=summary.to_dict(), finished=time.time(), current="", detail="", state="done")
        except JobCancelled:
            self._bump(job, state="cancelled", finished=time.time())
        except PolyseekError as exc:
            self._bump(job, error={"code": exc.code, "message": exc.message}, finished=time.time(), state="failed")
        except Exception:  # noqa: BLE001 - the worker must outlive a bad job; details go to the log only
            log.exception("index job %s failed", job.id)
            self._bump(job, finished=time.time(),
                       error={"code": "internal_error", "message": "indexing failed; see the server log"}, state="failed")
