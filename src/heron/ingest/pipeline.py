"""The write pipeline: a bounded queue in front of one writer thread with group commit.

Request handlers call :meth:`WritePipeline.submit` and await it; it resolves only after the
batch is committed, so an acknowledged span survives a crash. The writer gathers whatever
requests arrive within a short window into one transaction, so concurrent clients share
commits. When more spans wait than the queue allows, ``submit`` raises
:class:`~heron.errors.Overloaded` at once (503 with Retry-After) instead of buffering.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from heron.errors import Overloaded
from heron.model import ObservationRecord, TraceUpdate
from heron.store import Store

log = logging.getLogger("heron.ingest")

_STOP = object()


@dataclass(slots=True)
class _Job:
    observations: list[ObservationRecord]
    traces: list[TraceUpdate]
    future: Future[None] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return max(len(self.observations), len(self.traces), 1)


@dataclass(slots=True)
class PipelineStats:
    """Counters for /metrics and benchmarks."""

    committed_spans: int = 0
    commits: int = 0
    rejected_requests: int = 0
    failed_commits: int = 0
    last_commit_ms: float = 0.0


class WritePipeline:
    def __init__(
        self,
        store: Store,
        *,
        max_queued_spans: int = 200_000,
        window_s: float = 0.004,
        max_batch_spans: int = 16_384,
    ) -> None:
        self.store = store
        self.max_queued_spans = max_queued_spans
        self.window_s = window_s
        self.max_batch_spans = max_batch_spans
        self.stats = PipelineStats()
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._queued = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def queued_spans(self) -> int:
        return self._queued

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heron-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def enqueue(self, observations: list[ObservationRecord], traces: list[TraceUpdate]) -> Future:
        """Queue a batch; the returned future resolves once it is committed."""
        job = _Job(observations, traces)
        with self._lock:
            if self._queued + job.size > self.max_queued_spans and self._queued > 0:
                self.stats.rejected_requests += 1
                raise Overloaded(
                    f"ingest queue is full ({self._queued} spans waiting); retry shortly",
                    retry_after=1,
                )
            self._queued += job.size
        self._queue.put(job)
        return job.future

    async def submit(
        self, observations: list[ObservationRecord], traces: list[TraceUpdate]
    ) -> None:
        await asyncio.wrap_future(self.enqueue(observations, traces))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            spans = jobs[0].size
            deadline = time.monotonic() + self.window_s
            while spans < self.max_batch_spans:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=timeout)
                        if timeout > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                jobs.append(item)  # type: ignore[arg-type]
                spans += item.size  # type: ignore[union-attr]
            self._commit(jobs)
        # drain whatever is left after a stop request
        rest: list[_Job] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)  # type: ignore[arg-type]
        if rest:
            self._commit(rest)

    def _commit(self, jobs: list[_Job]) -> None:
        observations = [o for j in jobs for o in j.observations]
        traces = [t for j in jobs for t in j.traces]
        started = time.perf_counter()
        try:
            self.store.write_batch(observations, traces)
        except Exception as exc:
            # One bad job must not fail its neighbours: retry each job alone.
            log.exception("group commit of %d jobs failed", len(jobs))
            if len(jobs) > 1:
                for job in jobs:
                    self._commit([job])
                return
            self.stats.failed_commits += 1
            self._release(jobs, exc)
            return
        self.stats.commits += 1
        self.stats.committed_spans += len(observations)
        self.stats.last_commit_ms = (time.perf_counter() - started) * 1000
        self._release(jobs, None)

    def _release(self, jobs: list[_Job], exc: BaseException | None) -> None:
        with self._lock:
            self._queued -= sum(j.size for j in jobs)
        for job in jobs:
            if exc is None:
                job.future.set_result(None)
            else:
                job.future.set_exception(exc)
