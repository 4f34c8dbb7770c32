"""Metrics queries: parse, validate and compile to one parameterised DuckDB query.

The query follows the shape of Langfuse's Metrics API v2::

    {"view": "observations", "dimensions": [{"field": "model"}],
     "metrics": [{"measure": "latency", "aggregation": "p95"}],
     "filters": [...shared filter language...],
     "timeDimension": {"granularity": "hour"},
     "fromTimestamp": "...", "toTimestamp": "...",
     "orderBy": [{"field": "p95_latency", "direction": "desc"}],
     "config": {"row_limit": 100}, "timezone": "Europe/Paris"}

Rows are named as Langfuse names them: ``time_dimension`` (bucket start, UTC), one key per
dimension as the query wrote it, and one per metric named ``<aggregation>_<measure>``
(``p95_latency``, ``sum_totalCost``). Langfuse's camelCase names are accepted beside heron's
(:mod:`heron.query.names`). The window is half-open, ``[fromTimestamp, toTimestamp)``.
Every time bucket of the window is present; a bucket without data has zero counts and null
values. SQL identifiers come only from the tables below; values are always parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import duckdb
import orjson

from heron.query.filters import Filter, FilterError, compile_filters, parse_filters, parse_time
from heron.query.names import canonical
from heron.query.views import OBSERVATIONS, SCORES, TRACE_LEVEL, TRACES, View
from heron.scores.parse import MAX_NAME as MAX_SCORE_NAME

AGGREGATIONS: dict[str, str] = {
    "count": "count({x})",
    "sum": "sum({x})",
    "avg": "avg({x})",
    "min": "min({x})",
    "max": "max({x})",
    "p50": "quantile_cont({x}, 0.5)",
    "p75": "quantile_cont({x}, 0.75)",
    "p90": "quantile_cont({x}, 0.9)",
    "p95": "quantile_cont({x}, 0.95)",
    "p99": "quantile_cont({x}, 0.99)",
    "uniq": "count(DISTINCT {x})",
    "histogram": "",  # compiled by _histogram: equal-width bins over the window's range
}
COUNTING = frozenset({"count", "uniq"})
PERCENTILES = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
GRANULARITIES = ("minute", "hour", "day", "week", "month")
_STEP = {
    "minute": "INTERVAL 1 MINUTE",
    "hour": "INTERVAL 1 HOUR",
    "day": "INTERVAL 1 DAY",
    "week": "INTERVAL 7 DAY",
    "month": "INTERVAL 1 MONTH",
}
_APPROX = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=28),
}
TIME_COLUMN = "time_dimension"
MAX_BUCKETS = 10_000  # default of HERON_METRICS_MAX_BUCKETS
MAX_CELLS = 1_000_000  # default of HERON_METRICS_MAX_CELLS
MAX_ROWS = 100_000  # rows a query answers: the most config.row_limit allows, and without it
DEFAULT_BINS = 10
MAX_BINS = 100


@dataclass(frozen=True)
class Dimension:
    sql: str
    unnest: bool = False  # a list column: one row per element (an empty list gives null)
    is_id: bool = False  # grouping by it needs config.row_limit
    prompt: bool = False  # a field of the prompts the trace's observations used (one row each)


@dataclass(frozen=True)
class Measure:
    sql: str
    numeric: bool = True
    score: str | None = None  # a score family (SCORE_MEASURES): the score's name is a parameter


# Per-trace measures of one score, written ``<family>.<score name>`` (``has_score.user_feedback``),
# the way filters address a score as ``scores.<name>``. The name is a SQL parameter.
SCORE_MEASURES: dict[str, str] = {
    "scores": "the trace's value of the score (the mean of its values; null without one)",
    "has_score": "1 when the trace has the score at all, else 0",
    "has_true_score": "1 when the trace has the score as a boolean true, else 0",
}


@dataclass(frozen=True)
class MetricsView:
    name: str
    table: str
    filters: View
    time: str
    dimensions: dict[str, Dimension]
    measures: dict[str, Measure]
    condition: str = "TRUE"  # rows of the table this view covers (SQL on the alias)
    scores: bool = False  # offers the per-trace score measures (SCORE_MEASURES)

    @property
    def alias(self) -> str:
        return self.filters.alias


# The scalar trace attributes of an observation are columns of its row. Its trace's tags
# come from one join to the trace (alias `ot`), added to the query only when it reads them;
# over 10 million observations a join was 1.4 to 3.5 times faster than the list views'
# per-row subquery.
TRACE_ROW = "ot"
# (joining on the id alone, the project fixed inside, is about twice as fast as on both)
_TRACE_JOIN = (
    f" LEFT JOIN (SELECT * FROM traces WHERE project_id = ?) {TRACE_ROW} "
    f"ON {TRACE_ROW}.id = o.trace_id"
)
_USES_TRACE_ROW = re.compile(rf"\b{TRACE_ROW}\.")
_OBSERVATIONS_JOINED = View(
    OBSERVATIONS.name,
    OBSERVATIONS.alias,
    {
        **OBSERVATIONS.columns,
        "tags": replace(OBSERVATIONS.columns["tags"], sql=f"{TRACE_ROW}.tags"),
    },
    OBSERVATIONS.keyed,
)


# A trace's scores of one name, one row per trace (alias sc<j>, one join per score name read)
_SCORE_ROWS = (
    "SELECT trace_id, avg(value) AS value, max(CASE WHEN data_type = 'BOOLEAN' AND value = 1 "
    "THEN 1.0 ELSE 0.0 END) AS yes FROM scores "
    "WHERE project_id = ? AND name = ? AND trace_id IS NOT NULL GROUP BY trace_id"
)
_SCORE_SQL = {
    "scores": "sc{j}.value",
    "has_score": "(CASE WHEN sc{j}.trace_id IS NULL THEN 0.0 ELSE 1.0 END)",
    "has_true_score": "coalesce(sc{j}.yes, 0.0)",
}
# The prompts (name, version) a trace's observations used, one list per trace of the window
# (alias `tp`), unnested once (alias `up`) however many prompt dimensions the query reads.
PROMPT_ROW = "up"
_PROMPT_JOIN = (
    " LEFT JOIN (SELECT ox.trace_id, list(DISTINCT struct_pack(name := ox.prompt_name, "
    "version := ox.prompt_version)) AS prompts FROM observations ox "
    "WHERE ox.project_id = ? AND ox.prompt_name IS NOT NULL AND ox.trace_id IN "
    "(SELECT tw.id FROM traces tw WHERE tw.project_id = ? AND tw.start_time >= ? "
    "AND tw.start_time < ?) GROUP BY ox.trace_id) tp ON tp.trace_id = t.id"
)
_PROMPT_UNNEST = (
    f", unnest(CASE WHEN len(tp.prompts) > 0 THEN tp.prompts ELSE [NULL] END) {PROMPT_ROW}(p)"
)

_OBS_LATENCY = "((epoch_us(o.end_time) - epoch_us(o.start_time)) / 1000)"
_OBS_GENERATION_S = (
    "((epoch_us(o.end_time) - epoch_us(coalesce(o.completion_start_time, o.start_time))) / 1e6)"
)

VIEWS: dict[str, MetricsView] = {
    "traces": MetricsView(
        "traces",
        "traces",
        TRACES,
        "t.start_time",
        {
            **{
                c: Dimension(f"t.{c}")
                for c in (
                    "name",
                    "user_id",
                    "session_id",
                    "release",
                    "version",
                    "environment",
                    "level",
                )
            },
            "tags": Dimension("t.tags", unnest=True),
            "model": Dimension("t.models", unnest=True),
            "prompt_name": Dimension(f"{PROMPT_ROW}.p.name", prompt=True),
            "prompt_version": Dimension(f"{PROMPT_ROW}.p.version", prompt=True),
            "id": Dimension("t.id", is_id=True),
        },
        {
            "count": Measure("1"),
            "latency": Measure("t.latency_ms"),
            "input_tokens": Measure("t.input_tokens"),
            "output_tokens": Measure("t.output_tokens"),
            "total_tokens": Measure("t.total_tokens"),
            "total_cost": Measure("t.total_cost"),
            "observation_count": Measure("t.observation_count"),
            "error_count": Measure("t.error_count"),
            "error_rate": Measure("(CASE WHEN t.error_count > 0 THEN 1.0 ELSE 0.0 END)"),
            "user_id": Measure("t.user_id", numeric=False),
            "session_id": Measure("t.session_id", numeric=False),
            "id": Measure("t.id", numeric=False),
        },
        scores=True,
    ),
    "observations": MetricsView(
        "observations",
        "observations",
        _OBSERVATIONS_JOINED,
        "o.start_time",
        {
            **{
                c: Dimension(f"o.{c}")
                for c in ("name", "type", "model", "level", "prompt_name", "prompt_version")
            },
            **{c: Dimension(f"o.{c}") for c, _ in TRACE_LEVEL},
            "tags": Dimension(f"{TRACE_ROW}.tags", unnest=True),
            "id": Dimension("o.id", is_id=True),
            "trace_id": Dimension("o.trace_id", is_id=True),
        },
        {
            "count": Measure("1"),
            "latency": Measure(_OBS_LATENCY),
            "time_to_first_token": Measure(
                "((epoch_us(o.completion_start_time) - epoch_us(o.start_time)) / 1000)"
            ),
            "input_tokens": Measure("o.input_tokens"),
            "output_tokens": Measure("o.output_tokens"),
            "total_tokens": Measure("o.total_tokens"),
            "streaming_latency": Measure(
                "((epoch_us(o.end_time) - epoch_us(o.completion_start_time)) / 1000)"
            ),
            "tokens_per_second": Measure(f"(o.output_tokens / nullif({_OBS_GENERATION_S}, 0))"),
            "input_cost": Measure("map_extract_value(o.cost, 'input')"),
            "output_cost": Measure("map_extract_value(o.cost, 'output')"),
            "total_cost": Measure("o.total_cost"),
            "error_count": Measure("(CASE WHEN o.level = 'ERROR' THEN 1 ELSE 0 END)"),
            "error_rate": Measure("(CASE WHEN o.level = 'ERROR' THEN 1.0 ELSE 0.0 END)"),
            "user_id": Measure("o.user_id", numeric=False),
            "trace_id": Measure("o.trace_id", numeric=False),
            "id": Measure("o.id", numeric=False),
        },
    ),
}


def _scores_view(name: str, condition: str) -> MetricsView:
    return MetricsView(
        name,
        "scores",
        SCORES,
        "s.timestamp",
        {
            **{
                c: Dimension(f"s.{c}")
                for c in ("name", "source", "data_type", "string_value", "environment")
            },
            "trace_id": Dimension("s.trace_id", is_id=True),
            "observation_id": Dimension("s.observation_id", is_id=True),
        },
        {
            "count": Measure("1"),
            "value": Measure("s.value"),
            "trace_id": Measure("s.trace_id", numeric=False),
            "string_value": Measure("s.string_value", numeric=False),
        },
        condition,
    )


VIEWS["scores"] = _scores_view("scores", "TRUE")
# Langfuse's split of the scores view: numeric and boolean scores, and categorical ones.
VIEWS["scores-numeric"] = _scores_view("scores-numeric", "s.data_type IN ('NUMERIC', 'BOOLEAN')")
VIEWS["scores-categorical"] = _scores_view("scores-categorical", "s.data_type = 'CATEGORICAL'")


@dataclass
class Metric:
    measure: str  # heron's name
    aggregation: str
    label: str = ""  # the measure as the query wrote it (a Langfuse name stays one)

    @property
    def column(self) -> str:
        return f"{self.aggregation}_{self.label or self.measure}"


@dataclass
class MetricsQuery:
    view: str
    dimensions: list[str]  # as the query wrote them
    metrics: list[Metric]
    from_time: datetime
    to_time: datetime
    filters: list[Filter] = field(default_factory=list)
    granularity: str | None = None
    order_by: list[tuple[str, str]] = field(default_factory=list)
    row_limit: int | None = None
    timezone: str = "UTC"
    bins: int = DEFAULT_BINS


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FilterError(f"{key}: expected a list")
    return value


def parse_metrics_query(raw: str | bytes | dict[str, Any]) -> MetricsQuery:
    """Validate a metrics query (JSON text or decoded); raises FilterError naming the part."""
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FilterError(f"query: invalid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise FilterError("query: expected a JSON object")
    body: dict[str, Any] = raw
    view_name = body.get("view")
    view = VIEWS.get(view_name) if isinstance(view_name, str) else None
    if view is None:
        raise FilterError(f"view: unknown view {view_name!r}; use one of {', '.join(VIEWS)}")

    dimensions: list[str] = []
    for i, d in enumerate(_list(body, "dimensions")):
        name = d.get("field") if isinstance(d, dict) else None
        if not isinstance(name, str) or not _dimension_ok(view, name):
            raise FilterError(
                f"dimensions[{i}]: unknown dimension {name!r} for {view.name}; use one of "
                + ", ".join([*view.dimensions, "metadata.<key>"])
            )
        if name not in dimensions:
            dimensions.append(name)

    metrics: list[Metric] = []
    for i, m in enumerate(_list(body, "metrics")):
        if not isinstance(m, dict):
            raise FilterError(f"metrics[{i}]: expected an object with measure and aggregation")
        label, agg = m.get("measure"), m.get("aggregation")
        measure = _measure_name(view, label, i) if isinstance(label, str) else None
        found = _measure(view, measure) if measure else None
        if found is None:
            families = [f"{f}.<score name>" for f in SCORE_MEASURES] if view.scores else []
            raise FilterError(
                f"metrics[{i}]: unknown measure {label!r} for {view.name}; use one of "
                + ", ".join([*view.measures, *families])
            )
        if not isinstance(agg, str) or agg not in AGGREGATIONS:
            raise FilterError(
                f"metrics[{i}]: unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}"
            )
        if measure == "count" and agg != "count":
            raise FilterError(f"metrics[{i}]: measure 'count' takes aggregation 'count'")
        if not found.numeric and agg not in COUNTING:
            raise FilterError(
                f"metrics[{i}]: measure {label!r} is not numeric; use aggregation count or uniq"
            )
        metric = Metric(measure, agg, label)
        if metric.column not in [x.column for x in metrics]:
            metrics.append(metric)
    if not metrics:
        raise FilterError("metrics: at least one {measure, aggregation} is required")

    filters = parse_filters(body.get("filters"))
    compile_filters(filters, view.filters)  # validates columns, operators and values now

    if body.get("fromTimestamp") is None or body.get("toTimestamp") is None:
        raise FilterError("fromTimestamp and toTimestamp are required (ISO 8601)")
    from_time = parse_time(body["fromTimestamp"], "fromTimestamp")
    to_time = parse_time(body["toTimestamp"], "toTimestamp")
    if from_time > to_time:
        raise FilterError("fromTimestamp: must not be after toTimestamp")

    granularity = None
    time_dim = body.get("timeDimension")
    if time_dim is not None:
        g = time_dim.get("granularity") if isinstance(time_dim, dict) else None
        if g == "auto":
            g = _auto_granularity(to_time - from_time)
        if g not in GRANULARITIES:
            raise FilterError(
                f"timeDimension.granularity: unknown granularity {g!r}; use auto or one of "
                + ", ".join(GRANULARITIES)
            )
        granularity = g

    tz = time_zone(body.get("timezone") or "UTC")

    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise FilterError("config: expected an object")
    row_limit = config.get("row_limit")
    if row_limit is not None and (
        isinstance(row_limit, bool)
        or not isinstance(row_limit, int)
        or not 1 <= row_limit <= MAX_ROWS
    ):
        raise FilterError(f"config.row_limit: expected an integer from 1 to {MAX_ROWS}")
    bins = config.get("bins", DEFAULT_BINS)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise FilterError(f"config.bins: expected an integer from 1 to {MAX_BINS}")
    ids = [d for d in dimensions if (dim := _dimension(view, d)) is not None and dim.is_id]
    if ids and row_limit is None:
        raise FilterError(
            f"dimensions: grouping by {ids[0]!r} needs config.row_limit (one row per id)"
        )

    outputs = {
        *dimensions,
        *(m.column for m in metrics),
        *([TIME_COLUMN] if granularity else []),
    }
    order_by: list[tuple[str, str]] = []
    for i, o in enumerate(_list(body, "orderBy")):
        name = o.get("field") if isinstance(o, dict) else None
        direction = (o.get("direction") or "asc") if isinstance(o, dict) else None
        if not isinstance(name, str) or name not in outputs:
            raise FilterError(
                f"orderBy[{i}]: unknown field {name!r}; use one of " + ", ".join(sorted(outputs))
            )
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise FilterError(f"orderBy[{i}]: direction must be asc or desc")
        order_by.append((name, direction.lower()))

    return MetricsQuery(
        view.name,
        dimensions,
        metrics,
        from_time,
        to_time,
        filters,
        granularity,
        order_by,
        row_limit,
        tz,
        bins,
    )


@cache
def _duckdb_zones() -> dict[str, str]:
    """DuckDB's time zone names (what ``AT TIME ZONE`` accepts), by their lower case.

    Python's zoneinfo knows files DuckDB's ICU does not (``posixrules``, ``localtime``,
    ``right/UTC``), so a zone is checked against DuckDB itself, read once."""
    with duckdb.connect(":memory:") as con:
        rows = con.execute("SELECT name FROM pg_timezone_names()").fetchall()
    return {name.lower(): name for (name,) in rows}


def time_zone(value: Any) -> str:
    """The canonical spelling of a time zone DuckDB knows; FilterError naming it otherwise."""
    found = _duckdb_zones().get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise FilterError(
            f"timezone: unknown time zone {str(value)[:64]!r}; "
            "use an IANA name such as Europe/Paris"
        )
    return found


def _name(names: dict[str, object], name: str) -> str | None:
    """heron's name for a dimension or measure written either way, if the view has it."""
    if name in names:
        return name
    return canonical(name) if canonical(name) in names else None


