"""One time limit for a read made of several ClickHouse queries (a comparison's cohorts, an
experiment's runs): each query gets what is left of it as ``max_execution_time``, so the read
as a whole stops in time, as DuckDB's :func:`heron.store.deadline.deadline` stops a read.
Past the limit the read fails with :class:`heron.errors.QueryTimeout` naming it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.query import QueryResult

from heron.store.deadline import timed_out


class TimeLimit:
    """``seconds`` (None or 0: no limit) for the queries of the read ``what``, from now."""

    def __init__(self, seconds: float | None, what: str) -> None:
        self.seconds = seconds if seconds and seconds > 0 else 0.0
        self.what = what
        self._end = time.monotonic() + self.seconds if self.seconds else None

    def settings(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``settings`` with the time left as ``max_execution_time`` (a QueryTimeout when
        none is left)."""
        out = dict(settings or {})
        if self._end is not None:
            left = self._end - time.monotonic()
            if left <= 0:
                raise timed_out(self.what, self.seconds)
            out["max_execution_time"] = left
        return out

    def query(
        self,
        client: Client,
        sql: str,
        parameters: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
    ) -> QueryResult:
        """``client.query``, within what is left of the limit."""
        try:
            return client.query(sql, parameters=dict(parameters), settings=self.settings(settings))
        except DatabaseError as exc:
            if self._end is not None and "TIMEOUT_EXCEEDED" in str(exc):
                raise timed_out(self.what, self.seconds) from None
            raise


NO_LIMIT = TimeLimit(None, "the read")
