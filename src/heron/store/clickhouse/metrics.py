"""Metrics queries on ClickHouse: :mod:`heron.query.metrics`'s queries, in ClickHouse's dialect.

The query is parsed, validated, named and limited by :mod:`heron.query.metrics`
(``parse_metrics_query``, ``check_limits``, the views' dimensions and measures); only the SQL
differs, and the answers are DuckDB's (the shared suite asserts it). The statement has the
same shape as DuckDB's: a base of one row per record (per list element of an unnested
dimension), grouped, then joined to the zero-filled grid of time buckets x dimension values.

Exactness:

- Records are read ``FINAL`` through the views of :mod:`heron.store.clickhouse.reads`
  (a trace's aggregates stored on its latest row; an observation's trace attributes from
  its trace's latest row).
- Percentiles are ``quantilesExactInclusive``: exact, interpolated linearly between the
  closest ranks at ``(n - 1) * level`` (Hyndman-Fan type 7, Excel's PERCENTILE.INC), which is
  DuckDB's ``quantile_cont``. (``quantileExact`` picks a value without interpolating,
  ``quantileExactExclusive`` is type 6 and ``quantile``/``quantileTDigest`` are estimates.)
  A group without values is ``NULL`` as in DuckDB, not ``nan``.
- Time buckets are cut from the wall-clock time in the query's zone (the UTC time plus the
  zone's offset at that instant), as DuckDB cuts ``time AT TIME ZONE zone``, so a DST
  night's repeated hour is one bucket. The bucket starts of the window are computed here
  (Python's zoneinfo), and a bucket's wall-clock start is turned back to UTC as DuckDB's ICU
  does: the later of the two readings of a repeated time, the earlier offset in a skipped
  hour (both are the later of zoneinfo's two folds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from heron.query import OBSERVATIONS, SCORES, TRACES
from heron.query.clickhouse import Params, compile_filters, metadata_value, to_us
from heron.query.filters import HIDDEN_ENVIRONMENT_PREFIX, FilterError
from heron.query.metrics import (
    AGGREGATIONS,
    CELLS_MARKER,
    COUNTING,
    MAX_ROWS,
    PERCENTILES,
    TIME_COLUMN,
    VIEWS,
    MetricsLimits,
    MetricsQuery,
    _dimension,
    _measure,
    _name,
    check_limits,
)
from heron.store.clickhouse.reads import _OBSERVATION_VIEW, _trace_view
from heron.store.clickhouse.time_limit import TimeLimit

_US = "toUnixTimestamp64Micro"
_SETTINGS = {"join_use_nulls": 1}
_CELLS = re.compile(re.escape(CELLS_MARKER))

# The records of each view, read FINAL with the columns the DuckDB views name.
_SOURCES = {
    "traces": f"({_trace_view()}) AS t",
    "observations": f"({_OBSERVATION_VIEW}) AS o",
    "scores": "(SELECT * FROM scores FINAL WHERE project_id = {project:String}) AS s",
}
# Observations without their trace's attributes, for queries that read none of them: the
# join to the traces is most of an observations query's time. Heron's own traces (a few)
# are then left out by id.
_OBSERVATIONS_ALONE = (
    f"(SELECT o.*, ({_US}(o.end_time) - {_US}(o.start_time)) / 1000 AS latency_ms, "
    f"({_US}(o.completion_start_time) - {_US}(o.start_time)) / 1000 AS time_to_first_token_ms "
    "FROM observations AS o FINAL WHERE o.project_id = {project:String}) AS o"
)
_HIDDEN_TRACES = (
    "o.trace_id IN (SELECT id FROM traces FINAL WHERE project_id = {{project:String}} "
    "AND startsWith(coalesce(environment, ''), {prefix}))"
)
_TRACE_ATTRIBUTE = re.compile(
    r"\bo\.(trace_name|user_id|session_id|release|version|environment|tags)\b"
)
_FILTER_VIEWS = {"traces": TRACES, "observations": OBSERVATIONS, "scores": SCORES}

# Dimensions and measures whose ClickHouse SQL differs from DuckDB's (by view, then name);
# the others read the same column of the same alias.
_GENERATION_S = (
    f"(({_US}(o.end_time) - {_US}(coalesce(o.completion_start_time, o.start_time))) / 1e6)"
)
_DIMENSIONS: dict[str, dict[str, str]] = {
    "observations": {"tags": "o.tags"},
}
_MEASURES: dict[str, dict[str, str]] = {
    "observations": {
        "latency": "o.latency_ms",
        "time_to_first_token": "o.time_to_first_token_ms",
        "streaming_latency": f"(({_US}(o.end_time) - {_US}(o.completion_start_time)) / 1000)",
        "tokens_per_second": f"(o.output_tokens / nullIf({_GENERATION_S}, 0))",
        "input_cost": "if(mapContains(o.cost, 'input'), o.cost['input'], NULL)",
        "output_cost": "if(mapContains(o.cost, 'output'), o.cost['output'], NULL)",
    },
}
_SCORE_ROWS = (
    "SELECT trace_id, avg(value) AS score_value, max(if(data_type = 'BOOLEAN' AND value = 1, "
    "1.0, 0.0)) AS yes FROM scores FINAL WHERE project_id = {{project:String}} AND name = {name} "
    "AND trace_id IS NOT NULL GROUP BY trace_id"
)
_SCORE_SQL = {
    "scores": "sc{j}.score_value",
    "has_score": "if(sc{j}.trace_id IS NULL, 0.0, 1.0)",
    "has_true_score": "coalesce(sc{j}.yes, 0.0)",
}
_PROMPT_JOIN = (
    " LEFT JOIN (SELECT trace_id, groupUniqArray((prompt_name, prompt_version)) AS prompts "
    "FROM observations FINAL WHERE project_id = {project:String} AND prompt_name IS NOT NULL "
    "GROUP BY trace_id) AS tp ON tp.trace_id = t.id"
)
_PROMPTS = (
    "arrayJoin(if(empty(tp.prompts), CAST([(NULL, NULL)], "
    "'Array(Tuple(Nullable(String), Nullable(Int32)))'), tp.prompts))"
)
# DuckDB's aggregations that are spelt otherwise (percentiles and histograms: below)
_AGGREGATIONS = {**AGGREGATIONS, "uniq": "uniqExact({x})"}


@dataclass
class CompiledMetrics:
    sql: str
    params: dict[str, Any]
    columns: list[str]
    histograms: frozenset[str]
    count_sql: str  # the grid's dimension values (the cells guard's message)


def _measure_sql(view: str, name: str, j: int) -> str:
    family, dot, _ = name.partition(".")
    if dot and view == "traces" and family in _SCORE_SQL:
        return _SCORE_SQL[family].format(j=j)
    sql = _MEASURES.get(view, {}).get(name)
    if sql is not None:
        return sql
    measure = _measure(VIEWS[view], name)
    assert measure is not None
    return measure.sql


def bucket_starts(q: MetricsQuery) -> list[datetime]:
    """The window's buckets as naive wall-clock starts in the query's zone, as DuckDB's
    ``range(date_trunc(g, local(from)), local(to), step)``."""
    zone = ZoneInfo(q.timezone)
    g = q.granularity
    assert g is not None

    def local(t: datetime) -> datetime:
        return t.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)

    start, stop = _trunc(local(q.from_time), g), local(q.to_time)
    out = []
    i = 0
    while True:
        b = _step(start, g, i)
        if b >= stop:
            return out
        out.append(b)
        i += 1


def _trunc(t: datetime, g: str) -> datetime:
    if g == "minute":
        return t.replace(second=0, microsecond=0)
    if g == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if g == "day":
        return day
    if g == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _step(start: datetime, g: str, i: int) -> datetime:
    if g == "month":
        months = start.month - 1 + i
        return start.replace(year=start.year + months // 12, month=months % 12 + 1)
    unit = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}.get(g, timedelta(days=1))
    return start + unit * i * (7 if g == "week" else 1)


def wall_to_utc(wall: datetime, zone: str) -> datetime:
    """A wall-clock time of ``zone`` as naive UTC, as DuckDB's ``AT TIME ZONE`` reads it."""
    if zone == "UTC":
        return wall
    z = ZoneInfo(zone)
    return max(wall.replace(tzinfo=z, fold=f).astimezone(UTC).replace(tzinfo=None) for f in (0, 1))


