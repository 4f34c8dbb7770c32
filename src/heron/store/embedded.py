"""The embedded store: one DuckDB file, opened by the server process alone.

Reads run on per-thread cursors of the one database; all span writes go through
:meth:`EmbeddedStore.write_batch`, called from the single writer thread of the ingest
pipeline. Admin writes (projects, keys, prices, users) are small and serialised by a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from heron.compare import CompareQuery, run_compare
from heron.datasets.from_traces import Selection
from heron.datasets.spec import DatasetSpec, ItemSpec, RunItemSpec
from heron.errors import NotFound
from heron.model import ObservationRecord, TraceUpdate
from heron.query import TRACES, Filter, compile_filters
from heron.query.metrics import MetricsLimits, MetricsQuery
from heron.scores import ScoreRecord
from heron.settings import Settings
from heron.signals import outbox
from heron.store import alert_series as alertseries
from heron.store import alerts as alertdb
from heron.store import alignment as aligndb
from heron.store import analysis as analysisdb
from heron.store import annotation as annodb
from heron.store import annotation_reads as annoreads
from heron.store import channels as channeldb
from heron.store import comments as commentdb
from heron.store import dashboards as dashmod
from heron.store import dataset_runs as rundb
from heron.store import datasets as datasetdb
from heron.store import deletion, feedback, llmstats, members, reads, repricing, saved, scorestats
from heron.store import evaluators as evaldb
from heron.store import experiment_reads as expreads
from heron.store import experiment_results as experiments
from heron.store import experiments as experimentdb
from heron.store import keys as keymod
from heron.store import langfuse_reads as lfreads
from heron.store import metrics as metricsmod
from heron.store import prices as pricedb
from heron.store import projects as projectdb
from heron.store import runner as runnerdb
from heron.store import scores as scoremod
from heron.store import signals as signaldb
from heron.store import users as usermod
from heron.store.arrow import observations_table
from heron.store.cursor import ReadCursor
from heron.store.deadline import deadline
from heron.store.experiment_reads import ExperimentQuery
from heron.store.experiment_results import RunResults
from heron.store.idfilter import TraceIdFilter
from heron.store.recovery import open_database
from heron.store.schema import migrate
from heron.store.scorewrites import upsert_scores
from heron.store.writes import WriteResult, write_batch


def store_options(settings: Settings) -> dict[str, Any]:
    """The :class:`EmbeddedStore` keyword arguments the settings give."""
    return {
        "memory_limit": settings.memory_limit,
        "query_timeout_s": settings.query_timeout_s or None,
        "metrics_limits": MetricsLimits(settings.metrics_max_buckets, settings.metrics_max_cells),
    }


class EmbeddedStore:
    """heron's storage on an embedded DuckDB file (see :class:`heron.store.base.Store`)."""

    def __init__(
        self,
        path: Path | str,
        *,
        memory_limit: str | None = None,
        query_timeout_s: float | None = None,
        metrics_limits: MetricsLimits | None = None,
    ) -> None:
        self.path = Path(path)
        self.query_timeout_s = query_timeout_s  # metrics and compare; None: no limit
        self.metrics_limits = metrics_limits or MetricsLimits()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"checkpoint_threshold": "256MB"}
        if memory_limit:
            config["memory_limit"] = memory_limit
        self._db = open_database(self.path, config)
        with self._db.cursor() as con:  # closed: no result of it stays open (see cursor.py)
            migrate(con)
            self._change_seq = runnerdb.change_position(con)
        self._changed = threading.Condition()  # notified when a batch commits (the runner)
        self._wakeups = 0  # bumped by wake_waiters: a stopping runner stops waiting at once
        self._local = threading.local()
        self._admin_lock = threading.Lock()
        self._write_lock = threading.Lock()  # batches and deletions, one at a time
        self._writer = self._db.cursor()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._trace_filter: TraceIdFilter | None = None

    def _stored_trace_ids(self) -> Iterable[str]:
        cur = self._db.cursor()
        try:
            cur.execute("SELECT id FROM traces")
            while rows := cur.fetchmany(100_000):
                for (trace_id,) in rows:
                    yield trace_id
        finally:
            cur.close()

    def close(self) -> None:
        with self._cursors_lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
        self._writer.close()
        self._db.close()

    # -- reads -------------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor (a :class:`ReadCursor`, used as a DuckDB cursor)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = ReadCursor(self._db.cursor())
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def list_traces(self, project_id: str, q: reads.ListQuery) -> reads.Page:
        return reads.list_traces(self.cursor(), project_id, q)

    def count_traces(self, project_id: str, q: reads.ListQuery) -> int:
        """How many traces match the list's filters and search."""
        return reads.count_traces(self.cursor(), project_id, q)

    def get_trace(self, project_id: str, trace_id: str) -> dict[str, Any]:
        return reads.get_trace(self.cursor(), project_id, trace_id)

    def list_observations(self, project_id: str, q: reads.ListQuery) -> reads.Page:
        return reads.list_observations(self.cursor(), project_id, q)

    def list_sessions(self, project_id: str, q: reads.ListQuery) -> reads.Page:
        return reads.list_sessions(self.cursor(), project_id, q)

    def get_session(self, project_id: str, session_id: str) -> dict[str, Any]:
        return reads.get_session(self.cursor(), project_id, session_id)

    def list_users(self, project_id: str, q: reads.ListQuery) -> reads.Page:
        return reads.list_users(self.cursor(), project_id, q)

    def user_days(self, project_id: str, user_id: str, since: datetime) -> list[dict[str, Any]]:
        """An end user's traces, cost and score averages per day (see :func:`reads.user_days`)."""
        return reads.user_days(self.cursor(), project_id, user_id, since)

    def metrics(self, project_id: str, query: MetricsQuery) -> list[dict[str, Any]]:
        """A metrics query (see :mod:`heron.query.metrics`) over the project's data."""
        cur = self.cursor()
        with deadline(cur, self.query_timeout_s, "the metrics query"):
            return metricsmod.run_metrics(cur, project_id, query, self.metrics_limits)

    def model_call_totals(
        self, project_id: str, settled_before: datetime
    ) -> list[llmstats.SeriesTotals]:
        """Cumulative model-call totals by (model, trace name); see :mod:`.llmstats`."""
        return llmstats.model_call_totals(self.cursor(), project_id, settled_before)

    def trace_totals(
        self, project_id: str, settled_before: datetime
    ) -> list[llmstats.SeriesTotals]:
        """Cumulative trace totals by trace name; see :mod:`.llmstats`."""
        return llmstats.trace_totals(self.cursor(), project_id, settled_before)

    def score_totals(
        self, project_id: str, keep: Sequence[str], top: int, max_chars: int
    ) -> list[scorestats.ScoreTotals]:
        """Cumulative score totals by (name, source, data type); see :mod:`.scorestats`."""
        return scorestats.score_totals(self.cursor(), project_id, keep, top, max_chars)

    def size_bytes(self) -> int:
        """Bytes on disk: the database file and its write-ahead log."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            with suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def compare(self, project_id: str, query: CompareQuery) -> dict[str, Any]:
        """Two cohorts compared on every metric (see :mod:`heron.compare`)."""
        cur = self.cursor()
        with deadline(cur, self.query_timeout_s, "the comparison"):
            return run_compare(cur, project_id, query)

    def unpriced_models(self, project_id: str) -> list[dict[str, Any]]:
        """Models seen with token usage but no price: the "models without price" list."""
        rows = (
            self.cursor()
            .execute(
                "SELECT model, count(*), sum(total_tokens), max(start_time) FROM observations "
                "WHERE project_id = ? AND model IS NOT NULL AND total_cost IS NULL "
                "AND (input_tokens > 0 OR output_tokens > 0 OR total_tokens > 0) "
                "GROUP BY model ORDER BY count(*) DESC, model",
                [project_id],
            )
            .fetchall()
        )
        return [
            {"model": m, "observations": n, "total_tokens": t, "last_seen": reads.iso(last)}
            for m, n, t, last in rows
        ]

    def observed_models(self, project_id: str) -> list[str]:
        """Every model name the project's observations carry (what a price may re-price)."""
        rows = (
            self.cursor()
            .execute(
                "SELECT DISTINCT model FROM observations WHERE project_id = ? "
                "AND model IS NOT NULL ORDER BY model",
                [project_id],
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    # -- writes ------------------------------------------------------------------------------

    def write_batch(
        self,
        observations: pa.Table | Sequence[ObservationRecord],
        trace_updates: Sequence[TraceUpdate],
        journal_seq: int | None = None,
        price: Callable[[ObservationRecord], dict[str, float] | None] | None = None,
    ) -> WriteResult:
        """Commit one batch (an Arrow table of observations, or records), and with it the
        journal position it reaches. Returns once the data is durable in the write-ahead log.
        ``price`` costs observations merged from several versions (see :func:`write_batch`)."""
        con = self._writer
        now_us = time.time_ns() // 1000
        if not isinstance(observations, pa.Table):
            observations = observations_table(list(observations), now_us)
        if self._trace_filter is None:
            count = self.cursor().execute("SELECT count(*) FROM traces").fetchall()[0]
            self._trace_filter = TraceIdFilter(self._stored_trace_ids, count[0] if count else 0)
        known = self._trace_filter
        runs = experimentdb.item_runs(observations)  # Langfuse experiment spans: run items
        with self._write_lock, self._admin_lock if runs else nullcontext():
            change = self._change_seq + 1
            con.execute("BEGIN TRANSACTION")
            try:
                result = write_batch(
                    con, observations, trace_updates, now_us, known.may_contain, change, price
                )
                if runs:
                    experimentdb.record(con, runs, now_us)
                con.execute("INSERT OR REPLACE INTO meta VALUES ('change_seq', ?)", [str(change)])
                if journal_seq is not None:
                    con.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('journal_applied_seq', ?)",
                        [str(journal_seq)],
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            with self._changed:
                self._change_seq = change
                self._changed.notify_all()
        for _, trace_id in result.trace_ids:
            known.add(trace_id)
        return result

    @contextmanager
    def writes_paused(self) -> Iterator[Path]:
        """Hold every write (span batches and admin changes): until the block ends, neither
        the database file (yielded) nor its write-ahead log changes."""
        with self._write_lock, self._admin_lock:
            yield self.path

    # -- deletion and retention ----------------------------------------------------------------

    @contextmanager
    def _deleting(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction on the writer's connection, never beside a batch or a score write."""
        with self._write_lock, self._admin_lock:
            con = self._writer
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def delete_traces(self, project_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Delete the project's traces with these ids, with their observations, scores and
        signals; returns the ids that were found (other projects' traces are never touched)."""
        with self._deleting() as con:
            return deletion.delete_by_ids(con, project_id, trace_ids)

    def delete_traces_before(self, project_id: str, cutoff: datetime) -> int:
        """Delete the project's traces that started before ``cutoff`` (with observations,
        scores, comments and signals), its session scores and signals older than it and the
        comments of sessions left without traces, a chunk per transaction; returns the
        number of traces deleted."""
        if cutoff.tzinfo is not None:
            cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
        total = 0
        while True:
            with self._deleting() as con:
                ids = deletion.oldest_trace_ids(con, project_id, cutoff)
                if not ids:
                    deletion.delete_loose_scores(con, project_id, cutoff)
                    deletion.delete_old_signals(con, project_id, cutoff)
                    commentdb.delete_session_orphans(con, project_id)
                    deletion.delete_session_items(con, project_id)
                    return total
                total += deletion.delete_chunk(con, project_id, ids)

    def reprice(
        self,
        project_id: str,
        models: Sequence[str],
        price: repricing.PriceFn,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = repricing.CHUNK,
    ) -> int:
        """Recompute the cost of the project's observations of ``models`` with ``price``
        (model, usage, start µs → cost map or ``None``), keeping costs the client sent, and
        the touched traces' total cost; a chunk per transaction on the writer's connection.
        ``progress(done, total)`` is called after each chunk. Returns the number recomputed."""
        models = sorted(set(models))
        total = repricing.count(self.cursor(), project_id, models)
        if progress:
            progress(0, total)
        done = 0
        after: tuple[str, str] | None = None
        while True:
            with self._deleting() as con:
                n, after = repricing.reprice_chunk(con, project_id, models, price, after, chunk)
            done += n
            if progress:
                progress(done, max(total, done))
            if after is None or n < chunk:
                return done

    def set_retention(self, project_id: str, days: int | None) -> None:
        """Keep the project's traces ``days`` days (``None``: forever)."""
        with self._admin() as cur:
            projectdb.set_retention(cur, project_id, days)

    # -- the background runner (heron.runner) -------------------------------------------------

    def change_position(self) -> int:
        """The change marker of the last committed batch (0: none yet)."""
        return self._change_seq

    def wait_for_change(self, after: int, timeout_s: float) -> int:
        """Block until a batch past ``after`` commits, at most ``timeout_s``; returns the
        change marker then."""
        with self._changed:
            woken = self._wakeups
            self._changed.wait_for(
                lambda: self._change_seq > after or self._wakeups != woken, timeout_s
            )
            return self._change_seq

    def wake_waiters(self) -> None:
        """End every :meth:`wait_for_change` under way now (a runner stopping, a job queued)."""
        with self._changed:
            self._wakeups += 1
            self._changed.notify_all()

    def changed_traces(self, after: int, upto: int) -> list[tuple[str, str, str]]:
        """(project id, trace id, session id) of traces changed by batches in (after, upto]."""
        return runnerdb.changed(self.cursor(), after, upto)

    def score_changed_traces(self, after: int, upto: int, task: str) -> list[tuple[str, str]]:
        """(project id, trace id) whose scores changed under markers in (after, upto],
        except by runner task ``task`` itself."""
        return signaldb.score_changed(self.cursor(), after, upto, task)

    def prune_score_changes(self, upto: int) -> None:
        """Forget the score feed's changes up to marker ``upto``."""
        with self._deleting() as con:
            signaldb.prune_score_changes(con, upto)

    def target_traces(
        self, project_id: str, scope: str, targets: Sequence[str], fields: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Each session's (or trace's) traces in time order, with ``fields``."""
        return runnerdb.target_traces(self.cursor(), project_id, scope, targets, fields)

    def runner_cursor(self, task: str) -> int | None:
        """The change marker up to which ``task``'s work is done (None: never ran)."""
        return runnerdb.get_cursor(self.cursor(), task)

    def runner_commit(
        self,
        work: Sequence[runnerdb.WorkDone],
        cursors: dict[str, int] | None = None,
        job: runnerdb.JobProgress | None = None,
        *,
        holder: str | None = None,
    ) -> None:
        """One transaction on the writer's connection: the work's scores (replacing what the
        same task wrote on the same target before), then the cursors and the job progress it
        completes, so a position is never ahead of its work. ``holder`` (the runner's lease
        holder) needs no check: one process opens the store (see :meth:`runner_lease`)."""
        previous = runnerdb.previous_outputs(self.cursor(), work)
        scores = [s for w in work for s in w.scores]
        with self._score_change(work[0].task if scores else None, scores) as con:
            runnerdb.commit_work(con, work, previous)
            for task, position in (cursors or {}).items():
                runnerdb.set_cursor(con, task, position)
            if job is not None:
                runnerdb.save_progress(con, job)

    @contextmanager
    def _score_change(
        self, task: str | None, scores: Sequence[ScoreRecord]
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction on the writer's connection that writes ``scores`` (by runner task
        ``task``, ``None``: the API): with scores on traces it takes the next change marker
        and records them in the score feed (:mod:`heron.store.signals`), like a batch."""
        traced = [(s.project_id, s.trace_id) for s in scores if s.trace_id]
        with self._write_lock, self._admin_lock:
            con = self._writer
            change = self._change_seq + 1
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                if traced:
                    signaldb.record_score_changes(con, change, traced, task)
                    con.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('change_seq', ?)", [str(change)]
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if traced:
                with self._changed:
                    self._change_seq = change
                    self._changed.notify_all()

    def runner_due(
        self,
        tasks: Sequence[str],
        now: datetime,
        limit: int,
        *,
        holder: str | None = None,
        lease_s: float = 30.0,
    ) -> list[tuple]:
        """(task, project id, target) of re-checks due at ``now`` (one runner: no claims)."""
        return runnerdb.due(self.cursor(), tasks, now, limit)

    def runner_next_due(self, tasks: Sequence[str]) -> datetime | None:
        return runnerdb.next_due(self.cursor(), tasks)

    def runner_outputs(
        self, task: str, project_id: str, targets: Sequence[str]
    ) -> dict[str, list[str]]:
        """The score ids ``task``'s last run wrote on each target."""
        return runnerdb.outputs(self.cursor(), task, project_id, targets)

    def runner_work(self, task: str, project_id: str, target: str) -> dict[str, Any] | None:
        """What ``task`` last did on ``target``: version, score ids, when."""
        return runnerdb.work_done(self.cursor(), task, project_id, target)

    def create_runner_job(self, job_id: str, project_id: str, spec: dict[str, Any]) -> None:
        with self._admin() as cur:
            runnerdb.insert_job(cur, job_id, project_id, spec)

    def runner_jobs(
        self, project_id: str | None = None, active: bool = False
    ) -> list[dict[str, Any]]:
        """Backfill jobs, newest first (one project's, or all with ``None``); ``active``:
        the queued and running ones, oldest first."""
        return runnerdb.list_jobs(self.cursor(), project_id, active)

    def runner_job(self, job_id: str) -> dict[str, Any] | None:
        return runnerdb.get_job(self.cursor(), job_id)

    def update_runner_job(self, job_id: str, **values: Any) -> bool:
        """Change a queued or running job (status, total, phase, after, error); False if it
        had ended (a cancelled job stays cancelled)."""
        with self._admin() as cur:
            return runnerdb.update_job(cur, job_id, **values)

    def count_runner_targets(
        self, project_id: str, scope: str, start: datetime | None, end: datetime | None
    ) -> int:
        return runnerdb.count_targets(self.cursor(), project_id, scope, start, end)

    def next_runner_targets(
        self,
        project_id: str,
        scope: str,
        start: datetime | None,
        end: datetime | None,
        after: str | None,
        limit: int,
    ) -> list[str]:
        return runnerdb.next_targets(self.cursor(), project_id, scope, start, end, after, limit)

    def runner_lease(self, key: str, holder: str, seconds: float) -> bool:
        """Always held: DuckDB lets one process open the store, so one runner works on it
        (the cluster backend's runners share leases in PostgreSQL)."""
        return True

    def runner_release(self, holder: str, keys: Sequence[str] | None = None) -> None:
        """Nothing to give up (see :meth:`runner_lease`)."""

    # -- projects and keys ---------------------------------------------------------------------

    @contextmanager
    def _admin(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._admin_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def list_projects(self) -> list[dict[str, Any]]:
        return projectdb.list_projects(self.cursor())

    def project_by_name(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.list_projects() if p["name"] == name), None)

    def create_project(self, name: str, owner_id: str | None = None) -> dict[str, Any]:
        """A new project; ``owner_id`` (a web user) becomes its owner."""
        with self._admin() as cur:
            project = projectdb.create_project(cur, name, owner_id)
        self._checkpoint_quietly()
        return project

    def create_key(
        self,
        project_id: str,
        public_key: str | None = None,
        secret_key: str | None = None,
        scope: str = keymod.DEFAULT_SCOPE,
    ) -> dict[str, str]:
        """A new key pair for a project. The secret is returned once and stored hashed."""
        keymod.check_scope(scope)
        public_key = public_key or keymod.new_public_key()
        secret_key = secret_key or keymod.new_secret_key()
        with self._admin() as cur:
            pair = projectdb.create_key(cur, project_id, public_key, secret_key, scope)
        self._checkpoint_quietly()
        return pair

    def list_keys(self, project_id: str | None = None) -> list[dict[str, Any]]:
        return projectdb.list_keys(self.cursor(), project_id)

    def key_table(self) -> dict[str, tuple[str, str, str]]:
        """secret hash -> (public key, project id, scope), for the authenticator's cache."""
        return projectdb.key_table(self.cursor())

    def has_key(self, public_key: str) -> bool:
        return projectdb.has_key(self.cursor(), public_key)

    # -- project settings: rename, members, invitations, revoking keys -------------------------

    def rename_project(self, project_id: str, name: str) -> dict[str, Any]:
        with self._admin() as cur:
            return members.rename_project(cur, project_id, name)

    def revoke_key(self, project_id: str, public_key: str) -> None:
        """Delete a key (callers refresh the authenticator's cache so it stops at once)."""
        with self._admin() as cur:
            members.revoke_key(cur, project_id, public_key)

    def list_members(self, project_id: str) -> list[dict[str, Any]]:
        return members.list_members(self.cursor(), project_id)

    def add_member(self, project_id: str, user_id: str, role: str) -> None:
        with self._admin() as cur:
            members.add_member(cur, project_id, user_id, role)

    def set_member_role(self, project_id: str, user_id: str, role: str) -> None:
        with self._admin() as cur:
            members.set_role(cur, project_id, user_id, role)

    def remove_member(self, project_id: str, user_id: str) -> None:
        with self._admin() as cur:
            members.remove_member(cur, project_id, user_id)

    def create_invite(
        self, project_id: str, role: str, created_by: str | None = None
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return members.create_invite(cur, project_id, role, created_by)

    def peek_invite(self, token: str) -> dict[str, Any] | None:
        return members.peek_invite(self.cursor(), token)

    def accept_invite(
        self, token: str, user_id: str | None = None, email: str = "", password: str = ""
    ) -> dict[str, Any] | None:
        """Spend an invitation: add ``user_id``, or a new user (email, password) to its project
        with its role. None if the token is unknown, spent or expired."""
        hashed = None
        if user_id is None:
            usermod.check_new_password(password)
            hashed = usermod.hash_password(password)  # slow on purpose: outside the lock
        with self._admin() as cur:
            invite = members.spend_invite(cur, token)
            if invite is None:
                return None
            if user_id is None:
                assert hashed is not None
                user_id = usermod.create_user(cur, email, hashed, False, [])["id"]
            members.add_member(cur, invite["project_id"], user_id, invite["role"])
            return {**invite, "user_id": user_id}

    # -- web users and sessions ------------------------------------------------------------------

    def create_user(
        self,
        email: str,
        password: str,
        *,
        is_admin: bool = False,
        project_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A web UI user (admins join every project). The password is stored hashed."""
        usermod.check_new_password(password)
        hashed = usermod.hash_password(password)  # slow on purpose: outside the lock
        with self._admin() as cur:
            return usermod.create_user(cur, email, hashed, is_admin, list(project_ids))

    def set_password(self, email: str, password: str) -> None:
        usermod.check_new_password(password)
        hashed = usermod.hash_password(password)
        with self._admin() as cur:
            usermod.set_password(cur, email, hashed)

    def list_accounts(self) -> list[dict[str, Any]]:
        """Web UI users, oldest first (``list_users`` is the traces' end users)."""
        return usermod.list_users(self.cursor())

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        return usermod.user_by_email(self.cursor(), email)

    def check_login(self, email: str, password: str) -> dict[str, Any] | None:
        return usermod.check_login(self.cursor(), email, password)

    def user_projects(self, user_id: str) -> list[dict[str, Any]]:
        return usermod.user_projects(self.cursor(), user_id)

    def create_web_session(self, user_id: str, ttl_s: float) -> dict[str, str]:
        with self._admin() as cur:
            return usermod.create_session(cur, user_id, ttl_s)

    def web_session(self, token: str) -> dict[str, Any] | None:
        return usermod.session_user(self.cursor(), token)

    def delete_web_session(self, token: str) -> None:
        with self._admin() as cur:
            usermod.delete_session(cur, token)

    def create_login_token(self, user_id: str, ttl_s: float) -> str:
        with self._admin() as cur:
            return usermod.create_login_token(cur, user_id, ttl_s)

    def use_login_token(self, token: str) -> dict[str, Any] | None:
        with self._admin() as cur:
            return usermod.use_login_token(cur, token)

    # -- scores ------------------------------------------------------------------------------

    def write_scores(self, scores: Sequence[ScoreRecord], *, replace: bool = True) -> None:
        """Store scores; a score whose id exists in the project replaces it (keeping when it
        was first stored, ``created_at``), or, with ``replace=False``, makes the whole call a
        409 naming the id (nothing is written)."""
        if not scores:
            return
        with self._score_change(None, scores) as cur:
            upsert_scores(cur, scores, replace=replace)

    # -- browser feedback settings -----------------------------------------------------------

    def feedback_settings(self, project_id: str) -> dict[str, Any]:
        return feedback.get(self.cursor(), project_id)

    def set_feedback_settings(
        self, project_id: str, origins: list[str], names: list[str]
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return feedback.put(cur, project_id, origins, names)

    def all_feedback_settings(self) -> dict[str, dict[str, Any]]:
        return feedback.all_settings(self.cursor())

    def list_scores(
        self, project_id: str, f: scoremod.ScoreFilter, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return scoremod.list_scores(self.cursor(), project_id, f, page, limit)

    def scan_scores(
        self, project_id: str, f: scoremod.ScoreFilter, limit: int
    ) -> list[dict[str, Any]]:
        return scoremod.scan_scores(self.cursor(), project_id, f, limit)

    def get_score(self, project_id: str, score_id: str) -> dict[str, Any] | None:
        return scoremod.get_score(self.cursor(), project_id, score_id)

    def delete_score(self, project_id: str, score_id: str) -> bool:
        with self._admin() as cur:
            return scoremod.delete_score(cur, project_id, score_id)

    def list_score_configs(
        self, project_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return scoremod.list_configs(self.cursor(), project_id, page, limit)

    def score_configs_by_id(
        self, project_id: str, config_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return scoremod.configs_by_id(self.cursor(), project_id, sorted(set(config_ids)))

    def put_score_config(self, project_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a config (checked by :mod:`heron.scores.configs`); returns it."""
        with self._admin() as cur:
            scoremod.put_config(cur, project_id, config)
            return scoremod.configs_by_id(cur, project_id, [config["id"]])[config["id"]]

    # -- saved views and suggestions -------------------------------------------------------

    def list_saved_views(self, project_id: str) -> list[dict[str, Any]]:
        return saved.list_views(self.cursor(), project_id)

    def get_saved_view(self, project_id: str, view_id: str) -> dict[str, Any] | None:
        return saved.get_view(self.cursor(), project_id, view_id)

    def create_saved_view(
        self, project_id: str, view_id: str, name: str, query: str, created_by: str
    ) -> None:
        with self._admin() as cur:
            saved.create_view(cur, project_id, view_id, name, query, created_by)

    def delete_saved_view(self, project_id: str, view_id: str) -> bool:
        with self._admin() as cur:
            return saved.delete_view(cur, project_id, view_id)

    def recent_filter_values(self, project_id: str) -> dict[str, list[str]]:
        return saved.recent_values(self.cursor(), project_id)

    # -- dashboards ------------------------------------------------------------------------

    def list_dashboards(self, project_id: str) -> list[dict[str, Any]]:
        return dashmod.list_dashboards(self.cursor(), project_id)

    def get_dashboard(self, project_id: str, dashboard_id: str) -> dict[str, Any] | None:
        return dashmod.get_dashboard(self.cursor(), project_id, dashboard_id)

    def create_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> None:
        with self._admin() as cur:
            dashmod.create_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def update_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> bool:
        with self._admin() as cur:
            return dashmod.update_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def delete_dashboard(self, project_id: str, dashboard_id: str) -> bool:
        with self._admin() as cur:
            return dashmod.delete_dashboard(cur, project_id, dashboard_id)

    def changes(
        self,
        project_id: str,
        trace_filters: Sequence[Filter] = (),
        observation_filters: Sequence[Filter] = (),
    ) -> list[dict[str, Any]]:
        """Releases, versions and prompt versions with when each first appeared."""
        return dashmod.changes(self.cursor(), project_id, trace_filters, observation_filters)

    # -- prices ------------------------------------------------------------------------------

    def list_prices(self, project_id: str) -> list[dict[str, Any]]:
        return pricedb.list_prices(self.cursor(), project_id)

    def put_price(self, project_id: str, entry: dict[str, Any]) -> None:
        with self._admin() as cur:
            pricedb.put_price(cur, project_id, entry)

    def delete_price(self, project_id: str, entry_id: str) -> None:
        with self._admin() as cur:
            pricedb.delete_price(cur, project_id, entry_id)

    # -- implicit-feedback settings (heron.implicit) ------------------------------------------

    def implicit_settings(self, project_id: str) -> dict[str, Any] | None:
        """The project's stored detector settings (JSON-shaped), None: the defaults."""
        return feedback.implicit_settings(self.cursor(), project_id)

    def set_implicit_settings(self, project_id: str, settings: dict[str, Any] | None) -> None:
        """Store the project's detector settings (validated by the caller); None: defaults."""
        with self._admin() as cur:
            feedback.set_implicit_settings(cur, project_id, settings)

    # -- notification channels, the outbox's delivery, the delivery log (heron.signals) ------

    def list_channels(self, project_id: str) -> list[dict[str, Any]]:
        return channeldb.list_channels(self.cursor(), project_id)

    def get_channel(
        self, project_id: str, name: str, with_secret: bool = False
    ) -> dict[str, Any] | None:
        return channeldb.get_channel(self.cursor(), project_id, name, with_secret)

    def put_channel(
        self,
        project_id: str,
        name: str,
        spec: dict[str, Any],
        secret: str | None,
        secret_hint: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Create or update (``secret`` encrypted by the caller; ``None`` keeps it)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return channeldb.put_channel(cur, project_id, name, spec, secret, secret_hint)

    def delete_channel(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return channeldb.delete_channel(cur, project_id, name)

    def claim_notifications(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Lease the notifications due at ``now`` (see :func:`heron.store.channels.claim_due`)."""
        with self._admin() as cur:
            return channeldb.claim_due(cur, now, lease_until, limit)

    def enqueue_notifications(
        self, project_id: str, channels: Sequence[str], event: dict[str, Any]
    ) -> list[str]:
        """Outbox rows for an event in a transaction of their own (a producer announcing a
        change it writes calls :func:`heron.signals.outbox.enqueue` in that change's
        transaction instead)."""
        with self._admin() as cur:
            return outbox.enqueue(cur, project_id, channels, event)

    def release_notifications(self, ids: Sequence[str], at: datetime) -> None:
        with self._admin() as cur:
            channeldb.release(cur, ids, at)

    def next_notification_due(self) -> datetime | None:
        return channeldb.next_due(self.cursor())

    def notifications(self, project_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        return channeldb.notifications(self.cursor(), project_id, ids)

    def record_deliveries(self, attempts: Sequence[dict[str, Any]]) -> None:
        """Log attempts and move their notifications on (one transaction)."""
        if attempts:
            with self._admin() as cur:
                channeldb.record_attempts(cur, attempts)

    def channel_deliveries(
        self, project_id: str, channel: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        return channeldb.deliveries(self.cursor(), project_id, channel, limit)

    # -- end of notification channels ---------------------------------------------------------
    # -- alerts on aggregates (heron.signals.alerts; heron.store.alerts) -----------------------

    def list_alerts(self, project_id: str | None) -> list[dict[str, Any]]:
        """A project's alerts with their states (``None``: every project's), by name."""
        return alertdb.list_alerts(self.cursor(), project_id)

    def get_alert(self, project_id: str, name: str) -> dict[str, Any] | None:
        return alertdb.get_alert(self.cursor(), project_id, name)

    def put_alert(self, project_id: str, name: str, spec: dict[str, Any]) -> str:
        """Create or replace: ``created``, ``updated`` or ``unchanged``."""
        with self._admin() as cur:
            return alertdb.put_alert(cur, project_id, name, spec)

    def delete_alert(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return alertdb.delete_alert(cur, project_id, name)

    def alert_history(
        self,
        project_id: str,
        name: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """An alert's evaluations, newest first."""
        return alertdb.alert_history(self.cursor(), project_id, name, start, end, limit)

    def record_alert_evaluation(self, evaluation: alertdb.Evaluation) -> bool:
        """The evaluation, the alert's state and its notification in one transaction."""
        with self._admin() as cur:
            return alertdb.record_evaluation(cur, evaluation)

    # -- end of alerts ---------------------------------------------------------------------------

    # -- error analysis (heron.analysis; heron.store.analysis) ---------------------------------

    def analysis_notes(
        self, project_id: str, q: analysisdb.NoteQuery, limit: int
    ) -> list[tuple[str, str, str]]:
        """Notes ``(id, trace id, text)`` an error analysis reads (oldest first)."""
        return analysisdb.read_notes(self.cursor(), project_id, q, limit)

    def create_error_analysis(
        self,
        project_id: str,
        analysis: dict[str, Any],
        categories: Sequence[dict[str, Any]],
        notes: Sequence[tuple[str, str, str, str]],
    ) -> None:
        with self._admin() as cur:
            analysisdb.create_analysis(cur, project_id, analysis, categories, notes)

    def get_error_analysis(self, project_id: str, analysis_id: str) -> dict[str, Any] | None:
        return analysisdb.get_analysis(self.cursor(), project_id, analysis_id)

    def list_error_analyses(self, project_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return analysisdb.list_analyses(self.cursor(), project_id, limit)

    def edit_error_analysis(
        self, project_id: str, analysis_id: str, edits: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """Rename, add, move, delete ... in one transaction (see heron.store.analysis)."""
        with self._admin() as cur:
            analysisdb.apply_edits(cur, project_id, analysis_id, edits)

    def trace_environments(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> dict[str, str | None]:
        return analysisdb.trace_environments(self.cursor(), project_id, trace_ids)

    # -- end of error analysis -----------------------------------------------------------------

    # -- evaluators and LLM connections ----------------------------------------------------

    def list_evaluators(
        self, project_id: str | None, active_only: bool = False
    ) -> list[dict[str, Any]]:
        """A project's evaluators (``None``: every project's), by name."""
        return evaldb.list_evaluators(self.cursor(), project_id, active_only)

    def get_evaluator(self, project_id: str, name: str) -> dict[str, Any] | None:
        return evaldb.get_evaluator(self.cursor(), project_id, name)

    def put_evaluator(
        self, project_id: str, name: str, spec: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """Create, or version when the spec changed (validated by the caller)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return evaldb.put_evaluator(cur, project_id, name, spec)

    def set_evaluator_status(
        self, project_id: str, evaluator_id: str, status: str, reason: str | None = None
    ) -> bool:
        with self._admin() as cur:
            return evaldb.set_status(cur, project_id, evaluator_id, status, reason)

    def delete_evaluator(self, project_id: str, evaluator_id: str) -> bool:
        with self._admin() as cur:
            return evaldb.delete_evaluator(cur, project_id, evaluator_id)

    def evaluator_versions(self, project_id: str, evaluator_id: str) -> list[dict[str, Any]]:
        return evaldb.versions(self.cursor(), project_id, evaluator_id)

    def record_evaluator_runs(
        self, stats: Sequence[dict[str, Any]], log: Sequence[dict[str, Any]]
    ) -> None:
        """Add run counts and log lines (see :func:`heron.store.evaluators.record_runs`)."""
        if stats or log:
            with self._admin() as cur:
                evaldb.record_runs(cur, stats, log)

    def evaluator_stats(self, project_id: str, evaluator_id: str) -> list[dict[str, Any]]:
        return evaldb.stats(self.cursor(), project_id, evaluator_id)

    def evaluator_log(
        self, project_id: str, evaluator_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        return evaldb.log_lines(self.cursor(), project_id, evaluator_id, limit)

    def list_connections(self, project_id: str) -> list[dict[str, Any]]:
        return evaldb.list_connections(self.cursor(), project_id)

    def get_connection(
        self, project_id: str, name: str, with_key: bool = False
    ) -> dict[str, Any] | None:
        return evaldb.get_connection(self.cursor(), project_id, name, with_key)

    def put_connection(
        self,
        project_id: str,
        name: str,
        spec: dict[str, Any],
        api_key: str | None,
        api_key_hint: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Create or update (``api_key`` encrypted by the caller; ``None`` keeps it)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return evaldb.put_connection(cur, project_id, name, spec, api_key, api_key_hint)

    def delete_connection(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return evaldb.delete_connection(cur, project_id, name)

    def matching_traces(
        self, project_id: str, ids: Sequence[str], filters: Sequence[Filter]
    ) -> set[str]:
        return evaldb.matching_traces(self.cursor(), project_id, ids, filters)

    def matching_observations(
        self, project_id: str, trace_ids: Sequence[str], filters: Sequence[Filter]
    ) -> list[dict[str, Any]]:
        return evaldb.matching_observations(self.cursor(), project_id, trace_ids, filters)

    # -- trace rules, signals and issues (heron.signals) ----------------------------------

    def list_signal_rules(self, project_id: str | None) -> list[dict[str, Any]]:
        """Stored rules and built-in overrides (one project's; every project's with None)."""
        return signaldb.list_rules(self.cursor(), project_id)

    def put_signal_rule(self, project_id: str, name: str, spec: dict[str, Any]) -> str:
        """Store a checked rule; ``created``, ``updated`` or ``unchanged``."""
        with self._admin() as cur:
            return signaldb.put_rule(cur, project_id, name, spec, _utcnow())

    def delete_signal_rule(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return signaldb.delete_rule(cur, project_id, name)

    def signal_percentiles(
        self, project_id: str, column: str, fraction: float, since: datetime, min_traces: int
    ) -> dict[str, float]:
        """Per trace name, a quantile of latency_ms or total_cost since ``since``."""
        return signaldb.percentiles(self.cursor(), project_id, column, fraction, since, min_traces)

    def trace_scores(self, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
        return signaldb.trace_scores(self.cursor(), project_id, trace_ids)

    def trace_calls(self, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Tool and model calls of the traces, in time order."""
        return signaldb.calls(self.cursor(), project_id, trace_ids)

    def signal_trace_matches(
        self, project_id: str, ids: Sequence[str], rules: dict[str, list[Filter]]
    ) -> dict[str, set[str]]:
        """Which traces each rule's filters match (one scan for all rules)."""
        return signaldb.match_traces(self.cursor(), project_id, ids, rules)

    def signal_observation_matches(
        self, project_id: str, trace_ids: Sequence[str], rules: dict[str, list[Filter]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The observations each rule's filters match (one scan for all rules)."""
        return signaldb.match_observations(self.cursor(), project_id, trace_ids, rules)

    def write_signals(
        self,
        signals: Sequence[signaldb.Signal],
        notify: dict[tuple[str, str], Sequence[str]],
    ) -> list[signaldb.Signal]:
        """Signals, issue transitions and their notifications in one transaction (see
        :func:`heron.store.signals.write_signals`); returns the signals that were new."""
        if not signals:
            return []
        with self._deleting() as con:
            return signaldb.write_signals(con, signals, notify, _utcnow())

    def list_signals(self, project_id: str, **query: Any) -> tuple[list[dict[str, Any]], int]:
        return signaldb.list_signals(self.cursor(), project_id, **query)

    def list_issues(self, project_id: str, **query: Any) -> tuple[list[dict[str, Any]], int]:
        return signaldb.list_issues(self.cursor(), project_id, _utcnow(), **query)

    def get_issue(self, project_id: str, issue_id: str) -> dict[str, Any] | None:
        return signaldb.get_issue(self.cursor(), project_id, issue_id, _utcnow())

    def issue_detail(
        self, project_id: str, issue_id: str, end: datetime, bucket: Any, buckets: int
    ) -> dict[str, Any]:
        return signaldb.issue_detail(self.cursor(), project_id, issue_id, end, bucket, buckets)

    def set_issue_status(
        self,
        project_id: str,
        issue_ids: Sequence[str],
        status: str,
        *,
        more: int | None = None,
        until: datetime | None = None,
    ) -> list[str]:
        """Set issues' status (``ignored`` optionally until ``more`` signals or ``until``)."""
        with self._deleting() as con:
            return signaldb.set_issue_status(
                con, project_id, issue_ids, status, _utcnow(), more=more, until=until
            )

    # -- end of trace rules ------------------------------------------------------------------

    # -- comments (issue 16; heron.store.comments) ------------------------------------------

    def create_comment(
        self,
        project_id: str,
        object_type: str,
        object_id: str,
        content: str,
        author_user_id: str | None,
        trace_hint: str | None = None,
    ) -> dict[str, Any]:
        """Store a comment on a trace, observation or session of the project (404 naming the
        object when it has none); ``trace_hint`` is an observation's trace when known."""
        with self._admin() as cur:
            return commentdb.create_comment(
                cur, project_id, object_type, object_id, content, author_user_id, trace_hint
            )

    def list_comments(
        self, project_id: str, f: commentdb.CommentFilter, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the project's comments matching ``f``, newest first, and the total."""
        return commentdb.list_comments(self.cursor(), project_id, f, page, limit)

    def get_comment(self, project_id: str, comment_id: str) -> dict[str, Any] | None:
        return commentdb.get_comment(self.cursor(), project_id, comment_id)

    def update_comment(
        self, project_id: str, comment_id: str, content: str
    ) -> dict[str, Any] | None:
        with self._admin() as cur:
            return commentdb.update_comment(cur, project_id, comment_id, content)

    def delete_comment(self, project_id: str, comment_id: str) -> bool:
        with self._admin() as cur:
            return commentdb.delete_comment(cur, project_id, comment_id)

    # -- end of comments -------------------------------------------------------------------

    # -- experiments (issue 17; heron.store.experiment_reads) ------------------------------

    def list_experiments(self, project_id: str, q: ExperimentQuery) -> list[dict[str, Any]]:
        return expreads.list_experiments(self.cursor(), project_id, q)

    def list_experiment_items(self, project_id: str, q: ExperimentQuery) -> list[dict[str, Any]]:
        return expreads.list_experiment_items(self.cursor(), project_id, q)

    # -- end of experiments ----------------------------------------------------------------

    def alert_series(
        self,
        project_id: str,
        query: dict[str, Any],
        window: timedelta,
        times: Iterable[datetime],
        *,
        time_limit: bool = True,
    ) -> dict[datetime, alertseries.Point]:
        """An alert's ``query`` (a checked alert spec's) over ``[t - window, t)`` for each of
        ``times`` (see :mod:`.alert_series`); within the query time limit unless
        ``time_limit`` is False (the runner's evaluations)."""
        cur = self.cursor()
        seconds = self.query_timeout_s if time_limit else None
        with deadline(cur, seconds, "the alert's query"):
            return alertseries.series(cur, project_id, query, window, times)

    # -- alignment of evaluators with people's labels (heron.store.alignment) -------------

    def human_labels(self, project_id: str, name: str, source: str) -> list[dict[str, Any]]:
        """The latest trace-level score ``name`` of ``source`` on each trace, by trace id."""
        return aligndb.human_labels(self.cursor(), project_id, name, source)

    def create_alignment(self, project_id: str, run: dict[str, Any]) -> None:
        with self._admin() as cur:
            aligndb.create_run(cur, project_id, run)

    def set_alignment_job(self, project_id: str, run_id: str, job_id: str) -> None:
        with self._admin() as cur:
            aligndb.set_job(cur, project_id, run_id, job_id)

    def put_alignment_items(
        self, project_id: str, run_id: str, items: Sequence[dict[str, Any]]
    ) -> None:
        with self._admin() as cur:
            aligndb.put_items(cur, project_id, run_id, items)

    def get_alignment(self, project_id: str, run_id: str) -> dict[str, Any] | None:
        return aligndb.get_run(self.cursor(), project_id, run_id)

    def latest_alignment(
        self, project_id: str, evaluator_id: str, version: int | None
    ) -> dict[str, Any] | None:
        return aligndb.latest_run(self.cursor(), project_id, evaluator_id, version)

    def alignment_items(self, project_id: str, run_id: str) -> list[dict[str, Any]]:
        return aligndb.run_items(self.cursor(), project_id, run_id)

    # -- end of alignment ------------------------------------------------------------------

    # -- annotation queues (heron.annotation; heron.store.annotation) ---------------------------

    def create_annotation_queue(self, project_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A new queue from a checked spec (:func:`heron.annotation.spec.check_queue`)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return annodb.create_queue(cur, project_id, spec)

    def update_annotation_queue(
        self, project_id: str, queue_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return annodb.update_queue(cur, project_id, queue_id, changes)

    def delete_annotation_queue(self, project_id: str, queue_id: str) -> bool:
        with self._admin() as cur:
            return annodb.delete_queue(cur, project_id, queue_id)

    def list_annotation_queues(self, project_id: str) -> list[dict[str, Any]]:
        return annodb.list_queues(self.cursor(), project_id)

    def get_annotation_queue(self, project_id: str, queue_id_or_name: str) -> dict[str, Any] | None:
        return annodb.get_queue(self.cursor(), project_id, queue_id_or_name)

    def add_queue_items(
        self, project_id: str, queue_id: str, items: Sequence[tuple[str, str]]
    ) -> int:
        """Add ``(object_type, object_id)`` pairs; objects already queued are skipped."""
        with self._admin() as cur:
            return annodb.add_items(cur, project_id, queue_id, items)

    def list_queue_items(
        self,
        project_id: str,
        queue_id: str,
        status: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        return annodb.list_items(self.cursor(), project_id, queue_id, status, page, limit)

    def get_queue_item(self, project_id: str, queue_id: str, item_id: str) -> dict[str, Any] | None:
        return annodb.get_item(self.cursor(), project_id, queue_id, item_id)

    def update_queue_item(
        self, project_id: str, queue_id: str, item_id: str, status: str
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return annodb.update_item(cur, project_id, queue_id, item_id, status)

    def delete_queue_item(self, project_id: str, queue_id: str, item_id: str) -> bool:
        with self._admin() as cur:
            return annodb.delete_item(cur, project_id, queue_id, item_id)

    def object_queues(
        self, project_id: str, object_type: str, object_id: str
    ) -> list[dict[str, Any]]:
        """The queues holding an object: ``[{queue_id, item_id, status}]``."""
        return annodb.queue_objects(self.cursor(), project_id, object_type, object_id)

    def claim_queue_item(
        self,
        project_id: str,
        queue_id: str,
        user_id: str,
        lease_s: float = 600,
        item_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Hold an item for one annotator (atomic: see :func:`heron.store.annotation.claim`)."""
        with self._admin() as cur:
            return annodb.claim(cur, project_id, queue_id, user_id, lease_s, item_id)

    def release_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str
    ) -> bool:
        with self._admin() as cur:
            return annodb.release(cur, project_id, queue_id, item_id, user_id)

    def complete_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str
    ) -> dict[str, Any]:
        """Record the user's annotation; the item completes with enough annotators."""
        with self._admin() as cur:
            return annodb.complete(cur, project_id, queue_id, item_id, user_id)

    def queue_progress(
        self, project_id: str, queue_id: str, user_id: str | None = None
    ) -> dict[str, int]:
        return annodb.progress(self.cursor(), project_id, queue_id, user_id)

    def queue_annotators(
        self, project_id: str, queue_id: str, item_id: str
    ) -> list[dict[str, Any]]:
        return annodb.annotators(self.cursor(), project_id, queue_id, item_id)

    def assign_queue(self, project_id: str, queue_id: str, user_id: str) -> bool:
        with self._admin() as cur:
            return annodb.assign(cur, project_id, queue_id, user_id)

    def unassign_queue(self, project_id: str, queue_id: str, user_id: str) -> bool:
        with self._admin() as cur:
            return annodb.unassign(cur, project_id, queue_id, user_id)

    def queue_assignments(self, project_id: str, queue_id: str) -> list[str]:
        return annodb.assignments(self.cursor(), project_id, queue_id)

    def queue_fill_traces(
        self,
        project_id: str,
        queue_id: str,
        filters: Sequence[Filter],
        limit: int,
        sample: str = "newest",
        seed: int = 0,
        by: str | None = None,
        score: str | None = None,
    ) -> tuple[list[str], int]:
        """The traces matching ``filters`` (the traces list's language) a fill would add,
        sampled (see :func:`heron.store.annotation.fill_traces`), and how many match."""
        where, params = compile_filters(filters, TRACES)
        return annodb.fill_traces(
            self.cursor(), project_id, queue_id, where, params, limit, sample, seed, by, score
        )

    def queue_issue_traces(
        self, project_id: str, queue_id: str, issue_id: str, limit: int
    ) -> tuple[list[str], int]:
        """The traces of an issue's signals a fill would add, and how many there are."""
        return annodb.issue_traces(self.cursor(), project_id, queue_id, issue_id, limit)

    # -- end of annotation queues ----------------------------------------------------------------

    # -- the annotator view (heron.server.web.annotate; heron.store.annotation_reads) ---------

    def claim_queue_item_after(
        self, project_id: str, queue_id: str, user_id: str, after: int, lease_s: float = 600
    ) -> dict[str, Any] | None:
        """Hold the next free item after a queue position (see
        :func:`heron.store.annotation_reads.claim_after`), atomically."""
        with self._admin() as cur:
            return annoreads.claim_after(cur, project_id, queue_id, user_id, lease_s, after)

    def finish_queue_item(
        self,
        project_id: str,
        queue_id: str,
        item_id: str,
        user_id: str,
        note: tuple[str, tuple[str, str, str | None], str],
        lease_s: float = 600,
    ) -> dict[str, Any] | None:
        """Store the user's note, complete the item for them and hold their next one, in one
        transaction (see :func:`heron.store.annotation_reads.finish`)."""
        with self._admin() as cur:
            return annoreads.finish(cur, project_id, queue_id, item_id, user_id, lease_s, note)

    def queue_item_neighbour(
        self, project_id: str, queue_id: str, position: int, step: int
    ) -> dict[str, Any] | None:
        return annoreads.neighbour(self.cursor(), project_id, queue_id, position, step)

    def reopen_queue_item(
        self, project_id: str, queue_id: str, item_id: str, user_id: str, lease_s: float = 600
    ) -> dict[str, Any] | None:
        """Undo the user's annotation of an item and hold it for them (None: held by
        another)."""
        with self._admin() as cur:
            return annoreads.reopen(cur, project_id, queue_id, item_id, user_id, lease_s)

    def delete_annotation_note(self, project_id: str, note_id: str) -> None:
        with self._admin() as cur:
            commentdb.delete_comment(cur, project_id, note_id)

    def annotation_note(self, project_id: str, note_id: str) -> str | None:
        found = commentdb.get_comment(self.cursor(), project_id, note_id)
        return found["content"] if found else None

    def observation_trace_id(self, project_id: str, observation_id: str) -> str | None:
        return annoreads.observation_trace(self.cursor(), project_id, observation_id)

    def scores_by_ids(self, project_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return annoreads.scores_by_ids(self.cursor(), project_id, ids)

    def queue_scores(
        self, project_id: str, queue_id: str, config_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        return annoreads.queue_scores(self.cursor(), project_id, queue_id, config_ids)

    # -- end of the annotator view -------------------------------------------------------------

    # -- datasets (issue 17; heron.store.datasets, heron.store.dataset_runs) -----------------

    def create_dataset(self, project_id: str, spec: DatasetSpec) -> dict[str, Any]:
        """Create the dataset ``spec.name``, or update the fields ``spec`` gives of the existing
        one (schemas checked, and a changed schema checked against the current items)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return datasetdb.put_dataset(cur, project_id, spec)

    def get_dataset(self, project_id: str, name: str) -> dict[str, Any] | None:
        return datasetdb.get_dataset(self.cursor(), project_id, name)

    def get_dataset_by_id(self, project_id: str, dataset_id: str) -> dict[str, Any] | None:
        return datasetdb.dataset_by_id(self.cursor(), project_id, dataset_id)

    def list_datasets(
        self, project_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return datasetdb.list_datasets(self.cursor(), project_id, page, limit)

    def put_dataset_items(
        self, project_id: str, dataset_name: str, items: Sequence[ItemSpec]
    ) -> tuple[list[str], int]:
        """Write items into the dataset, all or none (see :func:`datasetdb.put_items`):
        the ids written and how many are new."""
        with self._admin() as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            return datasetdb.put_items(cur, project_id, dataset, items)

    def put_dataset_item(
        self, project_id: str, dataset_name: str, item: ItemSpec
    ) -> dict[str, Any]:
        """Create or upsert one item; returns its new current version."""
        with self._admin() as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            (item_id,), _ = datasetdb.put_items(cur, project_id, dataset, [item])
            found = datasetdb.get_item(cur, project_id, item_id)
            assert found is not None
            return found

    def set_dataset_item_status(self, project_id: str, item_id: str, status: str) -> dict[str, Any]:
        """Archive (``ARCHIVED``) or restore (``ACTIVE``) an item: a new version of it."""
        with self._admin() as cur:
            return datasetdb.set_item_status(cur, project_id, item_id, status)

    def delete_dataset_item(self, project_id: str, item_id: str) -> bool:
        with self._admin() as cur:
            return datasetdb.delete_item(cur, project_id, item_id)

    def get_dataset_item(self, project_id: str, item_id: str) -> dict[str, Any] | None:
        return datasetdb.get_item(self.cursor(), project_id, item_id)

    def list_dataset_items(
        self,
        project_id: str,
        f: datasetdb.ItemFilter,
        page: int,
        limit: int,
        oldest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        return datasetdb.list_items(self.cursor(), project_id, f, page, limit, oldest_first)

    def dataset_items_from_traces(
        self, project_id: str, dataset_name: str, selection: Selection
    ) -> dict[str, int]:
        """Copy selected traces or observations into the dataset: ``{created, skipped}``."""
        with self._admin() as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            return datasetdb.add_from_traces(cur, project_id, dataset, selection)

    def ensure_dataset_run(
        self,
        project_id: str,
        dataset_id: str,
        name: str,
        description: str | None = None,
        metadata: Any = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """The dataset's run ``name``, created when missing (see :func:`rundb.ensure_run`)."""
        with self._admin() as cur:
            return rundb.ensure_run(
                cur, project_id, dataset_id, name, description, metadata, experiment_id
            )

    def list_dataset_runs(
        self, project_id: str, dataset_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return rundb.list_runs(self.cursor(), project_id, dataset_id, page, limit)

    def get_dataset_run(self, project_id: str, dataset_id: str, name: str) -> dict[str, Any] | None:
        """The run with its run items (``datasetRunItems``), or None."""
        return rundb.get_run(self.cursor(), project_id, dataset_id, name)

    def get_dataset_run_by_id(self, project_id: str, run_id: str) -> dict[str, Any] | None:
        return rundb.run_by_id(self.cursor(), project_id, run_id)

    def delete_dataset_run(self, project_id: str, dataset_id: str, name: str) -> bool:
        with self._admin() as cur:
            return rundb.delete_run(cur, project_id, dataset_id, name)

    def create_dataset_run_item(
        self, project_id: str, spec: RunItemSpec, trace_id: str | None
    ) -> dict[str, Any]:
        """The run item (and its run, when new) as ``POST /api/public/dataset-run-items``
        makes them (see :func:`rundb.record_run_item`)."""
        with self._admin() as cur:
            return rundb.record_run_item(cur, project_id, spec, trace_id)

    def put_dataset_run_item(
        self,
        project_id: str,
        run_id: str,
        item_id: str,
        trace_id: str | None,
        observation_id: str | None = None,
        version: datetime | None = None,
        output: Any = None,
    ) -> dict[str, Any]:
        """Record the trace that ran ``item_id`` in run ``run_id`` (see
        :func:`rundb.put_run_item`); a 404 when the project has no such run."""
        with self._admin() as cur:
            run = rundb.run_by_id(cur, project_id, run_id)
            if run is None:
                raise NotFound(f"dataset run {run_id[:100]!r} not found in this project")
            return rundb.put_run_item(
                cur, project_id, run, item_id, trace_id, observation_id, version, output
            )

    def list_dataset_run_items(
        self, project_id: str, run_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return rundb.list_run_items(self.cursor(), project_id, run_id, page, limit)

    def run_item_expected_outputs(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> dict[str, Any]:
        """``{trace_id: expected output}`` of the traces that ran a dataset item (the item's
        version the run item recorded); what evaluators' ``expected_output`` reads."""
        return rundb.expected_outputs(self.cursor(), project_id, list(trace_ids))

    # -- end of datasets -------------------------------------------------------------------
    # -- experiment results (heron.store.experiment_results) ---------------------------------

    def experiment_runs(
        self, project_id: str, dataset: str, run_names: Sequence[str]
    ) -> list[RunResults]:
        """The named runs of the dataset, each with its items' figures and scores (404
        naming a missing dataset or run)."""
        cur = self.cursor()
        with deadline(cur, self.query_timeout_s, "reading the experiment runs"):
            runs = experiments.runs_by_name(cur, project_id, dataset, run_names)
            return [experiments.run_results(cur, project_id, run) for run in runs]

    def experiment_run_scores(
        self, project_id: str, run_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        return experiments.run_scores(self.cursor(), project_id, run_ids)

    def experiment_items(
        self, project_id: str, dataset: str, run_ids: Sequence[str], item_ids: Sequence[str]
    ) -> dict[str, Any]:
        return experiments.item_details(self.cursor(), project_id, dataset, run_ids, item_ids)

    # -- end of experiment results -------------------------------------------------------------
    # -- Langfuse's read API (issue 17) --------------------------------------------------------

    def langfuse_trace_page(
        self,
        project_id: str,
        filters: Sequence[Filter],
        order_by: str | None,
        page: int,
        limit: int,
        io: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        return lfreads.trace_page(self.cursor(), project_id, filters, order_by, page, limit, io)

    def langfuse_trace(
        self, project_id: str, trace_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return lfreads.trace_detail(self.cursor(), project_id, trace_id)

    def langfuse_observation_page(
        self, project_id: str, filters: Sequence[Filter], page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return lfreads.observation_page(self.cursor(), project_id, filters, page, limit)

    def langfuse_observation(self, project_id: str, observation_id: str) -> dict[str, Any]:
        return lfreads.observation(self.cursor(), project_id, observation_id)

    def langfuse_observation_scan(
        self,
        project_id: str,
        filters: Sequence[Filter],
        limit: int,
        cursor: str | None,
        io: bool,
        tags: bool,
    ) -> tuple[list[dict[str, Any]], str | None]:
        return lfreads.observation_scan(self.cursor(), project_id, filters, limit, cursor, io, tags)

    def langfuse_session_page(
        self,
        project_id: str,
        filters: Sequence[Filter],
        created: tuple[Any, Any],
        page: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        return lfreads.session_page(self.cursor(), project_id, filters, created, page, limit)

    def langfuse_session_traces(self, project_id: str, session_id: str) -> list[dict[str, Any]]:
        return lfreads.session_traces(self.cursor(), project_id, session_id)

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return projectdb.get_meta(self.cursor(), key)

    def set_meta(self, key: str, value: str) -> None:
        with self._admin() as cur:
            projectdb.set_meta(cur, key, value)

    def checkpoint(self) -> None:
        """Write everything committed into the database file (out of the WAL alone). On the
        writer's connection, so under its locks: beside a score write or a deletion on it,
        DuckDB refused one of them, and a refused ROLLBACK left the connection in a broken
        transaction; and a backup (``writes_paused``) must not see the file change."""
        with self._write_lock, self._admin_lock:
            self._writer.execute("CHECKPOINT")

    def _checkpoint_quietly(self) -> None:
        """Best effort after a project or key is created: the journal restores spans after a
        damaged WAL, not control data, so it should reach the database file soon. DuckDB
        refuses while another transaction writes; the periodic checkpoint then takes it."""
        cur = self._db.cursor()
        try:
            cur.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        finally:
            cur.close()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