def _measure_name(view: MetricsView, label: str, i: int) -> str | None:
    """heron's name for a measure as written: ``totalCost`` is ``total_cost``; a score measure
    ``<family>.<score name>`` keeps the score's name as written (checked here)."""
    family, dot, score = label.partition(".")
    if not dot:
        return _name(view.measures, label)
    family = family if family in SCORE_MEASURES else canonical(family)
    if family not in SCORE_MEASURES:
        return None
    if not view.scores:
        raise FilterError(
            f"metrics[{i}]: score measures ({', '.join(SCORE_MEASURES)}) are measures of the "
            f"traces view, not of {view.name}"
        )
    if not score or score != score.strip() or len(score) > MAX_SCORE_NAME:
        raise FilterError(
            f"metrics[{i}]: {label!r}: the score name after '{family}.' must be a non-empty "
            f"name of at most {MAX_SCORE_NAME} characters without surrounding spaces"
        )
    if any(ord(c) < 32 for c in score):
        raise FilterError(f"metrics[{i}]: {label!r}: the score name has a control character")
    return f"{family}.{score}"


def _measure(view: MetricsView, name: str) -> Measure | None:
    """The measure of a view by heron's name; a score measure's SQL reads its join ``sc{j}``."""
    family, dot, _ = name.partition(".")
    if dot and view.scores and family in SCORE_MEASURES:
        return Measure(_SCORE_SQL[family], score=name.split(".", 1)[1])
    return view.measures.get(name)