def compile_metrics(
    project_id: str,
    q: MetricsQuery,
    limits: MetricsLimits = MetricsLimits(),
    materialize: bool = False,
    hidden_traces: bool = True,
) -> CompiledMetrics:
    """One ClickHouse statement answering ``q`` within ``project_id`` (named parameters);
    the rows' ``k_time`` is the bucket's wall-clock start in epoch seconds.

    ``hidden_traces=False`` (the project has no trace of heron's own environments) drops
    the test that leaves their observations out, which reads every row's ``trace_id``.

    ``materialize`` (the server has ``enable_materialized_cte``) computes the groups once
    (and the base rows once when histograms read them twice); otherwise ClickHouse inlines
    each CTE where it is read, and a grid with dimensions groups two or three times."""
    view = VIEWS[q.view]
    name = "scores" if view.table == "scores" else view.name
    a = view.alias
    params = Params(project_id)
    select: list[str] = []
    joins: list[str] = []
    keys: list[str] = []
    time_sql = view.time
    if q.granularity:
        wall = time_sql
        if q.timezone != "UTC":
            tz = params.add(q.timezone, "String")
            wall = f"addSeconds({time_sql}, timeZoneOffset(toTimeZone({time_sql}, {tz})))"
        select.append(
            f"toInt64(toDateTime(date_trunc('{q.granularity}', {wall}), 'UTC')) AS k_time"
        )
        keys.append("k_time")
    prompts = False
    for i, dim_name in enumerate(q.dimensions):
        dim = _dimension(view, dim_name)
        canonical = _name(view.dimensions, dim_name)
        if dim is None:  # metadata.<key>
            value = metadata_value(a, dim_name.removeprefix("metadata."), params)
            select.append(f"{value} AS k{i}")
        elif dim.prompt:
            field = 1 if canonical == "prompt_name" else 2
            if not prompts:
                select.append(f"tupleElement({_PROMPTS} AS up, {field}) AS k{i}")
                joins.append(_PROMPT_JOIN)
                prompts = True
            else:
                select.append(f"tupleElement(up, {field}) AS k{i}")
        elif dim.unnest:
            sql = _DIMENSIONS.get(name, {}).get(str(canonical), dim.sql)
            select.append(
                f"arrayJoin(if(empty({sql}), [NULL], arrayMap(x -> toNullable(x), {sql}))) AS k{i}"
            )
        else:
            select.append(f"{dim.sql} AS k{i}")
        keys.append(f"k{i}")
    score_names: list[str] = []
    for i, m in enumerate(q.metrics):
        measure = _measure(view, m.measure)
        assert measure is not None
        if measure.score is not None and measure.score not in score_names:
            score_names.append(measure.score)
            j = len(score_names) - 1
            named = params.add(measure.score, "String")
            joins.append(
                f" LEFT JOIN ({_SCORE_ROWS.format(name=named)}) AS sc{j} ON sc{j}.trace_id = {a}.id"
            )
        j = score_names.index(measure.score) if measure.score is not None else 0
        select.append(f"{_measure_sql(view.name, m.measure, j)} AS v{i}")
    source = _SOURCES[name]
    if name == "observations":
        alone = compile_filters(q.filters, OBSERVATIONS, Params(project_id), _HIDDEN_TRACES)
        if not _TRACE_ATTRIBUTE.search(" ".join([*select, alone])):
            source = _OBSERVATIONS_ALONE
    hidden = (_HIDDEN_TRACES if hidden_traces else "0") if source == _OBSERVATIONS_ALONE else None
    where = compile_filters(q.filters, _FILTER_VIEWS[name], params, hidden)
    start = params.add(to_us(q.from_time), "Int64")
    end = params.add(to_us(q.to_time), "Int64")
    base = (
        f"SELECT {', '.join(select)} FROM {source}{''.join(joins)} "
        f"WHERE {time_sql} >= fromUnixTimestamp64Micro({start}, 'UTC') "
        f"AND {time_sql} < fromUnixTimestamp64Micro({end}, 'UTC') "
        f"AND {view.condition} AND {where}"
    )

    hist = [i for i, m in enumerate(q.metrics) if m.aggregation == "histogram"]
    aggs = []
    for i, m in enumerate(q.metrics):
        x = "*" if m.measure == "count" else f"v{i}"
        if i in hist:
            aggs.append(f"groupArray({_histogram_bin(i, q.bins)}) AS m{i}")
        elif m.aggregation in PERCENTILES:
            aggs.append(f"{_percentile(q, i)} AS m{i}")
        else:
            aggs.append(_AGGREGATIONS[m.aggregation].format(x=x) + f" AS m{i}")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    bounds = ", ".join(
        f"toFloat64(min(v{i})) AS lo{i}, toFloat64(max(v{i})) AS hi{i}" for i in hist
    )
    with_bounds = " CROSS JOIN bounds AS b" if hist else ""
    agg = f"SELECT {', '.join([*keys, *aggs])} FROM base{with_bounds}{group}"

    metric_out = []
    for i, m in enumerate(q.metrics):
        if i in hist:
            metric_out.append(f"{_histogram_bins(i, q.bins)} AS m{i}")
        elif m.aggregation in COUNTING:
            metric_out.append(f"coalesce(g.m{i}, 0) AS m{i}")
        else:
            metric_out.append(f"g.m{i} AS m{i}")
    dim_keys = [k for k in keys if k != "k_time"]
    once = " MATERIALIZED" if materialize else ""
    ctes = f"WITH base AS{once if hist else ''} ({base}), "
    if hist:
        ctes += f"bounds AS (SELECT {bounds} FROM base), "
    ctes += f"agg AS{once} ({agg}) "
    count_sql = ""
    if q.granularity:
        walls = [int((b - datetime(1970, 1, 1)).total_seconds()) for b in bucket_starts(q)]
        buckets = f"SELECT arrayJoin({params.add(walls, 'Array(Int64)')}) AS k_time"
        if dim_keys:
            # The dimension values, or one row of nulls when nothing matched, and the guard,
            # in one pass over the groups: a scalar subquery would group them again.
            values = f"groupUniqArray(tuple({', '.join(f'toNullable({k})' for k in dim_keys)}))"
            n = "greatest(length(ks), 1)"
            guard = f"{n} * {len(walls)} > {int(limits.max_cells)}, '{CELLS_MARKER}'"
            fields = ", ".join(f"tupleElement(c, {i + 1}) AS {k}" for i, k in enumerate(dim_keys))
            checked = (
                f"SELECT {fields} FROM (SELECT {values} AS ks FROM agg) "
                f"ARRAY JOIN if(empty(ks), arrayResize(ks, 1), ks) AS c "
                f"WHERE throwIf({guard}) = 0"
            )
            grid = "SELECT bk.k_time AS k_time, c.* FROM buckets AS bk CROSS JOIN checked AS c"
            ctes = ctes[:-1] + f", checked AS ({checked}) "
            count_sql = f"WITH base AS ({base}), agg AS ({agg}) SELECT {n} FROM "
            count_sql += f"(SELECT {values} AS ks FROM agg)"
        else:
            grid = "SELECT k_time FROM buckets"
        ctes = ctes[:-1] + f", buckets AS ({buckets}) "
        on = " AND ".join(f"x.{k} = g.{k}" if k == "k_time" else f"x.{k} <=> g.{k}" for k in keys)
        out = ["x.k_time AS k_time", *(f"x.{k} AS {k}" for k in dim_keys), *metric_out]
        final = (
            f"SELECT {', '.join(out)} FROM ({grid}) AS x LEFT JOIN agg AS g ON {on}{with_bounds}"
        )
    else:
        final = (
            f"SELECT {', '.join([*(f'g.{k} AS {k}' for k in dim_keys), *metric_out])} "
            f"FROM agg AS g{with_bounds}"
        )
    public = {
        TIME_COLUMN: "k_time",
        **{n: f"k{i}" for i, n in enumerate(q.dimensions)},
        **{m.column: f"m{i}" for i, m in enumerate(q.metrics)},
    }
    order = [f"{public[n]} {d.upper()} NULLS LAST" for n, d in q.order_by]
    order += [f"{k} ASC NULLS LAST" for k in keys if k not in {public[n] for n, _ in q.order_by}]
    sql = f"{ctes}SELECT * FROM ({final}) AS r"
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    sql += f" LIMIT {int(q.row_limit if q.row_limit is not None else MAX_ROWS + 1)}"
    columns = [
        *([TIME_COLUMN] if q.granularity else []),
        *q.dimensions,
        *(m.column for m in q.metrics),
    ]
    histograms = frozenset(q.metrics[i].column for i in hist)
    return CompiledMetrics(sql, params.values, columns, histograms, count_sql)


