"""The background runner on PostgreSQL (the cluster backend): its change feed, its leases and
its per-target work.

**The feed.** ``runner_feed_head`` is one row, the position of the last committed change.
A writer takes the next position with ``UPDATE runner_feed_head SET position = position + 1``
inside the transaction that records the change (a batch's traces in ``runner_changes``, a
score write's traces in ``runner_score_changes``) and commits at once. The row lock taken
by that UPDATE is held until the commit, so the next writer's UPDATE waits for it and reads
the committed value: positions are gap-free and **commit in their order**. A reader that
sees head ``h`` (a plain read of the row, READ COMMITTED) therefore sees every change at
positions ``<= h`` committed, and none will ever appear below ``h`` later, which a sequence
(whose values commit out of order across transactions) would not give. The lock is held
only from the UPDATE to the commit (a few inserts), so writers queue for milliseconds.

**Leases** (``runner_leases``: key, holder, expires_at, on PostgreSQL's clock) make one
runner at a time process a task's change cursor (``task:<name>``), a backfill job
(``job:<id>``) or a periodic (``periodic:<name>``). A lease is taken when free or expired
and renewed by its holder (:class:`LeaseKeeper` renews them in the background while the
process lives); a killed runner's leases lapse and another runner takes them over. Due
re-checks are claimed row by row (``FOR UPDATE SKIP LOCKED``, a holder and a claim expiry
on ``runner_due``), so two runners never take the same row while a claim lasts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from heron.store import runner as runnerdb
from heron.store.postgres.cursor import PgCursor
from heron.store.postgres.transactions import Transactions

log = logging.getLogger("heron.runner")


_UNTIL = "localtimestamp + make_interval(secs => ?)"  # sessions run in UTC: naive UTC


# -- the feed ---------------------------------------------------------------------------------


def next_position(cur: PgCursor) -> int:
    """The next feed position; its row lock is held until the caller's transaction ends, so
    positions commit in order (see the module docstring). Take it just before committing."""
    row = cur.execute(
        "UPDATE runner_feed_head SET position = position + 1 RETURNING position"
    ).fetchone()
    assert row is not None
    return int(row[0])


def head(cur: PgCursor) -> int:
    row = cur.execute("SELECT position FROM runner_feed_head").fetchone()
    return int(row[0]) if row else 0


def record_changes(cur: PgCursor, position: int, traces: Sequence[tuple[str, str]]) -> None:
    """A batch's (project, trace) keys at ``position``."""
    keys = sorted(set(traces))
    if keys:
        cur.execute(
            "INSERT INTO runner_changes SELECT ?, p, t FROM unnest(?::text[], ?::text[]) "
            "AS k(p, t) ON CONFLICT DO NOTHING",
            [position, [p for p, _ in keys], [t for _, t in keys]],
        )


def record_score_changes(
    cur: PgCursor, position: int, traces: Sequence[tuple[str, str]], task: str | None
) -> None:
    """Scores of (project, trace) ``traces`` changed at ``position``, written by runner task
    ``task`` (``None``: the API)."""
    keys = sorted(set(traces))
    if keys:
        cur.execute(
            "INSERT INTO runner_score_changes SELECT ?, p, t, ? "
            "FROM unnest(?::text[], ?::text[]) AS k(p, t)",
            [position, task, [p for p, _ in keys], [t for _, t in keys]],
        )


def changed(cur: PgCursor, after: int, upto: int) -> list[tuple[str, str]]:
    """(project, trace) whose last change is in (after, upto]: what DuckDB's
    ``traces.change_seq`` answers (a trace changed again later is reported then)."""
    return cur.execute(
        "SELECT DISTINCT c.project_id, c.trace_id FROM runner_changes c "
        "WHERE c.position > ? AND c.position <= ? AND NOT EXISTS (SELECT 1 FROM "
        "runner_changes l WHERE l.project_id = c.project_id AND l.trace_id = c.trace_id "
        "AND l.position > ?)",
        [after, upto, upto],
    ).fetchall()


def score_changed(cur: PgCursor, after: int, upto: int, exclude_task: str) -> list[tuple]:
    """(project, trace) whose scores changed in (after, upto], except by ``exclude_task``."""
    return cur.execute(
        "SELECT DISTINCT project_id, trace_id FROM runner_score_changes WHERE position > ? "
        "AND position <= ? AND task IS DISTINCT FROM ?",
        [after, upto, exclude_task],
    ).fetchall()


def prune(cur: PgCursor, upto: int) -> None:
    """Forget the changes up to ``upto`` that every task's cursor has passed. Runners on
    several machines may host different tasks, so no runner alone knows which ones follow
    scores: the least cursor of all bounds both feeds (a task registered later starts at
    the head; a task no runner hosts any more keeps its cursor row, and so the feed, until
    that row is deleted)."""
    bound = "least(?, coalesce((SELECT min(position) FROM runner_cursors), ?))"
    cur.execute(f"DELETE FROM runner_score_changes WHERE position <= {bound}", [upto, upto])
    cur.execute(f"DELETE FROM runner_changes WHERE position <= {bound}", [upto, upto])


