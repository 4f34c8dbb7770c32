"""The background runner's store methods on the cluster backend, composed of both halves.

**The change feed** is in PostgreSQL (:mod:`heron.store.postgres.runner_feed`): after
ClickHouse acknowledges a batch, :meth:`ClusterRunner._record_batch` takes the next feed
position and records the batch's traces with it, in the PostgreSQL transaction that also
records the replica's journal position. Score writes (the API's, and the runner's own, with
the task that wrote them) take a position and record their traces in the score feed the
same way. Positions commit in order, so a runner that read head ``h`` never passes a change
committed later below ``h``; and every position is committed after its data is in
ClickHouse, so the data a position names is readable once the position is.

**The runner's commit** (:meth:`ClusterRunner.runner_commit`): first the scores go to
ClickHouse (deterministic ids: a redo writes newer versions of the same rows, a
ReplacingMergeTree keeps one), then one PostgreSQL transaction records the per-target
work, the cursors and the job progress, fenced by the runner's leases: if another runner
has taken over a lease the commit covers, it raises
:class:`~heron.store.runner.LeaseLost` and nothing of it is recorded (the scores it wrote
are the ones the new holder's redo rewrites). So a position is never ahead of its work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from heron.scores import ScoreRecord
from heron.store import projects as projectdb
from heron.store import runner as runnerdb
from heron.store.postgres import runner_feed as feed

if TYPE_CHECKING:
    from heron.store.clickhouse import ClickHouseEvents
    from heron.store.postgres import PostgresControl

POLL_S = 0.25  # how often a waiting runner reads the feed's head in PostgreSQL


class _Waiters:
    """Wakes this process's waiting runner: a local write, or :meth:`wake_waiters`."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.wakeups = 0

    def notify(self, wake: bool = False) -> None:
        with self.changed:
            self.wakeups += wake
            self.changed.notify_all()


@contextmanager
def _reachable() -> Iterator[None]:
    from heron.store.cluster import _unavailable_as_oserror  # the module composing this

    with _unavailable_as_oserror():
        yield


