"""The write pipeline: journal first, then the store.

::

    request ─► journal thread ─► fdatasync ─► 200 to the client
                    │ (group commit: every request of the same few ms, one fsync)
                    ▼
               apply thread ─► store.write_batch (one transaction per group, and the
                               journal position it reached, in the same transaction)

A request is answered once its spans are durable in the journal; the apply thread writes
them to the store moments later. Reads serve what is applied; one that asks for consistency
waits (briefly) until the store holds everything acknowledged before it started
(:meth:`WritePipeline.caught_up`; see :mod:`heron.server.consistency`). When more spans
wait than the queue allows, or the journal cannot be written (disk full), requests are
refused at once (503 with Retry-After) instead of buffered.

When the store refuses a record, its spans are split and applied in halves until only the
spans it still refuses remain; those are quarantined (:mod:`heron.ingest.quarantine`), the
rest stored. When the store itself is failing (I/O error, out of memory), nothing is split
or quarantined: the apply is retried, the journal keeping the data meanwhile. Journal
segments are deleted only once their records are applied *and* checkpointed into the store
file (:meth:`~heron.store.base.Store.checkpoint`), never while they live only in its WAL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from heron.errors import Overloaded, StorageUnavailable
from heron.ingest.decoding import DecodedBatch
from heron.ingest.journal import Journal
from heron.ingest.quarantine import Quarantine, describe
from heron.ingest.stats import LatencyHistogram
from heron.model import ObservationRecord
from heron.store import Store

log = logging.getLogger("heron.ingest")

_STOP = object()
APPLIED_KEY = "journal_applied_seq"
RETRY_S = 2  # Retry-After while the journal cannot be written; one request probes per period

# Errors of the store itself, not of the data: retried, never quarantined.
_STORE_FAILURES = (
    OSError,
    MemoryError,
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.TransactionException,
    duckdb.InterruptException,
    duckdb.ConnectionException,
)


@dataclass(slots=True)
class _Job:
    batch: DecodedBatch
    future: Future[None] = field(default_factory=Future)
    seq: int = 0

    @property
    def size(self) -> int:
        return self.batch.size


@dataclass(slots=True)
class _Replay:
    future: Future[dict[str, Any]] = field(default_factory=Future)


class _StoreDown(Exception):
    """The store failed in a way a retry may cure (wraps the store's exception)."""


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
        quarantine: Quarantine | None = None,
        checkpoint_s: float = 60.0,
        max_lag_s: float = 30.0,
        price: Callable[[ObservationRecord], dict[str, float] | None] | None = None,
    ) -> None:
        self.store = store
        self.price = price  # costs observations the store merges from several versions
        self.journal = journal
        self.quarantine = quarantine or Quarantine(journal.directory / "quarantine")
        self.max_queued_spans = max_queued_spans
        self.window_s = window_s
        self.max_apply_spans = max_apply_spans
        self.checkpoint_s = checkpoint_s
        self.max_lag_s = max_lag_s
        self.stats = PipelineStats()
        self.store_error: str | None = None  # the store's last failure, None once it works
        self.gaps: list[dict[str, Any]] = []  # acknowledged records found missing at start
        self._incoming: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._applying: queue.SimpleQueue[_Job | _Replay | object] = queue.SimpleQueue()
        self._queued = 0  # accepted spans not yet applied to the store
        self._sizes: deque[tuple[int, int]] = deque()  # (seq, spans) journaled, not applied
        self._lock = threading.Lock()
        self._applied_seq = 0
        self._acked_seq = 0
        self._checkpointed_seq = 0
        self._last_checkpoint = time.monotonic()
        self._acks: deque[tuple[int, float]] = deque()  # (last seq, monotonic) per group
        self._applied = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def recover(self) -> int:
        """Apply journal records the store has not seen (after a crash); returns how many.

        Raises when the store cannot be written at all (the journal keeps everything)."""
        applied = int(self.store.get_meta(APPLIED_KEY) or 0)
        self._find_gaps(applied)
        self.journal.resume_after(applied)
        self._adopt_failed()
        count = 0
        pending: list[tuple[int, DecodedBatch]] = []
        spans = 0
        try:
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
        except _StoreDown as exc:
            raise exc.__cause__ or exc from None
        self._applied_seq = self._acked_seq = max(applied, self.journal.last_seq)
        self._checkpoint(force=True)  # what DuckDB replayed from its own WAL, too
        return count

    def _find_gaps(self, applied: int) -> None:
        """Acknowledged records neither in the store nor readable in the journal."""
        first = self.journal.first_seq
        if first is not None and first > applied + 1:
            self.gaps.append({"first": applied + 1, "last": first - 1, "why": "missing"})
        for d in self.journal.damage:
            lost = d.lost
            if d.torn or lost is None or lost[1] <= applied:
                continue
            self.gaps.append(
                {"first": max(lost[0], applied + 1), "last": lost[1], "why": "damaged"}
            )
        for gap in self.gaps:
            log.error(
                "journal gap: acknowledged records %d-%d are %s (the store applied up to %d); "
                "their spans are lost unless the damaged bytes in %s can be recovered",
                gap["first"], gap["last"], gap["why"], applied, self.journal.directory / "damaged",
            )  # fmt: skip

    def _adopt_failed(self) -> None:
        """Records an earlier heron set aside whole in ``journal/failed/`` join the quarantine."""
        failed = self.journal.directory / "failed"
        for path in sorted(failed.glob("*.rec")):
            batch = DecodedBatch.from_journal(path.read_bytes())
            self.quarantine.put(int(path.stem), 0, batch, "set aside by an earlier heron version")
            path.unlink()

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._journal_loop, name="heron-journal", daemon=True),
            threading.Thread(target=self._apply_loop, name="heron-apply", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Journal and apply what is queued, checkpoint, then stop both threads."""
        if not self._threads:
            return
        self._stopping.set()
        self._incoming.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        self._checkpoint(force=True)
        self.journal.close()

    # -- the request side ----------------------------------------------------------------------

    @property
    def queued_spans(self) -> int:
        return self._queued

    @property
    def backlog(self) -> int:
        """Journal records acknowledged to clients but not yet applied to the store."""
        return max(self._acked_seq - self._applied_seq, 0)

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest acknowledged batch the store has not applied (0 when none)."""
        try:
            seq, at = self._acks[0]
        except IndexError:
            return 0.0
        return max(time.monotonic() - at, 0.0) if seq > self._applied_seq else 0.0

    def admit(self) -> None:
        """Refuse a request before its body is read when it could not be accepted anyway:
        the queue is full, or the journal failed its last write (one request per
        ``RETRY_S`` still goes through to probe whether space is back)."""
        if self._queued >= self.max_queued_spans:
            with self._lock:
                self.stats.rejected_requests += 1
            raise Overloaded(
                f"ingest queue is full ({self._queued} spans waiting); retry shortly",
                retry_after=1,
            )
        j = self.journal
        failed_at = j.failed_at
        if failed_at is not None and time.monotonic() - failed_at < RETRY_S:
            raise StorageUnavailable(self._journal_problem(), retry_after=RETRY_S)

    def _journal_problem(self) -> str:
        j = self.journal
        what = "the disk is full" if j.disk_full else "the journal cannot be written"
        state = "" if j.healthy else " and could not be repaired yet"
        return f"ingest paused: {what} ({j.error}){state}; retry after {RETRY_S} s"

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

    def replay_quarantine(self) -> Future[dict[str, Any]]:
        """Apply the quarantined spans again (on the apply thread); resolves to what was
        applied and what the store still refuses."""
        job = _Replay()
        if self._threads:
            self._applying.put(job)
        else:
            self._replay(job)
        return job.future

    def health(self) -> dict[str, Any]:
        """Readiness and why not: journal, disk, store, apply lag, gaps found at start."""
        j = self.journal
        problems = []
        if j.error is not None:
            problems.append(self._journal_problem())
        if self.store_error:
            problems.append(f"the store is failing: {self.store_error}")
        lag = self.lag_seconds
        if lag > self.max_lag_s:
            problems.append(
                f"the store is {lag:.0f} s behind the journal (over {self.max_lag_s} s)"
            )
        for gap in self.gaps:
            problems.append(
                f"journal records {gap['first']}-{gap['last']} were acknowledged but are "
                f"{gap['why']} (see the server log and journal/damaged/)"
            )
        try:
            free = shutil.disk_usage(j.directory).free
        except OSError:
            free = None
        return {
            "ready": not problems,
            "problems": problems,
            "backlog_records": self.backlog,
            "lag_seconds": round(lag, 3),
            "queued_spans": self._queued,
            "journal": {
                "healthy": j.healthy,
                "disk_full": j.disk_full,
                "error": str(j.error) if j.error else None,
                "last_seq": j.last_seq,
                "disk_free_bytes": free,
                "damage": [d.as_dict() for d in j.damage],
            },
            "store": {
                "error": self.store_error,
                "applied_seq": self._applied_seq,
                "checkpointed_seq": self._checkpointed_seq,
                "failed_commits": self.stats.failed_commits,
            },
            "quarantined_spans": self.quarantine.spans(),
            "gaps": self.gaps,
        }

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
            log.error("journal write failed (%d requests refused): %s", len(jobs), exc)
            self._release(sum(j.size for j in jobs))
            problem = self._journal_problem() if self.journal.error else describe(exc)
            refusal = StorageUnavailable(problem, retry_after=RETRY_S)
            for j in jobs:
                j.future.set_exception(refusal)
            return
        for i, job in enumerate(jobs):
            job.seq = last - len(jobs) + 1 + i
        self._acks.append((last, time.monotonic()))
        self._acked_seq = last
        self.stats.journal_seconds.observe(time.perf_counter() - started)
        self.stats.journaled_spans += sum(j.batch.observations.num_rows for j in jobs)
        with self._lock:
            self._sizes.extend((job.seq, job.size) for job in jobs)
        for job in jobs:
            self._applying.put(job)
            job.future.set_result(None)

    def _apply_loop(self) -> None:
        while True:
            try:
                first = self._applying.get(timeout=max(self.checkpoint_s, 0.01))
            except queue.Empty:
                self._checkpoint()
                continue
            if first is _STOP:
                return
            if isinstance(first, _Replay):
                self._replay(first)
                continue
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            replays: list[_Replay] = []
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
                if isinstance(item, _Replay):
                    replays.append(item)
                    continue
                jobs.append(item)  # type: ignore[arg-type]
                spans += item.size  # type: ignore[union-attr]
            try:
                self._apply_until_done([(j.seq, j.batch) for j in jobs])
            except Exception:  # never let the apply thread die: the journal keeps the data
                log.exception("apply thread error")
            self._release_through(jobs[-1].seq)  # also what a failed apply left
            for r in replays:
                self._replay(r)
            self._checkpoint()
            if stop:
                return

    def _apply_until_done(self, batches: list[tuple[int, DecodedBatch]]) -> None:
        """Apply, retrying while the store itself fails (until stopping: then the journal
        keeps the records for the next start)."""
        delay = 0.1
        while True:
            try:
                self._apply_batches(batches)
            except _StoreDown as exc:
                reason = describe(exc.__cause__ or exc)
                if reason != self.store_error:
                    log.error("the store is failing, applies are retried: %s", reason)
                self.store_error = reason
                if self._stopping.is_set():
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self.store_error is not None:
                log.warning("the store works again")
                self.store_error = None
            return

    def _apply_batches(self, batches: list[tuple[int, DecodedBatch]]) -> None:
        started = time.perf_counter()
        last_seq = batches[-1][0]
        tables = [b.observations for _, b in batches]
        observations = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        traces = [t for _, b in batches for t in b.traces]
        try:
            self._write(observations, traces, last_seq)
        except _StoreDown:
            raise
        except Exception as exc:
            log.error("applying %d journal records failed: %s", len(batches), describe(_cause(exc)))
            if len(batches) > 1:  # apply one by one, so one bad record holds back no other
                for one in batches:
                    self._apply_batches([one])
                return
            self._split(last_seq, batches[0][1])
        else:
            self.stats.commits += 1
            self.stats.applied_spans += observations.num_rows
            elapsed = time.perf_counter() - started
            self.stats.last_commit_ms = elapsed * 1000
            self.stats.apply_seconds.observe(elapsed)
        self._mark_applied(last_seq)

    def _write(self, observations: pa.Table, traces: list, seq: int | None) -> None:
        try:
            self.store.write_batch(observations, traces, journal_seq=seq, price=self.price)
        except Exception as exc:
            self.stats.failed_commits += 1
            if _store_failure(exc):
                raise _StoreDown(describe(exc)) from exc
            raise

    def _split(self, seq: int, batch: DecodedBatch) -> None:
        """Apply a refused record in halves until only the refused spans are left; keep those
        in the quarantine. Every piece applied is a span the client may resend anyway, so a
        crash half-way (the record is then applied again) merges, never duplicates."""
        obs = batch.observations
        projects, traces = obs.column("project_id").to_pylist(), obs.column("trace_id").to_pylist()
        keys = list(zip(projects, traces, strict=True))
        pieces = [(k, "o", i) for i, k in enumerate(keys)]
        pieces += [((t.project_id, t.trace_id), "t", i) for i, t in enumerate(batch.traces)]
        pieces.sort(key=lambda p: p[0])  # stable: a trace's pieces stay in arrival order
        todo: list[list[tuple[Any, str, int]]] = [pieces]
        refused: list[tuple[DecodedBatch, Exception]] = []
        applied = 0
        while todo:
            part = todo.pop(0)
            sub = _piece(batch, part)
            try:
                self._write(sub.observations, sub.traces, None)
            except _StoreDown:
                raise
            except Exception as exc:
                if len(part) == 1:
                    refused.append((sub, _cause(exc)))
                else:
                    todo[0:0] = [part[: len(part) // 2], part[len(part) // 2 :]]
                continue
            applied += sub.observations.num_rows
        for n, (sub, exc) in enumerate(refused):
            self.quarantine.put(seq, n, sub, describe(exc))
        try:
            self.store.set_meta(APPLIED_KEY, str(seq))
        except Exception as exc:
            if _store_failure(exc):
                raise _StoreDown(describe(exc)) from exc
            raise
        self.stats.applied_spans += applied
        log.error(
            "journal record %d: %d spans applied, %d refused by the store and quarantined "
            "(first reason: %s); fix, then run `heron journal replay`",
            seq, applied, len(refused), describe(refused[0][1]) if refused else "-",
        )  # fmt: skip

    def _replay(self, job: _Replay) -> None:
        try:
            result = self.quarantine.replay(self._apply_quarantined)
        except Exception as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _apply_quarantined(self, batch: DecodedBatch) -> None:
        try:
            self.store.write_batch(batch.observations, batch.traces, price=self.price)
        except Exception as exc:
            cause = _cause(exc)
            if cause is exc:
                raise
            raise cause from None

    def _checkpoint(self, force: bool = False) -> None:
        """Checkpoint the store, then delete journal segments it now holds in its file."""
        if not force and time.monotonic() - self._last_checkpoint < self.checkpoint_s:
            return
        self._last_checkpoint = time.monotonic()
        seq = self._applied_seq
        # forced (at start and stop) even with no new span: projects and keys written since
        # the last checkpoint live in DuckDB's WAL alone, and the journal cannot restore them
        if seq > self._checkpointed_seq or force:
            try:
                self.store.checkpoint()
            except Exception as exc:
                log.warning("store checkpoint failed (the journal keeps its records): %s", exc)
                return
            self._checkpointed_seq = seq
        self.journal.truncate(self._checkpointed_seq)

    def _mark_applied(self, seq: int) -> None:
        # the queue is emptied of these spans before a reader waiting for them is woken, so
        # what it reads (the ingest queue gauge included) shows them applied
        self._release_through(seq)
        with self._applied:
            self._applied_seq = max(self._applied_seq, seq)
            ready = [w for w in self._waiters if w[0] <= self._applied_seq]
            self._waiters = [w for w in self._waiters if w[0] > self._applied_seq]
            self._applied.notify_all()
        while self._acks and self._acks[0][0] <= self._applied_seq:
            self._acks.popleft()
        for _, fut in ready:
            fut.get_loop().call_soon_threadsafe(_resolve, fut)

    def _release(self, spans: int) -> None:
        with self._lock:
            self._queued -= spans

    def _release_through(self, seq: int) -> None:
        """Take the journaled records up to ``seq`` out of the queue (once each)."""
        with self._lock:
            while self._sizes and self._sizes[0][0] <= seq:
                self._queued -= self._sizes.popleft()[1]


def _piece(batch: DecodedBatch, part: list[tuple[Any, str, int]]) -> DecodedBatch:
    rows = [i for _, kind, i in part if kind == "o"]
    table = batch.observations.take(pa.array(rows, pa.int64()))
    return DecodedBatch(table, [batch.traces[i] for _, kind, i in part if kind == "t"])


def _cause(exc: BaseException) -> BaseException:
    """The first error of a failed transaction (later statements only say it is aborted)."""
    while isinstance(exc, duckdb.TransactionException) and exc.__context__ is not None:
        exc = exc.__context__
    return exc


def _store_failure(exc: BaseException) -> bool:
    """True when the store failed, not the data (a retry may work; nothing is quarantined)."""
    exc = _cause(exc)
    return isinstance(exc, _STORE_FAILURES) or "invalidated" in str(exc)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