def _percentile(q: MetricsQuery, i: int) -> str:
    """Metric ``i``'s percentile, from one exact quantiles call over every percentile of the
    same measure (sorted once), ``NULL`` without values."""
    metrics = q.metrics
    same = [j for j, m in enumerate(metrics) if m.measure == metrics[i].measure]
    levels = [
        PERCENTILES[metrics[j].aggregation] for j in same if metrics[j].aggregation in PERCENTILES
    ]
    position = levels.index(PERCENTILES[metrics[i].aggregation]) + 1
    v = f"v{same[0]}"
    args = ", ".join(repr(level) for level in levels)
    return f"if(count({v}) = 0, NULL, quantilesExactInclusive({args})({v})[{position}])"


def _histogram_bin(i: int, bins: int) -> str:
    v, lo, hi = f"v{i}", f"b.lo{i}", f"b.hi{i}"
    index = f"least(toInt32(floor(({v} - {lo}) * {bins} / ({hi} - {lo}))), {bins - 1})"
    return f"multiIf({v} IS NULL, NULL, {hi} > {lo}, {index}, 0)"


def _histogram_bins(i: int, bins: int) -> str:
    """``[[lower, upper, count], ...]``; an empty list (no values) is read as null."""
    lo, hi, m = f"b.lo{i}", f"b.hi{i}", f"g.m{i}"
    n = f"if({hi} > {lo}, {bins}, 1)"
    width = f"(({hi} - {lo}) / {n})"
    return (
        f"if(empty({m}), [], arrayMap(j -> [{lo} + j * {width}, {lo} + (j + 1) * {width}, "
        f"toFloat64(countEqual({m}, j))], range(toUInt32({n}))))"
    )