class ClusterRunner:
    """The change feed, score writes and the runner's commit (a part of ``ClusterStore``)."""

    control: PostgresControl
    events: ClickHouseEvents

    @cached_property
    def _waiters(self) -> _Waiters:
        return _Waiters()

    def _record_batch(
        self, traces: Sequence[tuple[str, str]], journal_key: str, journal_seq: int | None
    ) -> None:
        """After ClickHouse acknowledged a batch: its traces at the next feed position and
        the replica's journal position, one PostgreSQL transaction."""
        with self.control._admin() as cur:
            if journal_seq is not None:
                projectdb.set_meta(cur, journal_key, str(journal_seq))
            feed.record_changes(cur, feed.next_position(cur), traces)
        self._waiters.notify()

    def write_scores(self, scores: Sequence[ScoreRecord], *, replace: bool = True) -> None:
        """Store scores in ClickHouse (see ``ClickHouseEvents.write_scores``), then note the
        traces they are on in the score feed, as DuckDB does."""
        if not scores:
            return
        with _reachable():
            self.events.write_scores(scores, replace=replace)
            self._record_scores(scores, None)

    def _record_scores(self, scores: Sequence[ScoreRecord], task: str | None) -> None:
        traced = [(s.project_id, s.trace_id) for s in scores if s.trace_id]
        if traced:
            with self.control._admin() as cur:
                feed.record_score_changes(cur, feed.next_position(cur), traced, task)
            self._waiters.notify()

    # -- the feed -----------------------------------------------------------------------------

    def change_position(self) -> int:
        """The feed position of the last committed change (0: none yet)."""
        with _reachable(), self.control._read() as cur:
            return feed.head(cur)

    def wait_for_change(self, after: int, timeout_s: float) -> int:
        """Block until the feed passes ``after`` (read in PostgreSQL every ``POLL_S``, at
        once after a write through this process), at most ``timeout_s``, or until
        :meth:`wake_waiters`; returns the position then."""
        deadline = time.monotonic() + timeout_s
        waiters = self._waiters
        with waiters.changed:
            woken = waiters.wakeups
        while True:
            position = self.change_position()
            left = deadline - time.monotonic()
            if position > after or left <= 0:
                return position
            with waiters.changed:
                if waiters.wakeups != woken:
                    return position
                waiters.changed.wait(min(POLL_S, left))
                if waiters.wakeups != woken:
                    return position

    def wake_waiters(self) -> None:
        """End every :meth:`wait_for_change` under way in this process now."""
        self._waiters.notify(wake=True)

    def changed_traces(self, after: int, upto: int) -> list[tuple[str, str, str]]:
        """(project id, trace id, session id) of traces whose last batch is in (after, upto]."""
        with _reachable():
            with self.control._read() as cur:
                keys = feed.changed(cur, after, upto)
            return self.events.trace_sessions(keys)

    def score_changed_traces(self, after: int, upto: int, task: str) -> list[tuple[str, str]]:
        """(project id, trace id) whose scores changed in (after, upto], except by ``task``."""
        with _reachable(), self.control._read() as cur:
            return [tuple(r) for r in feed.score_changed(cur, after, upto, task)]

    def prune_score_changes(self, upto: int) -> None:
        """Forget the score feed up to ``upto`` and the trace changes every cursor passed."""
        with _reachable(), self.control._admin() as cur:
            feed.prune(cur, upto)

    # -- the runner's commit ------------------------------------------------------------------

    def runner_commit(
        self,
        work: Sequence[runnerdb.WorkDone],
        cursors: dict[str, int] | None = None,
        job: runnerdb.JobProgress | None = None,
        *,
        holder: str | None = None,
    ) -> None:
        """The work's scores to ClickHouse (replacing what the same task wrote on the same
        target before), then in one PostgreSQL transaction the work, the cursors and the job
        progress, refused (:class:`~heron.store.runner.LeaseLost`) when ``holder`` no longer
        holds the lease of a cursor's task or of the job."""
        leases = [f"task:{t}" for t in cursors or {}]
        if job is not None:
            leases.append(f"job:{job.job_id}")
        fenced = leases if holder is not None else []
        scores = [s for w in work for s in w.scores]
        with _reachable():
            with self.control._admin() as cur:  # early refusal: no score written for nothing
                feed.fence(cur, fenced, holder or "")
                previous = feed.previous_outputs(cur, work)
            self._replace_scores(work, previous, scores)
            with self.control._admin() as cur:
                feed.fence(cur, fenced, holder or "")
                feed.commit_work(cur, work)
                for task, position in (cursors or {}).items():
                    runnerdb.set_cursor(cur, task, position)
                if job is not None:
                    runnerdb.save_progress(cur, job)
                traced = [(s.project_id, s.trace_id) for s in scores if s.trace_id]
                if traced:
                    position = feed.next_position(cur)
                    feed.record_score_changes(cur, position, traced, work[0].task)
            if scores:
                self._waiters.notify()

    def _replace_scores(
        self,
        work: Sequence[runnerdb.WorkDone],
        previous: dict[tuple[str, str, str], list[str]],
        scores: Sequence[ScoreRecord],
    ) -> None:
        """Delete what the previous runs wrote and the new ones neither wrote nor kept,
        then upsert the new scores."""
        kept = {
            (w.task, w.project_id, w.target): {*w.keep, *(s.id for s in w.scores)} for w in work
        }
        stale: dict[str, list[str]] = {}
        for key, ids in previous.items():
            keep = kept.get(key, set())
            stale.setdefault(key[1], []).extend(i for i in ids if i not in keep)
        for project_id, ids in sorted(stale.items()):
            self.events.delete_runner_scores(project_id, ids)
        self.events.write_scores(scores)
