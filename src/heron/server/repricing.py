"""Re-pricing jobs: recompute stored costs of some models in the background, with progress.

A job is started by the API, the CLI (through the admin API) or the prices page after a
price is saved. Jobs run one at a time on one thread, chunk by chunk beside ingest
(:meth:`heron.store.Store.reprice`); their progress is kept in memory (the last
:data:`KEEP` jobs), polled by ``GET /api/models/reprice/{id}``. A job lost with a restart
can simply be started again: re-pricing is idempotent.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from heron.errors import BadRequest
from heron.ingest.costing import cost_function, project_book
from heron.store import Store

log = logging.getLogger("heron.repricing")
KEEP = 50
MAX_MODELS = 100


@dataclass
class RepriceJob:
    id: str
    project_id: str
    models: list[str]
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Repricer:
    """The queue of re-pricing jobs and the one thread that runs them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._jobs: dict[str, RepriceJob] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[RepriceJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, project_id: str, models: list[str]) -> RepriceJob:
        """Queue a job re-pricing the project's observations of ``models``."""
        names = sorted({m for m in models if isinstance(m, str) and m.strip()})
        if not names:
            raise BadRequest("models: give at least one model name")
        if len(names) > MAX_MODELS:
            raise BadRequest(f"models: at most {MAX_MODELS} model names per job")
        job = RepriceJob(secrets.token_hex(8), project_id, names)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].status in ("queued", "running"):
                    break
                del self._jobs[oldest]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="heron-reprice", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, project_id: str, job_id: str) -> RepriceJob | None:
        """The project's job with this id (another project's job is not found)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.project_id == project_id else None

    def jobs(self, project_id: str) -> list[RepriceJob]:
        """The project's jobs, newest first."""
        with self._lock:
            return [j for j in reversed(self._jobs.values()) if j.project_id == project_id]

    def wait(self, job: RepriceJob, timeout_s: float = 60) -> bool:
        """Block until ``job`` ends (tests and the direct CLI); True if it did."""
        deadline = time.monotonic() + timeout_s
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.02)
        return job.status not in ("queued", "running")

    def stop(self) -> None:
        """End the job under way after its current chunk (committed chunks stay: a job
        started again finishes the work), drop the queued ones; the store closes after."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            run_job(self._store, job, self._stopping)


class _Stopped(Exception):
    pass


def run_job(store: Store, job: RepriceJob, stopping: threading.Event | None = None) -> None:
    """Run one job to its end, recording progress and the outcome on it."""
    if stopping is not None and stopping.is_set():
        job.status, job.error, job.finished_at = "failed", "the server stopped", time.time()
        return
    job.status = "running"

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total
        if stopping is not None and stopping.is_set():
            raise _Stopped

    try:
        price = cost_function(project_book(store, job.project_id))
        store.reprice(job.project_id, job.models, price, progress)
        job.status = "done"
    except _Stopped:
        job.status, job.error = "failed", "the server stopped; start the job again"
    except Exception as exc:  # recorded on the job; the thread goes on with the next
        log.exception("re-pricing job %s failed", job.id)
        job.status, job.error = "failed", str(exc) or type(exc).__name__
    finally:
        job.finished_at = time.time()
