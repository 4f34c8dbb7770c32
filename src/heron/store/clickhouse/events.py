"""EmbeddedStore's event methods on ClickHouse (traces, observations, scores).

``ClickHouseEvents(client)`` takes a clickhouse-connect client (``client.connect(url)``)
whose database holds the events tables (``migrations.migrate``). Method names, arguments
and return shapes are EmbeddedStore's, so the store of the scale-out backend delegates
its event methods here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.model import ObservationRecord, TraceUpdate
from heron.query.metrics import MetricsLimits, MetricsQuery
from heron.scores import ScoreRecord
from heron.store.arrow import observations_table
from heron.store.clickhouse import groups, reads, score_reads, totals, writes
from heron.store.clickhouse import metrics as metrics_reads
from heron.store.clickhouse import scores as score_writes
from heron.store.clickhouse.alert_series import AlertSeries
from heron.store.clickhouse.analysis_reads import AnalysisReads
from heron.store.clickhouse.annotation_reads import AnnotationReads
from heron.store.clickhouse.comments import Comments
from heron.store.clickhouse.dataset_run_items import DatasetRunItems
from heron.store.clickhouse.deletion import Deletion
from heron.store.clickhouse.langfuse_reads import LangfuseReads
from heron.store.clickhouse.repricing import Repricing
from heron.store.clickhouse.retention import Days
from heron.store.clickhouse.runner_reads import RunnerReads
from heron.store.clickhouse.signals import SignalReads
from heron.store.llmstats import SeriesTotals
from heron.store.reads import ListQuery, Page
from heron.store.scores import ScoreFilter
from heron.store.scorestats import ScoreTotals
from heron.store.writes import WriteResult

# Holds the (project, trace) keys of a batch while it is read, merged and inserted.
TraceLock = Callable[[Sequence[tuple[str, str]]], AbstractContextManager[object]]


class ClickHouseEvents(
    SignalReads,
    AnalysisReads,
    Repricing,
    LangfuseReads,
    Comments,
    AnnotationReads,
    DatasetRunItems,
    Deletion,
    RunnerReads,
    AlertSeries,
):
    """Event writes and reads over one ClickHouse database.

    ``trace_lock``, when given, is held around each batch's read-merge-insert for the
    batch's traces (sorted): PostgreSQL's advisory locks in the full backend. With it, two
    replicas writing versions of the same span (or attributes of the same trace) at the same
    instant merge in turn, so no field is lost and the traces' stored aggregates are exact;
    without it that rare race keeps one whole version (never two rows) and may leave a trace's
    aggregates stale until its next write (see :mod:`heron.store.clickhouse.writes`).
    """

    def __init__(self, client: Client, trace_lock: TraceLock | None = None) -> None:
        self.client = client
        self._trace_lock = trace_lock
        # Writes read what is stored, merge and insert: one at a time (reads run concurrently,
        # on a client without a ClickHouse session, see client.connect).
        self._lock = threading.Lock()
        self._last_version = 0
        self.metrics_limits = MetricsLimits()  # EmbeddedStore's attribute (settings set it)
        self.materialized_ctes: bool | None = None  # the server's; asked at the first query
        # metrics, comparisons, alert backtests, experiment results (time_limit.py); None: none
        self.query_timeout_s: float | None = None
        # each project's retention, tagged on the rows written (None: 0, kept forever; the
        # cluster backend sets a ProjectRetention, see heron.store.clickhouse.retention)
        self.retention_days: Days | None = None

    def _version(self) -> int:
        """The row version of a write: the clock in µs, strictly increasing in a process."""
        self._last_version = max(time.time_ns() // 1000, self._last_version + 1)
        return self._last_version

    def write_batch(
        self,
        observations: pa.Table | Sequence[ObservationRecord],
        trace_updates: Sequence[TraceUpdate],
        journal_seq: int | None = None,
        price: Callable[[ObservationRecord], dict[str, float] | None] | None = None,
    ) -> WriteResult:
        """Write one batch; merged with what is stored as EmbeddedStore does. Idempotent, so
        a journal replay may apply a batch again (``journal_seq`` is the caller's to keep)."""
        if not isinstance(observations, pa.Table):
            observations = observations_table(list(observations), time.time_ns() // 1000)
        traces = set(
            zip(
                observations.column("project_id").to_pylist(),
                observations.column("trace_id").to_pylist(),
                strict=True,
            )
        )
        traces.update((u.project_id, u.trace_id) for u in trace_updates)
        locked = self._trace_lock(sorted(traces)) if self._trace_lock else nullcontext()
        with self._lock, locked:
            now_us = self._version()
            return writes.write_batch(
                self.client,
                observations,
                trace_updates,
                now_us,
                price,
                self._version,
                self.retention_days,
            )

    def write_scores(self, scores: Sequence[ScoreRecord], *, replace: bool = True) -> None:
        """Store scores; a score whose id exists in the project replaces it (keeping when it
        was first stored), or, with ``replace=False``, makes the whole call a 409."""
        if not scores:
            return
        with self._lock:
            score_writes.upsert_scores(
                self.client, scores, self._version(), replace=replace, days=self.retention_days
            )

    def list_traces(self, project_id: str, q: ListQuery) -> Page:
        return reads.list_traces(self.client, project_id, q)

    def count_traces(self, project_id: str, q: ListQuery) -> int:
        """How many traces match the list's filters and search."""
        return reads.count_traces(self.client, project_id, q)

    def get_trace(self, project_id: str, trace_id: str) -> dict[str, Any]:
        return reads.get_trace(self.client, project_id, trace_id)

    def list_observations(self, project_id: str, q: ListQuery) -> Page:
        return reads.list_observations(self.client, project_id, q)

    def list_sessions(self, project_id: str, q: ListQuery) -> Page:
        return groups.list_sessions(self.client, project_id, q)

    def get_session(self, project_id: str, session_id: str) -> dict[str, Any]:
        return groups.get_session(self.client, project_id, session_id)

    def list_users(self, project_id: str, q: ListQuery) -> Page:
        return groups.list_users(self.client, project_id, q)

    def user_days(self, project_id: str, user_id: str, since: datetime) -> list[dict[str, Any]]:
        """An end user's traces, cost and score averages per day (see :func:`groups.user_days`)."""
        return groups.user_days(self.client, project_id, user_id, since)

    def metrics(self, project_id: str, query: MetricsQuery) -> list[dict[str, Any]]:
        """A metrics query (see :mod:`heron.query.metrics`) over the project's data."""
        if self.materialized_ctes is None:
            self.materialized_ctes = metrics_reads.materialized_ctes(self.client)
        return metrics_reads.run_metrics(
            self.client,
            project_id,
            query,
            self.metrics_limits,
            self.materialized_ctes,
            self.query_timeout_s,
        )

    def list_scores(
        self, project_id: str, f: ScoreFilter, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        return score_reads.list_scores(self.client, project_id, f, page, limit)

    def scan_scores(self, project_id: str, f: ScoreFilter, limit: int) -> list[dict[str, Any]]:
        return score_reads.scan_scores(self.client, project_id, f, limit)

    def get_score(self, project_id: str, score_id: str) -> dict[str, Any] | None:
        return score_reads.get_score(self.client, project_id, score_id)

    def delete_score(self, project_id: str, score_id: str) -> bool:
        """Delete one of the project's scores; False when it has none of that id."""
        with self._lock:  # not between a score upsert's read and its insert
            return score_reads.delete_score(self.client, project_id, score_id)

    def model_call_totals(self, project_id: str, settled_before: datetime) -> list[SeriesTotals]:
        """Cumulative model-call totals by (model, trace name); see :mod:`.totals`."""
        return totals.model_call_totals(self.client, project_id, settled_before)

    def trace_totals(self, project_id: str, settled_before: datetime) -> list[SeriesTotals]:
        """Cumulative trace totals by trace name; see :mod:`.totals`."""
        return totals.trace_totals(self.client, project_id, settled_before)

    def score_totals(
        self, project_id: str, keep: Sequence[str], top: int, max_chars: int
    ) -> list[ScoreTotals]:
        """Cumulative score totals by (name, source, data type); see :mod:`.totals`."""
        return totals.score_totals(self.client, project_id, keep, top, max_chars)