def _dimension(view: MetricsView, name: str) -> Dimension | None:
    found = _name(view.dimensions, name)
    return view.dimensions[found] if found else None


def _dimension_ok(view: MetricsView, name: str) -> bool:
    if _dimension(view, name) is not None:
        return True
    key = name.removeprefix("metadata.")
    return name.startswith("metadata.") and bool(key) and not any(c in key for c in '"\\')


def _auto_granularity(span: timedelta) -> str:
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=90):
        return "day"
    if span <= timedelta(days=730):
        return "week"
    return "month"


@dataclass(frozen=True)
class MetricsLimits:
    """What one metrics query may cost; beyond, it is refused (400) before or while it runs.

    ``max_buckets`` caps the time buckets of the window; ``max_cells`` caps the zero-filled
    grid of time buckets times distinct dimension values (the rows before ``config.row_limit``),
    which grows with both and is what makes a minute grid by ``id`` slow."""

    max_buckets: int = MAX_BUCKETS
    max_cells: int = MAX_CELLS


def check_limits(q: MetricsQuery, limits: MetricsLimits) -> None:
    """Refuse a query whose time buckets exceed the limit, suggesting a coarser granularity."""
    g = q.granularity
    if g is None:
        return
    span = q.to_time - q.from_time
    buckets = int(span / _APPROX[g])
    if buckets <= limits.max_buckets:
        return
    coarser = GRANULARITIES[GRANULARITIES.index(g) + 1 :]
    fits = next((c for c in coarser if span / _APPROX[c] <= limits.max_buckets), None)
    hint = f"use granularity {fits!r} or a shorter window" if fits else "use a shorter window"
    raise FilterError(
        f"timeDimension.granularity: {g!r} gives about {buckets:,} time buckets over this "
        f"window, more than the limit of {limits.max_buckets:,} (HERON_METRICS_MAX_BUCKETS); "
        + hint
    )