# -- leases -----------------------------------------------------------------------------------


def take_lease(cur: PgCursor, key: str, holder: str, seconds: float) -> bool:
    """Take ``key`` for ``holder`` when free, expired or already its own; whether it is."""
    row = cur.execute(
        f"INSERT INTO runner_leases AS l VALUES (?, ?, {_UNTIL}) ON CONFLICT (key) DO UPDATE "
        "SET holder = excluded.holder, expires_at = excluded.expires_at "
        "WHERE l.holder = excluded.holder OR l.expires_at < localtimestamp RETURNING key",
        [key, holder, seconds],
    ).fetchone()
    return row is not None


def renew_leases(cur: PgCursor, keys: Sequence[str], holder: str, seconds: float) -> set[str]:
    """Extend the holder's leases of ``keys``; the keys it still holds."""
    rows = cur.execute(
        f"UPDATE runner_leases SET expires_at = {_UNTIL} WHERE key = ANY(?::text[]) "
        "AND holder = ? RETURNING key",
        [seconds, list(keys), holder],
    ).fetchall()
    return {r[0] for r in rows}


def fence(cur: PgCursor, keys: Sequence[str], holder: str) -> None:
    """Raise :class:`~heron.store.runner.LeaseLost` unless ``holder`` holds every lease of
    ``keys``. The rows stay locked to the end of the caller's transaction, so no takeover
    happens under it; a holder whose lease expired but was not taken over still holds it
    (nobody else can have moved what it covers)."""
    if not keys:
        return
    rows = cur.execute(
        "SELECT key FROM runner_leases WHERE key = ANY(?::text[]) AND holder = ? "
        "ORDER BY key FOR UPDATE",
        [sorted(set(keys)), holder],
    ).fetchall()
    lost = sorted(set(keys) - {r[0] for r in rows})
    if lost:
        raise runnerdb.LeaseLost(f"runner {holder} no longer holds {', '.join(lost)}")


class LeaseKeeper:
    """Renews a process's leases every third of their length in a daemon thread, so a
    runner busy with a long chunk keeps them; a killed process stops renewing."""

    def __init__(self, control: Transactions) -> None:
        self._control = control
        self._held: dict[tuple[str, str], float] = {}  # (holder, key) -> lease seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, holder: str, key: str, seconds: float) -> None:
        with self._lock:
            self._held[(holder, key)] = seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="heron-leases", daemon=True)
                self._thread.start()

    def drop(self, holder: str, keys: Sequence[str] | None) -> list[str]:
        with self._lock:
            gone = [k for h, k in self._held if h == holder and (keys is None or k in keys)]
            for key in gone:
                self._held.pop((holder, key), None)
        return gone

    def _loop(self) -> None:
        while True:
            with self._lock:
                held = dict(self._held)
            period = min(held.values(), default=30.0) / 3
            if self._stop.wait(period):
                return
            by_holder: dict[tuple[str, float], list[str]] = {}
            for (holder, key), seconds in held.items():
                by_holder.setdefault((holder, seconds), []).append(key)
            for (holder, seconds), keys in by_holder.items():
                try:
                    with self._control._admin() as cur:
                        kept = renew_leases(cur, keys, holder, seconds)
                except Exception:  # PostgreSQL away: tried again next period
                    log.warning("renewing runner leases failed", exc_info=True)
                    continue
                lost = [k for k in keys if k not in kept]
                if lost:
                    log.warning("runner %s lost its leases %s", holder, lost)
                    self.drop(holder, lost)

    def stop(self) -> None:
        self._stop.set()


# -- the runner's work ------------------------------------------------------------------------


def previous_outputs(
    cur: PgCursor, work: Sequence[runnerdb.WorkDone]
) -> dict[tuple[str, str, str], list[str]]:
    """:func:`heron.store.runner.previous_outputs` on PostgreSQL."""
    if not work:
        return {}
    rows = cur.execute(
        "SELECT w.task, w.project_id, w.target, w.outputs FROM runner_work w JOIN "
        "unnest(?::text[], ?::text[], ?::text[]) AS k(task, project_id, target) "
        "ON w.task = k.task AND w.project_id = k.project_id AND w.target = k.target",
        [[w.task for w in work], [w.project_id for w in work], [w.target for w in work]],
    ).fetchall()
    return {(t, p, g): list(ids) for t, p, g, ids in rows}


