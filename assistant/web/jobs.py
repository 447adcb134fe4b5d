"""Long work started from a page (an ingest of uploaded files, a related-work draft): each job
runs in a thread of its own, with its own handle on the index, so the page keeps answering;
the page polls its progress and may cancel it.

A job's thread opens the index itself (SQLite connections belong to the thread that opened
them); the index guards its own ingest lock and the library-thread's index reads what the job
committed on its next call, as a second ``assistant`` process would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["running", "done", "failed", "cancelled"]

#: Finished jobs kept for the page to read, oldest dropped first.
KEPT_JOBS = 50


class JobCancelled(Exception):  # noqa: N818 - read as "the job was cancelled"
    """Raised inside a job's progress callback once cancel was asked: the library stops between
    two steps, keeping what it had committed (as after Ctrl-C)."""


@dataclass
class Job:
    id: str
    kind: str
    title: str
    state: State = "running"
    done: int = 0
    total: int = 0
    message: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, str | None] | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancel_asked: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        """The library's progress callback: records it, and stops the work once cancelled."""
        if self.cancel_asked.is_set():
            raise JobCancelled
        self.done, self.total = done, total

    def public_json(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.monotonic()
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "seconds": round(end - self.started, 1),
            "result": self.result,
            "error": self.error,
        }


Work = Callable[[Job], dict[str, Any]]


class JobRegistry:
    """The jobs of this server, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, title: str, work: Work) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, title=title)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.finished is not None]
            for old in finished[: max(0, len(finished) - KEPT_JOBS)]:
                del self._jobs[old.id]
        threading.Thread(
            target=self._run, args=(job, work), name=f"assistant-job-{job.id}", daemon=True
        ).start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        from assistant.errors import AssistantError

        try:
            result = work(job)
        except JobCancelled:
            job.state, job.message = "cancelled", "Cancelled: what was committed before stays."
        except AssistantError as exc:
            job.state, job.error = "failed", {"message": exc.message, "hint": exc.hint}
        except Exception as exc:  # noqa: BLE001 - a job's failure is shown, never a traceback
            job.state = "failed"
            job.error = {"message": f"Unexpected error: {type(exc).__name__}: {exc}", "hint": None}
        else:  # a cancel that came after its last step is too late: the work is done
            job.state, job.result = "done", result
        job.finished = time.monotonic()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def listed(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if kind is None or j.kind == kind]

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.state == "running":
            job.cancel_asked.set()
        return job
