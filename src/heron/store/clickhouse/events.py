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
from datetime import datetime
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.model import ObservationRecord, TraceUpdate
from heron.scores import ScoreRecord
from heron.store.arrow import observations_table
from heron.store.clickhouse import groups, reads, writes
from heron.store.clickhouse import scores as score_writes
from heron.store.reads import ListQuery, Page
from heron.store.writes import WriteResult


class ClickHouseEvents:
    """Event writes and reads over one ClickHouse database."""

    def __init__(self, client: Client) -> None:
        self.client = client
        # Writes read what is stored, merge and insert: one at a time (reads run concurrently,
        # on a client without a ClickHouse session, see client.connect).
        self._lock = threading.Lock()
        self._last_version = 0

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
        with self._lock:
            now_us = self._version()
            if not isinstance(observations, pa.Table):
                observations = observations_table(list(observations), now_us)
            return writes.write_batch(self.client, observations, trace_updates, now_us, price)

    def write_scores(self, scores: Sequence[ScoreRecord], *, replace: bool = True) -> None:
        """Store scores; a score whose id exists in the project replaces it (keeping when it
        was first stored), or, with ``replace=False``, makes the whole call a 409."""
        if not scores:
            return
        with self._lock:
            score_writes.upsert_scores(self.client, scores, self._version(), replace=replace)

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