# A DuckDB error() the grid guard raises: "<marker><buckets>:<dimension values>"
CELLS_MARKER = "heron-metrics-cells:"


@dataclass
class CompiledMetrics:
    sql: str
    params: list[Any]
    columns: list[str]  # public name of each selected column, in order
    time_column: bool
    histograms: frozenset[str] = frozenset()  # columns holding [[lower, upper, count], ...]


def compile_metrics(
    project_id: str, q: MetricsQuery, limits: MetricsLimits = MetricsLimits()
) -> CompiledMetrics:
    """One SQL statement (and its parameters) answering ``q`` within ``project_id``.

    With a time dimension and dimensions, the statement counts the distinct dimension
    values first and fails (``error()``, see :data:`CELLS_MARKER`) before building a grid of
    more than ``limits.max_cells`` rows. Without ``row_limit`` it returns at most
    ``MAX_ROWS + 1`` rows, so the caller can tell that there were more."""
    view = VIEWS[q.view]
    a = view.alias
    params: list[Any] = []

    # base: one row per record (per list element for unnested dimensions) in the window
    select: list[str] = []
    joins: list[str] = []
    zone = _zone_bucketing(q, view.time)
    if zone is not None:
        select.append(f"{zone.column} AS k_time")
        params += zone.column_params
        joins.append(zone.join)
    keys = ["k_time"] if q.granularity else []
    prompts = False  # the traces' prompts are joined and unnested (once)
    for i, name in enumerate(q.dimensions):
        dim = _dimension(view, name)
        if dim is None:  # metadata.<key>
            select.append(f"json_extract_string({a}.metadata, ?) AS k{i}")
            params.append('$."' + name.removeprefix("metadata.") + '"')
        elif dim.prompt:
            if not prompts:
                joins.append(_PROMPT_UNNEST)
                prompts = True
            select.append(f"{dim.sql} AS k{i}")
        elif dim.unnest:
            joins.append(
                f", unnest(CASE WHEN len({dim.sql}) > 0 THEN {dim.sql} ELSE [NULL] END) u{i}(v)"
            )
            select.append(f"u{i}.v AS k{i}")
        else:
            select.append(f"{dim.sql} AS k{i}")
        keys.append(f"k{i}")
    score_names: list[str] = []  # one join (sc<j>) per score name the metrics read
    for i, m in enumerate(q.metrics):
        measure = _measure(view, m.measure)
        assert measure is not None  # checked by parse_metrics_query
        if measure.score is not None and measure.score not in score_names:
            score_names.append(measure.score)
        j = score_names.index(measure.score) if measure.score is not None else 0
        select.append(f"{measure.sql.format(j=j)} AS v{i}")
    where, fparams = compile_filters(q.filters, view.filters)
    # joins with parameters come first, so their parameters follow the select list's
    lead: list[str] = []
    if _USES_TRACE_ROW.search(" ".join([*select, *joins, where])):
        lead.append(_TRACE_JOIN)
        params.append(project_id)
    for j, score in enumerate(score_names):
        lead.append(f" LEFT JOIN ({_SCORE_ROWS}) sc{j} ON sc{j}.trace_id = {a}.id")
        params += [project_id, score]
    if prompts:
        lead.append(_PROMPT_JOIN)
        params += [project_id, project_id, q.from_time, q.to_time]
    joins[:0] = lead
    base = (
        f"SELECT {', '.join(select)} FROM {view.table} {a}{''.join(joins)} "
        f"WHERE {a}.project_id = ? AND {view.time} >= ? AND {view.time} < ? "
        f"AND {view.condition} AND {where}"
    )
    params += [project_id, q.from_time, q.to_time, *fparams]

    hist = [i for i, m in enumerate(q.metrics) if m.aggregation == "histogram"]
    aggs = []
    for i, m in enumerate(q.metrics):
        x = "*" if m.measure == "count" else f"v{i}"
        if i in hist:
            aggs.append(f"{_histogram_bin(i, q.bins)} AS m{i}")
        elif m.aggregation in PERCENTILES:
            aggs.append(f"{_percentile(q.metrics, i)} AS m{i}")
        else:
            aggs.append(AGGREGATIONS[m.aggregation].format(x=x) + f" AS m{i}")
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    # one range for all groups and buckets, so histograms of a query share their bins
    bounds = ", ".join(f"min(v{i})::DOUBLE AS lo{i}, max(v{i})::DOUBLE AS hi{i}" for i in hist)
    with_bounds = " CROSS JOIN bounds b" if hist else ""
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
    if zone is not None:
        buckets = zone.buckets
        params += zone.buckets_params
        if dim_keys:
            combos = (
                f"combos AS (SELECT DISTINCT {', '.join(dim_keys)} FROM agg UNION ALL "
                f"SELECT {', '.join(f'NULL AS {k}' for k in dim_keys)} "
                "WHERE NOT EXISTS (SELECT 1 FROM agg)), "
            )
            # the guard runs before any grid row exists: it gates the combinations
            n = "(SELECT count(*) FROM buckets)", "(SELECT count(*) FROM combos)"
            guard = (
                f"checked AS (SELECT * FROM combos WHERE (SELECT CASE WHEN {n[0]} * {n[1]} > "
                f"{int(limits.max_cells)} THEN error(printf('{CELLS_MARKER}%d:%d', {n[0]}, "
                f"{n[1]})) ELSE TRUE END))"
            )
            grid = "SELECT b.k_time, c.* FROM buckets b CROSS JOIN checked c"
        else:
            grid = "SELECT k_time FROM buckets"
        on = " AND ".join(f"x.{k} IS NOT DISTINCT FROM g.{k}" for k in keys)
        utc_time = f"{zone.to_utc('x.k_time')} AS k_time"
        final = (
            f"SELECT {', '.join([utc_time, *(f'x.{k}' for k in dim_keys), *metric_out])} "
            f"FROM ({grid}) x LEFT JOIN agg g ON {on}{with_bounds}"
        )
        ctes = f"WITH {zone.cte}base AS ({base}), {{bounds}}agg AS ({agg}), buckets AS ({buckets})"
        ctes += f", {combos}{guard} " if dim_keys else " "
        params[:0] = zone.cte_params
    else:
        final = (
            f"SELECT {', '.join([*(f'g.{k}' for k in dim_keys), *metric_out])} "
            f"FROM agg g{with_bounds}"
        )
        ctes = f"WITH base AS ({base}), {{bounds}}agg AS ({agg}) "
    ctes = ctes.format(bounds=f"bounds AS (SELECT {bounds} FROM base), " if hist else "")

    public = {
        TIME_COLUMN: "k_time",
        **{n: f"k{i}" for i, n in enumerate(q.dimensions)},
        **{m.column: f"m{i}" for i, m in enumerate(q.metrics)},
    }
    order = [f"{public[n]} {d.upper()} NULLS LAST" for n, d in q.order_by]
    order += [f"{k} ASC NULLS LAST" for k in keys if k not in {public[n] for n, _ in q.order_by}]
    sql = f"{ctes}SELECT * FROM ({final}) r"
    if zone is not None and not zone.utc:
        params.append(q.timezone)  # back to UTC in `final`, after the buckets' parameters
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    sql += " LIMIT ?"
    params.append(q.row_limit if q.row_limit is not None else MAX_ROWS + 1)
    columns = [
        *([TIME_COLUMN] if q.granularity else []),
        *q.dimensions,
        *(m.column for m in q.metrics),
    ]
    histograms = frozenset(q.metrics[i].column for i in hist)
    return CompiledMetrics(sql, params, columns, bool(q.granularity), histograms)


