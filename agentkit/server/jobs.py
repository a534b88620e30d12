"""Index jobs: queued, run one at a time on a worker thread, followed by polling or events."""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

__all__ = ["Job", "JobQueue"]

logger = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]


class Job(BaseModel):
    """One index job, as `GET /v1/jobs/{id}` shows it."""

    id: str
    kind: Literal["index"] = "index"
    path: str
    source: str = Field("", description="source id (known once the job starts)")
    state: JobState = "queued"
    fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of the file indexed")
    t: float = Field(0.0, description="seconds of the file indexed so far")
    duration: float | None = Field(None, description="length of the file, seconds, when known")
    n_records: int | None = None
    n_new: int | None = None
    error: str = ""
    created: float
    started: float | None = None
    finished: float | None = None
    version: int = Field(0, description="bumped on every change (what the event stream follows)")

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed")


class JobQueue:
    """Runs ``work(job, report)`` for each submitted job on one daemon thread, in order.

    ``report(t, duration)`` updates the job's progress. Jobs are kept in memory (the last
    ``keep`` of them); the store keeps what was indexed, so a restart loses only the job list.
    """

    def __init__(self, work: Callable[[Job, Callable[[float, float | None], None]], dict[str, Any]], *, keep: int = 200):
        self._work = work
        self._keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="agentkit-index", daemon=True)
        self._thread.start()

    def submit(self, path: Path, source: str = "", duration: float | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], path=str(path), source=source, duration=duration or None, created=time.time())
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.over]  # oldest first
            for old in finished[:max(0, len(self._jobs) - self._keep)]:
                del self._jobs[old]
        self._queue.put(job.id)
        return job.model_copy()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.model_copy()

    def list(self) -> list[Job]:
        with self._lock:
            return [j.model_copy() for j in self._jobs.values()]

    def busy(self) -> bool:
        with self._lock:
            return any(not j.over for j in self._jobs.values())

    def wait(self, job_id: str, version: int, timeout: float) -> Job | None:
        """The job once its version passes ``version`` (or after ``timeout`` s, as it is)."""
        with self._changed:
            self._changed.wait_for(lambda: job_id not in self._jobs or self._jobs[job_id].version > version, timeout)
            job = self._jobs.get(job_id)
            return None if job is None else job.model_copy()

    def close(self) -> None:
        self._queue.put(None)

    def _update(self, job_id: str, **values: Any) -> None:
        with self._changed:
            job = self._jobs[job_id]
            for key, value in values.items():
                setattr(job, key, value)
            job.version += 1
            self._changed.notify_all()

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            job = self.get(job_id)
            if job is None:
                continue
            self._update(job_id, state="running", started=time.time())
            last = [0.0]

            def report(t: float, duration: float | None = None) -> None:
                now = time.monotonic()
                if now - last[0] < 0.2:  # at most 5 updates a second reach the event streams
                    return
                last[0] = now
                duration = duration or job.duration
                fraction = min(1.0, float(t) / duration) if duration else 0.0
                self._update(job_id, t=float(t), duration=float(duration) if duration else None, fraction=fraction)

            try:
                result = self._work(job, report)
            except Exception as exc:  # noqa: BLE001 - a failed job says why; the server goes on
                logger.warning("index job %s (%s) failed: %s", job_id, job.path, exc)
                self._update(job_id, state="failed", error=str(exc) or type(exc).__name__, finished=time.time())
            else:
                self._update(job_id, state="done", fraction=1.0, finished=time.time(), **result)