def commit_work(cur: PgCursor, work: Sequence[runnerdb.WorkDone]) -> None:
    """Record finished work as :func:`heron.store.runner.commit_work` does (the scores are
    the caller's, in ClickHouse): the outputs, and the due time set or cleared."""
    if not work:
        return
    last = {(w.task, w.project_id, w.target): w for w in work}
    keys = list(last)
    cur.execute(
        "DELETE FROM runner_due d USING unnest(?::text[], ?::text[], ?::text[]) "
        "AS k(task, project_id, target) WHERE d.task = k.task AND d.project_id = k.project_id "
        "AND d.target = k.target",
        [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
    )
    cur.executemany(
        "INSERT INTO runner_work VALUES (?, ?, ?, ?, ?, localtimestamp) "
        "ON CONFLICT (task, project_id, target) DO UPDATE SET version = excluded.version, "
        "outputs = excluded.outputs, done_at = excluded.done_at",
        [
            (
                w.task,
                w.project_id,
                w.target,
                w.version,
                list(dict.fromkeys([*(s.id for s in w.scores), *w.keep])),
            )
            for w in last.values()
        ],
    )
    due = [w for w in last.values() if w.due_at is not None]
    if due:
        cur.executemany(
            "INSERT INTO runner_due (task, project_id, target, due_at) VALUES (?, ?, ?, ?)",
            [(w.task, w.project_id, w.target, w.due_at) for w in due],
        )


def claim_due(
    cur: PgCursor,
    tasks: Sequence[str],
    now: datetime,
    limit: int,
    holder: str,
    seconds: float,
) -> list[tuple[str, str, str]]:
    """Claim up to ``limit`` re-checks due at ``now`` that no live claim holds, earliest
    first: rows another runner is claiming at the same instant are skipped, not waited for."""
    rows = cur.execute(
        f"UPDATE runner_due d SET holder = ?, claimed_until = {_UNTIL} FROM ("
        "SELECT task, project_id, target FROM runner_due WHERE due_at <= ? "
        "AND task = ANY(?::text[]) AND (claimed_until IS NULL OR claimed_until < localtimestamp) "
        "ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED) c WHERE d.task = c.task "
        "AND d.project_id = c.project_id AND d.target = c.target "
        "RETURNING d.due_at, d.task, d.project_id, d.target",
        [holder, seconds, now, list(tasks), limit],
    ).fetchall()
    return [tuple(r[1:]) for r in sorted(rows, key=lambda r: (r[0], r[1:]))]


class RunnerControl(Transactions):
    """The runner's re-checks, outputs and leases (a part of ``PostgresControl``; the
    cursors and jobs are :class:`~heron.store.postgres.automation.Automation`'s)."""

    _keeper: LeaseKeeper | None = None

    def runner_due(
        self,
        tasks: Sequence[str],
        now: datetime,
        limit: int,
        *,
        holder: str | None = None,
        lease_s: float = 30.0,
    ) -> list[tuple]:
        """(task, project id, target) of re-checks due at ``now``; with ``holder``, claimed
        for it for ``lease_s`` (another runner skips them meanwhile)."""
        if holder is None:
            with self._read() as cur:
                return runnerdb.due(cur, tasks, now, limit)
        with self._admin() as cur:
            return claim_due(cur, tasks, now, limit, holder, lease_s)

    def runner_next_due(self, tasks: Sequence[str]) -> datetime | None:
        """The earliest due time, or a claim's expiry when later (a claimed re-check is
        another runner's until then)."""
        with self._read() as cur:
            row = cur.execute(
                "SELECT min(greatest(due_at, claimed_until)) FROM runner_due "
                "WHERE task = ANY(?::text[])",
                [list(tasks)],
            ).fetchone()
        return row[0] if row else None

    def runner_outputs(
        self, task: str, project_id: str, targets: Sequence[str]
    ) -> dict[str, list[str]]:
        """The score ids ``task``'s last run wrote on each target."""
        with self._read() as cur:
            return runnerdb.outputs(cur, task, project_id, targets)

    def runner_work(self, task: str, project_id: str, target: str) -> dict[str, Any] | None:
        """What ``task`` last did on ``target``: version, score ids, when."""
        with self._read() as cur:
            return runnerdb.work_done(cur, task, project_id, target)

    def runner_lease(self, key: str, holder: str, seconds: float) -> bool:
        """Take or renew lease ``key`` for ``holder`` (see the module docstring)."""
        with self._admin() as cur:
            held = take_lease(cur, key, holder, seconds)
        if self._keeper is None:
            self._keeper = LeaseKeeper(self)
        if held:
            self._keeper.hold(holder, key, seconds)
        else:
            self._keeper.drop(holder, [key])
        return held

    def runner_release(self, holder: str, keys: Sequence[str] | None = None) -> None:
        """Give up ``holder``'s leases of ``keys`` (``None``: all it holds here), so another
        runner takes them at once rather than after they expire."""
        if self._keeper is None:
            return
        gone = self._keeper.drop(holder, keys)
        if gone:
            with self._admin() as cur:
                cur.execute(
                    "DELETE FROM runner_leases WHERE holder = ? AND key = ANY(?::text[])",
                    [holder, gone],
                )

    def close(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
        super().close()