def _percentile(metrics: list[Metric], i: int) -> str:
    """Metric ``i``'s percentile, read from one list quantile over every percentile the query
    asks of the same measure: DuckDB then sorts the values once, not once per percentile
    (p50/p95/p99 of 10 million latencies: 0.5 s instead of 2 s)."""
    same = [j for j, m in enumerate(metrics) if m.measure == metrics[i].measure]
    levels = [
        PERCENTILES[metrics[j].aggregation] for j in same if metrics[j].aggregation in PERCENTILES
    ]
    position = levels.index(PERCENTILES[metrics[i].aggregation]) + 1
    return f"quantile_cont(v{same[0]}, {levels!r})[{position}]"


def _histogram_bin(i: int, bins: int) -> str:
    """The per-group aggregate: a map from bin index to count (``bins`` is a checked int)."""
    v, lo, hi = f"v{i}", f"b.lo{i}", f"b.hi{i}"
    index = f"least(CAST(floor(({v} - {lo}) * {bins} / ({hi} - {lo})) AS INTEGER), {bins - 1})"
    return f"histogram(CASE WHEN {v} IS NULL THEN NULL WHEN {hi} > {lo} THEN {index} ELSE 0 END)"


def _histogram_bins(i: int, bins: int) -> str:
    """The map as ``[[lower, upper, count], ...]``; one bin when every value is the same."""
    lo, hi, m = f"b.lo{i}", f"b.hi{i}", f"g.m{i}"
    n = f"(CASE WHEN {hi} > {lo} THEN {bins} ELSE 1 END)"
    width = f"(({hi} - {lo}) / {n})"
    return (
        f"CASE WHEN {m} IS NULL OR cardinality({m}) = 0 THEN NULL ELSE list_transform("
        f"range({n}), lambda j: [{lo} + j * {width}, {lo} + (j + 1) * {width}, "
        f"coalesce({m}[j::INTEGER], 0)]) END"
    )


