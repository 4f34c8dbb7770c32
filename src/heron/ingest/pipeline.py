"""The write pipeline: journal first, then the store.

::

    request ─► journal thread ─► fdatasync ─► 200 to the client
                    │ (group commit: every request of the same few ms, one fsync)
                    ▼
               apply thread ─► store.write_batch (one transaction per group, and the
                               journal position it reached, in the same transaction)

A request is answered once its spans are durable in the journal; the apply thread writes
them to the store moments later. A read that asks for consistency waits (briefly) for the
store to have applied everything acknowledged before it started
(:meth:`WritePipeline.caught_up`), so a client can read its own writes; other reads serve
what is applied and report the lag (:attr:`~WritePipeline.backlog`,
:attr:`~WritePipeline.lag_ms`). When more spans wait than the queue allows, ``submit`` raises
:class:`~heron.errors.Overloaded` at once (503 with Retry-After) instead of buffering.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from heron.errors import Overloaded
from heron.ingest.decoding import DecodedBatch
from heron.ingest.journal import Journal
from heron.ingest.stats import LatencyHistogram
from heron.store import Store

log = logging.getLogger("heron.ingest")

_STOP = object()
APPLIED_KEY = "journal_applied_seq"


@dataclass(slots=True)
class _Job:
    batch: DecodedBatch
    future: Future[None] = field(default_factory=Future)
    seq: int = 0

    @property
    def size(self) -> int:
        return self.batch.size


@dataclass(slots=True)
class PipelineStats:
    """Counters for /metrics and benchmarks."""

    journaled_spans: int = 0
    applied_spans: int = 0
    commits: int = 0
    rejected_requests: int = 0
    failed_commits: int = 0
    last_commit_ms: float = 0.0
    journal_seconds: LatencyHistogram = field(default_factory=LatencyHistogram)
    apply_seconds: LatencyHistogram = field(default_factory=LatencyHistogram)


class WritePipeline:
    def __init__(
        self,
        store: Store,
        journal: Journal,
        *,
        max_queued_spans: int = 200_000,
        window_s: float = 0.002,
        max_apply_spans: int = 16_384,
    ) -> None:
        self.store = store
        self.journal = journal
        self.max_queued_spans = max_queued_spans
        self.window_s = window_s
        self.max_apply_spans = max_apply_spans
        self.stats = PipelineStats()
        self._incoming: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._applying: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._queued = 0  # accepted spans not yet applied to the store
        self._lock = threading.Lock()
        self._applied_seq = 0
        self._acked_seq = 0
        self._acked_at: deque[tuple[int, float]] = deque(maxlen=65_536)  # (seq, monotonic)
        self._applied = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._threads: list[threading.Thread] = []
        self._applies = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def recover(self) -> int:
        """Apply journal records the store has not seen (after a crash); returns how many."""
        applied = int(self.store.get_meta(APPLIED_KEY) or 0)
        count = 0
        pending: list[tuple[int, DecodedBatch]] = []
        spans = 0
        for seq, payload in self.journal.read(applied):
            batch = DecodedBatch.from_journal(payload)
            pending.append((seq, batch))
            spans += batch.size
            count += 1
            if spans >= self.max_apply_spans:
                self._apply_batches(pending)
                pending, spans = [], 0
        if pending:
            self._apply_batches(pending)
        self._applied_seq = self._acked_seq = max(applied, self.journal.last_seq)
        self.journal.truncate(self._applied_seq)
        return count

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._journal_loop, name="heron-journal", daemon=True),
            threading.Thread(target=self._apply_loop, name="heron-apply", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Journal and apply what is queued, then stop both threads."""
        if not self._threads:
            return
        self._incoming.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        self.journal.truncate(self._applied_seq)
        self.journal.close()

    # -- the request side ----------------------------------------------------------------------

    @property
    def queued_spans(self) -> int:
        return self._queued

    @property
    def backlog(self) -> int:
        """Journal records acknowledged to clients but not yet applied to the store."""
        return max(self._acked_seq - self._applied_seq, 0)

    def enqueue(self, batch: DecodedBatch) -> Future[None]:
        """Queue a batch; the future resolves once it is durable in the journal."""
        job = _Job(batch)
        with self._lock:
            if self._queued + job.size > self.max_queued_spans and self._queued > 0:
                self.stats.rejected_requests += 1
                raise Overloaded(
                    f"ingest queue is full ({self._queued} spans waiting); retry shortly",
                    retry_after=1,
                )
            self._queued += job.size
        self._incoming.put(job)
        return job.future

    async def submit(self, batch: DecodedBatch) -> None:
        await asyncio.wrap_future(self.enqueue(batch))

    async def caught_up(self, timeout: float = 10.0) -> None:
        """Wait until the store holds everything acknowledged before this call (at most
        ``timeout`` seconds: a stalled store makes reads stale, never stuck)."""
        target = self._acked_seq
        if self._applied_seq >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._applied:
            if self._applied_seq >= target:
                return
            self._waiters.append((target, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            log.warning("read served before ingest caught up (store %.0fs behind)", timeout)

    @property
    def lag_ms(self) -> float:
        """Age of the oldest acknowledged journal record the store has not applied (0 when
        caught up). Read on the event loop only (it drops the applied entries)."""
        acked, applied = self._acked_at, self._applied_seq
        while acked and acked[0][0] <= applied:
            acked.popleft()
        try:
            return (time.monotonic() - acked[0][1]) * 1000
        except IndexError:
            return 0.0

    # -- threads -------------------------------------------------------------------------------

    def _journal_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._incoming.get()
            if first is _STOP:
                break
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + self.window_s
            while True:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self._incoming.get(timeout=timeout)
                        if timeout > 0
                        else (self._incoming.get_nowait())
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                jobs.append(item)  # type: ignore[arg-type]
            self._journal(jobs)
        self._applying.put(_STOP)

    def _journal(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            last = self.journal.append([j.batch.encode() for j in jobs])
        except Exception as exc:  # disk full, I/O error: these requests were not accepted
            log.exception("journal write failed")
            self._release(sum(j.size for j in jobs))
            for j in jobs:
                j.future.set_exception(exc)
            return
        for i, job in enumerate(jobs):
            job.seq = last - len(jobs) + 1 + i
        self._acked_at.append((last, time.monotonic()))
        self._acked_seq = last
        self.stats.journal_seconds.observe(time.perf_counter() - started)
        self.stats.journaled_spans += sum(j.batch.observations.num_rows for j in jobs)
        for job in jobs:
            self._applying.put(job)
            job.future.set_result(None)

    def _apply_loop(self) -> None:
        while True:
            first = self._applying.get()
            if first is _STOP:
                return
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            spans = jobs[0].size
            stop = False
            while spans < self.max_apply_spans:
                try:
                    item = self._applying.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                jobs.append(item)  # type: ignore[arg-type]
                spans += item.size  # type: ignore[union-attr]
            try:
                self._apply_batches([(j.seq, j.batch) for j in jobs])
            except Exception:  # never let the apply thread die: the journal keeps the data
                log.exception("apply thread error")
            self._release(spans)
            if stop:
                return

    def _apply_batches(self, batches: list[tuple[int, DecodedBatch]]) -> None:
        started = time.perf_counter()
        last_seq = batches[-1][0]
        tables = [b.observations for _, b in batches]
        observations = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        traces = [t for _, b in batches for t in b.traces]
        try:
            self.store.write_batch(observations, traces, journal_seq=last_seq)
        except Exception:
            log.exception("applying %d journal records failed", len(batches))
            self.stats.failed_commits += 1
            if len(batches) > 1:  # apply one by one, so one bad record holds back no other
                for one in batches:
                    self._apply_batches([one])
                return
            # Acknowledged data must not vanish: keep the record for inspection and replay.
            self.journal.keep_failed(last_seq, batches[0][1].encode())
        else:
            self.stats.commits += 1
            self.stats.applied_spans += observations.num_rows
            elapsed = time.perf_counter() - started
            self.stats.last_commit_ms = elapsed * 1000
            self.stats.apply_seconds.observe(elapsed)
        self._mark_applied(last_seq)

    def _mark_applied(self, seq: int) -> None:
        with self._applied:
            self._applied_seq = max(self._applied_seq, seq)
            ready = [w for w in self._waiters if w[0] <= self._applied_seq]
            self._waiters = [w for w in self._waiters if w[0] > self._applied_seq]
            self._applied.notify_all()
        for _, fut in ready:
            fut.get_loop().call_soon_threadsafe(_resolve, fut)
        self._applies += 1
        if self._applies % 32 == 0:
            self.journal.truncate(self._applied_seq)

    def _release(self, spans: int) -> None:
        with self._lock:
            self._queued -= spans


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