def materialized_ctes(client: Client) -> bool:
    """Whether the server materializes ``WITH x AS MATERIALIZED`` (``enable_materialized_cte``,
    ClickHouse 25.11 and later)."""
    rows = client.query(
        "SELECT count() FROM system.settings WHERE name = 'enable_materialized_cte'"
    ).result_rows
    return bool(rows[0][0])


def has_hidden_traces(client: Client, project_id: str) -> bool:
    """Whether any version of any of the project's trace rows is in heron's own
    environments (no FINAL: a superset, so False is sure). A hidden trace first written
    between this read and the query's is then counted by it, as if read a moment earlier."""
    rows = client.query(
        "SELECT 1 FROM traces WHERE project_id = {project:String} "
        "AND startsWith(coalesce(environment, ''), {prefix:String}) LIMIT 1",
        parameters={"project": project_id, "prefix": HIDDEN_ENVIRONMENT_PREFIX},
    ).result_rows
    return bool(rows)


def run_metrics(
    client: Client,
    project_id: str,
    q: MetricsQuery,
    limits: MetricsLimits = MetricsLimits(),
    materialize: bool = False,
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Rows as :func:`heron.store.metrics.run_metrics` answers them (same names, values,
    order, limits and errors); ``materialize``: see :func:`compile_metrics`. Past
    ``timeout_s`` (None: no limit) the server cancels the query: QueryTimeout."""
    check_limits(q, limits)
    try:
        ZoneInfo(q.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FilterError(
            f"timezone: {q.timezone!r} is not a time zone this backend knows; "
            "use an IANA name such as Europe/Paris"
        ) from None
    hidden = VIEWS[q.view].name != "observations" or has_hidden_traces(client, project_id)
    c = compile_metrics(project_id, q, limits, materialize, hidden)
    settings: dict[str, Any] = {**_SETTINGS}
    if materialize:
        settings["enable_materialized_cte"] = 1
    limit = TimeLimit(timeout_s, "the metrics query")
    try:
        rows = limit.query(client, c.sql, c.params, settings).result_rows
    except DatabaseError as exc:
        if not _CELLS.search(str(exc)):
            raise
        values = limit.query(client, c.count_sql, c.params, settings).result_rows
        buckets, n = len(bucket_starts(q)), int(values[0][0])
        raise FilterError(
            f"the query would return {buckets:,} time buckets x {n:,} dimension values "
            f"= {buckets * n:,} rows, more than the limit of {limits.max_cells:,} "
            "(HERON_METRICS_MAX_CELLS); use a coarser granularity, a shorter window, "
            "filters, or fewer or lower-cardinality dimensions"
        ) from None
    if q.row_limit is None and len(rows) > MAX_ROWS:
        raise FilterError(
            f"the query returns more than {MAX_ROWS:,} rows; set config.row_limit (at most "
            f"{MAX_ROWS:,}), add filters or use a coarser granularity"
        )
    out = []
    for row in rows:
        item = dict(zip(c.columns, row, strict=True))
        if q.granularity:
            wall = datetime(1970, 1, 1) + timedelta(seconds=item[TIME_COLUMN])
            item[TIME_COLUMN] = wall_to_utc(wall, q.timezone).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in c.histograms:
            bins = item[name]
            item[name] = [[lo, hi, int(n)] for lo, hi, n in bins] if bins else None
        out.append(item)
    return out