@dataclass
class ZoneBucketing:
    """How the time buckets of a query are computed in its time zone.

    Converting every row's time to local time is slow (2-3 s per 10 million rows), so a
    non-UTC query joins each row, by its UTC quarter hour (its minute for minute buckets), to
    a small table mapping that quarter hour to its local bucket. This is exact because UTC
    offsets are whole quarter hours (all zones since the 1970s). Very long windows, where
    that table would be large, convert row by row.
    """

    utc: bool
    column: str  # the bucket (naive local time) of a base row
    column_params: list[Any]
    join: str  # joined to the base table ("" when none)
    cte: str  # "name AS (...), " put first in the WITH ("" when none)
    cte_params: list[Any]
    buckets: str  # every bucket start in the window, as k_time
    buckets_params: list[Any]

    def to_utc(self, local: str) -> str:
        if self.utc:
            return local
        return f"(({local} AT TIME ZONE ?) AT TIME ZONE 'UTC')"


MAX_ZONE_MAP_ROWS = 200_000


def _zone_bucketing(q: MetricsQuery, time_sql: str) -> ZoneBucketing | None:
    g = q.granularity
    if g is None:
        return None
    step = _STEP[g]
    window = [q.from_time, q.to_time]
    if q.timezone == "UTC":
        return ZoneBucketing(
            True,
            f"date_trunc('{g}', {time_sql})",
            [],
            "",
            "",
            [],
            f"SELECT range AS k_time FROM range(date_trunc('{g}', ?::TIMESTAMP), "
            f"?::TIMESTAMP, {step})",
            window,
        )
    buckets = f"SELECT range AS k_time FROM range({_local_trunc('?', g)}, {_local('?')}, {step})"
    buckets_params = [q.from_time, q.timezone, q.to_time, q.timezone]
    resolution = timedelta(minutes=1 if g == "minute" else 15)
    if (q.to_time - q.from_time) / resolution > MAX_ZONE_MAP_ROWS:
        column = _local_trunc(time_sql, g)
        return ZoneBucketing(False, column, [q.timezone], "", "", [], buckets, buckets_params)
    res = "INTERVAL 1 MINUTE" if g == "minute" else "INTERVAL 15 MINUTE"
    cte = (
        f"zone_map AS (SELECT range AS utc, {_local_trunc('range', g)} AS k_time "
        f"FROM range(time_bucket({res}, ?::TIMESTAMP), ?::TIMESTAMP, {res})), "
    )
    return ZoneBucketing(
        False,
        "zone_map.k_time",
        [],
        f" JOIN zone_map ON zone_map.utc = time_bucket({res}, {time_sql})",
        cte,
        [q.timezone, *window],
        buckets,
        buckets_params,
    )


