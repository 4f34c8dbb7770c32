"""An alert's metric at many evaluation times on ClickHouse: :mod:`heron.store.alert_series`
in ClickHouse's dialect, with the same answers.

The rows of the alert's query are the metrics queries' (:mod:`heron.store.clickhouse.metrics`:
the views read ``FINAL``, the measures' ClickHouse SQL, :mod:`heron.query.clickhouse`'s
filters). Counts, minimums, maximums and sums of whole numbers are rolled up from buckets
over each window by a ``RANGE`` frame, as on DuckDB; percentiles, uniq and sums of fractional
values read the rows sorted by time and slice them with DuckDB's own Python code
(:func:`heron.store.alert_series.sliced`), so both engines give the same bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from heron.query.clickhouse import Params, compile_filters, to_us
from heron.query.filters import FilterError, parse_filters
from heron.query.metrics import VIEWS, _measure
from heron.store.alert_series import (
    Bucketing,
    Point,
    bucketing,
    needed_buckets,
    numeric,
    points,
    rolled_up,
    sliced,
)
from heron.store.clickhouse.metrics import (
    _FILTER_VIEWS,
    _HIDDEN_TRACES,
    _OBSERVATIONS_ALONE,
    _SCORE_ROWS,
    _SETTINGS,
    _SOURCES,
    _TRACE_ATTRIBUTE,
    _US,
    _measure_sql,
)
from heron.store.clickhouse.time_limit import TimeLimit

_NULL = "CAST(NULL, 'Nullable(Float64)')"


def measure_rows(
    project_id: str,
    view_name: str,
    measure_name: str,
    query_filters: list[dict[str, Any]],
    start: datetime,
    end: datetime,
) -> tuple[str, dict[str, Any]]:
    """One SELECT of ``t`` (the view's time) and ``v`` (the measure's value), one row per
    record of the view in ``[start, end)`` matching the filters, as
    :func:`heron.query.metrics.measure_rows` selects them on DuckDB; its named parameters."""
    view = VIEWS[view_name]
    measure = _measure(view, measure_name)
    if measure is None:
        raise FilterError(f"{measure_name!r} is not a measure of the {view_name} view")
    name = "scores" if view.table == "scores" else view.name
    params = Params(project_id)
    joins = ""
    if measure.score is not None:
        named = params.add(measure.score, "String")
        scores = _SCORE_ROWS.format(name=named)
        joins = f" LEFT JOIN ({scores}) AS sc0 ON sc0.trace_id = {view.alias}.id"
    select = f"{view.time} AS t, {_measure_sql(view.name, measure_name, 0)} AS v"
    filters = parse_filters(query_filters)
    source = _SOURCES[name]
    if name == "observations":
        alone = compile_filters(filters, _FILTER_VIEWS[name], Params(project_id), _HIDDEN_TRACES)
        if not _TRACE_ATTRIBUTE.search(f"{select} {alone}"):
            source = _OBSERVATIONS_ALONE
    where = compile_filters(
        filters,
        _FILTER_VIEWS[name],
        params,
        _HIDDEN_TRACES if source == _OBSERVATIONS_ALONE else None,
    )
    lo, hi = params.add(to_us(start), "Int64"), params.add(to_us(end), "Int64")
    sql = (
        f"SELECT {select} FROM {source}{joins} "
        f"WHERE {view.time} >= fromUnixTimestamp64Micro({lo}, 'UTC') "
        f"AND {view.time} < fromUnixTimestamp64Micro({hi}, 'UTC') "
        f"AND {view.condition} AND {where}"
    )
    return sql, params.values


def series(
    client: Client,
    project_id: str,
    query: dict[str, Any],
    window: timedelta,
    times: Iterable[datetime],
    timeout_s: float | None = None,
) -> dict[datetime, Point]:
    """As :func:`heron.store.alert_series.series`; past ``timeout_s`` (None: no limit) the
    server cancels the query: QueryTimeout."""
    times = sorted(set(times))
    if not times:
        return {}
    aggregation = query["metric"]["aggregation"]
    base, params = measure_rows(
        project_id,
        query["view"],
        query["metric"]["measure"],
        query.get("filters") or [],
        times[0] - window,
        times[-1],
    )
    limit = TimeLimit(timeout_s, "the alert's query")
    if rolled_up(query):
        b = bucketing(window, times)
        return points(query, times, _rolled_up(client, base, params, limit, b, numeric(query)))
    b = bucketing(window, times)
    needed = needed_buckets(b)
    only = ""
    if needed is not None:
        only = f" AND has({{buckets:Array(Int64)}}, intDiv({_US}(t), {b.width_us}))"
        params = {**params, "buckets": needed}
    result = limit.query(
        client,
        f"SELECT {_US}(t) AS us, v FROM ({base}) WHERE v IS NOT NULL{only} ORDER BY us",
        params,
        _SETTINGS,
    )
    at, values = result.result_columns or ([], [])
    if aggregation == "uniq":
        found = np.array(values, dtype=object)
    else:
        found = np.array(values, dtype=float)
    return sliced(np.array(at, dtype=np.int64), found, aggregation, window, times)


def _rolled_up(
    client: Client,
    base: str,
    params: dict[str, Any],
    limit: TimeLimit,
    b: Bucketing,
    numeric: bool,
) -> list[tuple[Any, ...]]:
    """Per time: rows, non-null values, sum, min, max over its window, from buckets (a
    ``RANGE`` frame over the buckets and the evaluation times' keys, as on DuckDB; whole
    numbers only, so the order of the additions does not matter)."""
    # a measure that is not numeric (count of user_id) has no sum, min or max
    x = "toFloat64(v)" if numeric else _NULL
    sql = (
        f"WITH base AS ({base}), "
        f"b AS (SELECT intDiv({_US}(t), {b.width_us}) AS k, toInt64(count()) AS n, "
        f"toInt64(count(v)) AS nn, toNullable(sum({x})) AS s, toNullable(min({x})) AS mn, "
        f"toNullable(max({x})) AS mx FROM base GROUP BY k), "
        "allk AS (SELECT k, n, nn, s, mn, mx, 0 AS is_ev FROM b UNION ALL "
        f"SELECT arrayJoin({{keys:Array(Int64)}}) AS k, toInt64(0), toInt64(0), {_NULL}, {_NULL}, "
        f"{_NULL}, 1), "
        "w AS (SELECT k, is_ev, sum(n) OVER f AS n, sum(nn) OVER f AS nn, sum(s) OVER f AS s, "
        "min(mn) OVER f AS mn, max(mx) OVER f AS mx FROM allk "
        f"WINDOW f AS (ORDER BY k RANGE BETWEEN {b.span} PRECEDING AND 1 PRECEDING)) "
        "SELECT k, n, nn, s, mn, mx FROM w WHERE is_ev = 1"
    )
    rows = limit.query(client, sql, {**params, "keys": b.keys}, _SETTINGS).result_rows
    by_key = {r[0]: r[1:] for r in rows}
    return [by_key[k] for k in b.keys]


class AlertSeries:
    """The events half's ``alert_series`` (mixed into ClickHouseEvents)."""

    client: Client
    query_timeout_s: float | None

    def alert_series(
        self,
        project_id: str,
        query: dict[str, Any],
        window: timedelta,
        times: Iterable[datetime],
        *,
        time_limit: bool = True,
    ) -> dict[datetime, Point]:
        """As EmbeddedStore's: an alert's ``query`` over ``[t - window, t)`` per time."""
        timeout = self.query_timeout_s if time_limit else None
        return series(self.client, project_id, query, window, times, timeout)