def _local(value: str) -> str:
    """A naive-UTC timestamp expression as naive local time in the zone given by a ``?``."""
    return f"(({value}::TIMESTAMP AT TIME ZONE 'UTC') AT TIME ZONE ?)"


def _local_trunc(value: str, granularity: str) -> str:
    return f"date_trunc('{granularity}', {_local(value)})"


def measure_rows(
    project_id: str,
    view_name: str,
    measure_name: str,
    filters: list[Filter],
    start: datetime,
    end: datetime,
) -> tuple[str, list[Any]]:
    """One parameterised SELECT of ``t`` (the view's time) and ``v`` (the measure's value),
    one row per record of the view in ``[start, end)`` matching ``filters``: the rows a
    metrics query aggregates, for callers that aggregate them otherwise (alerts)."""
    view = VIEWS[view_name]
    a = view.alias
    measure = _measure(view, measure_name)
    if measure is None:
        raise FilterError(f"{measure_name!r} is not a measure of the {view_name} view")
    select = f"{view.time} AS t, {measure.sql.format(j=0)} AS v"
    where, fparams = compile_filters(filters, view.filters)
    joins, params = "", []
    if _USES_TRACE_ROW.search(f"{select} {where}"):
        joins += _TRACE_JOIN
        params.append(project_id)
    if measure.score is not None:
        joins += f" LEFT JOIN ({_SCORE_ROWS}) sc0 ON sc0.trace_id = {a}.id"
        params += [project_id, measure.score]
    sql = (
        f"SELECT {select} FROM {view.table} {a}{joins} WHERE {a}.project_id = ? "
        f"AND {view.time} >= ? AND {view.time} < ? AND {view.condition} AND {where}"
    )
    return sql, [*params, project_id, start, end, *fparams]
