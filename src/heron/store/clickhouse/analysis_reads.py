"""What trace rules, evaluators' filters, comparisons, dashboards and prices read, on
ClickHouse: EmbeddedStore's answers to the same calls (:mod:`heron.store.signals`,
:mod:`heron.store.evaluators`, :mod:`heron.compare.engine`, :mod:`heron.store.dashboards`).

Traces are read through the traces view of :mod:`.reads` (their stored aggregates),
observations through its observations view (their trace's attributes joined), filters are
compiled by :mod:`heron.query.clickhouse`, and every value is a bound parameter.

Exact, not approximate: a trace name's percentile (:meth:`AnalysisReads.signal_percentiles`)
is the continuous quantile of the sorted values (``arraySort(groupArray(..))``): the two values
at ``floor`` and ``ceil`` of ``(n - 1) * q`` are read, and interpolated in Python by the
function DuckDB's store uses too (:func:`heron.store.signals.interpolate`), so both give the
same bits (neither ClickHouse's ``quantileExactInclusive`` nor DuckDB's ``quantile_cont``
rounds the same way on every build). A comparison reads the same
per-record values as DuckDB, in the same order (by id), and computes its statistics
(percentiles included) with the same code (:func:`heron.compare.engine.compare_cohorts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from clickhouse_connect.driver.client import Client

from heron.compare.engine import CohortData, answer, compare_cohorts, floats
from heron.compare.query import VIEWS, Cohort, CompareQuery
from heron.query import OBSERVATIONS, TRACES
from heron.query.clickhouse import Params, compile_filters, to_us
from heron.query.filters import Filter
from heron.query.views import View
from heron.store import signals as signaldb
from heron.store.clickhouse.reads import _OBSERVATION_VIEW, _trace_view, utc
from heron.store.clickhouse.time_limit import NO_LIMIT, TimeLimit
from heron.store.evaluators import OBSERVATION_FIELDS
from heron.store.reads import iso

_US = "toUnixTimestamp64Micro"
_JOIN_NULLS = {"join_use_nulls": 1}
# An observation's ``heron.fingerprint`` attribute, as DuckDB's json_extract_string reads it.
_FINGERPRINT = (
    "if(JSONType(coalesce(o.metadata, ''), 'heron.fingerprint') = 'String', "
    "JSONExtractString(o.metadata, 'heron.fingerprint'), "
    "nullIf(JSONExtractRaw(coalesce(o.metadata, ''), 'heron.fingerprint'), ''))"
)


def _traces() -> str:
    return f"({_trace_view()}) AS t"


def _observations() -> str:
    return f"({_OBSERVATION_VIEW}) AS o"


def _source(view: View) -> str:
    return _traces() if view is TRACES else _observations()


def signal_percentiles(
    client: Client, project_id: str, column: str, fraction: float, since: datetime, min_traces: int
) -> dict[str, float]:
    """Per trace name, the ``fraction`` quantile of ``column`` (latency_ms or total_cost)
    over traces starting since ``since``, for names with at least ``min_traces`` values:
    the two values around it, interpolated as on DuckDB (:func:`signaldb.interpolate`)."""
    if column not in ("latency_ms", "total_cost"):
        raise ValueError(column)
    rows = client.query(
        "SELECT name, n, a[toUInt64(floor(rn)) + 1], a[toUInt64(ceil(rn)) + 1] FROM ("
        "SELECT assumeNotNull(t.name) AS name, count() AS n, "
        f"arraySort(groupArray(toFloat64(assumeNotNull(t.{column})))) AS a, "
        "toFloat64(n - 1) * {q:Float64} AS rn "
        f"FROM {_traces()} WHERE {_US}(t.start_time) >= {{since:Int64}} "
        f"AND t.{column} IS NOT NULL AND t.name IS NOT NULL GROUP BY name "
        "HAVING n >= {min:Int64})",
        parameters={
            "project": project_id,
            "q": float(fraction),
            "since": to_us(since),
            "min": min_traces,
        },
        settings=_JOIN_NULLS,
    ).result_rows
    return {name: signaldb.interpolate(n, fraction, lo, hi) for name, n, lo, hi in rows}


def trace_scores(client: Client, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The scores of ``trace_ids`` (what negative-feedback and implicit rules read)."""
    if not trace_ids:
        return []
    names = ("id", "trace_id", "observation_id", "name", "value", "string_value", "data_type",
             "source", "timestamp")  # fmt: skip
    columns = ", ".join(f"{_US}(timestamp)" if n == "timestamp" else n for n in names)
    rows = client.query(
        f"SELECT {columns} FROM scores FINAL WHERE project_id = {{project:String}} "
        "AND trace_id IN {ids:Array(String)} ORDER BY trace_id, timestamp, id",
        parameters={"project": project_id, "ids": list(trace_ids)},
    ).result_rows
    out = []
    for r in rows:
        item = dict(zip(names, r, strict=True))
        item["timestamp"] = utc(item["timestamp"])
        out.append(item)
    return out


def trace_calls(client: Client, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The tool and model calls of ``trace_ids`` in time order (the retry-cluster rule)."""
    if not trace_ids:
        return []
    names = ("id", "trace_id", "type", "name", "model", "level", "start_time", "fingerprint")
    rows = client.query(
        f"SELECT o.id, o.trace_id, o.type, o.name, o.model, o.level, {_US}(o.start_time), "
        f"{_FINGERPRINT} FROM observations AS o FINAL WHERE o.project_id = {{project:String}} "
        "AND o.trace_id IN {ids:Array(String)} "
        "AND (o.type IN ('tool', 'generation') OR o.model IS NOT NULL) "
        "ORDER BY o.trace_id, o.start_time, o.id",
        parameters={"project": project_id, "ids": list(trace_ids)},
    ).result_rows
    out = []
    for r in rows:
        item = dict(zip(names, r, strict=True))
        item["start_time"] = utc(item["start_time"])
        out.append(item)
    return out


def _rule_columns(rules: Mapping[str, Sequence[Filter]], view: View, params: Params) -> str:
    return ", ".join(
        f"coalesce(({compile_filters(list(f), view, params)}), 0) AS m{i}"
        for i, f in enumerate(rules.values())
    )


def match_traces(
    client: Client, project_id: str, ids: Sequence[str], rules: Mapping[str, Sequence[Filter]]
) -> dict[str, set[str]]:
    """Which of the traces ``ids`` each rule's filters match: one scan for all rules."""
    if not ids or not rules:
        return {name: set() for name in rules}
    params = Params(project_id)
    columns = _rule_columns(rules, TRACES, params)
    ids_p = params.add(list(ids), "Array(String)")
    rows = client.query(
        f"SELECT t.id, {columns} FROM {_traces()} WHERE t.id IN {ids_p}",
        parameters=params.values,
        settings=_JOIN_NULLS,
    ).result_rows
    out: dict[str, set[str]] = {name: set() for name in rules}
    names = list(rules)
    for trace_id, *flags in rows:
        for name, flag in zip(names, flags, strict=True):
            if flag:
                out[name].add(trace_id)
    return out


def match_observations(
    client: Client,
    project_id: str,
    trace_ids: Sequence[str],
    rules: Mapping[str, Sequence[Filter]],
) -> dict[str, list[dict[str, Any]]]:
    """The observations of ``trace_ids`` each rule's filters match (in trace and time
    order): one scan for all rules."""
    if not trace_ids or not rules:
        return {name: [] for name in rules}
    params = Params(project_id)
    columns = _rule_columns(rules, OBSERVATIONS, params)
    ids_p = params.add(list(trace_ids), "Array(String)")
    fields = ("id", "trace_id", "type", "name", "model", "level", "status_message",
              "start_time", "fingerprint")  # fmt: skip
    selected = ", ".join(
        f"{_US}(o.start_time)" if f == "start_time" else f"o.{f}" for f in fields[:-1]
    )
    flags = " OR ".join(f"m{i}" for i in range(len(rules)))
    rows = client.query(
        f"SELECT {selected}, {_FINGERPRINT}, {columns} FROM {_observations()} "
        f"WHERE o.trace_id IN {ids_p} AND ({flags}) ORDER BY o.trace_id, o.start_time, o.id",
        parameters=params.values,
        settings=_JOIN_NULLS,
    ).result_rows
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in rules}
    names = list(rules)
    for row in rows:
        item = dict(zip(fields, row[: len(fields)], strict=True))
        item["start_time"] = utc(item["start_time"])
        for name, flag in zip(names, row[len(fields) :], strict=True):
            if flag:
                out[name].append(item)
    return out


def matching_traces(
    client: Client, project_id: str, ids: Sequence[str], filters: Sequence[Filter]
) -> set[str]:
    """Which of the traces ``ids`` match ``filters`` (the traces view's filter language)."""
    if not ids:
        return set()
    params = Params(project_id)
    where = compile_filters(list(filters), TRACES, params)
    ids_p = params.add(list(ids), "Array(String)")
    rows = client.query(
        f"SELECT t.id FROM {_traces()} WHERE t.id IN {ids_p} AND {where}",
        parameters=params.values,
        settings=_JOIN_NULLS,
    ).result_rows
    return {r[0] for r in rows}


def matching_observations(
    client: Client, project_id: str, trace_ids: Sequence[str], filters: Sequence[Filter]
) -> list[dict[str, Any]]:
    """The observations of ``trace_ids`` matching ``filters``, in trace and time order, with
    :data:`heron.store.evaluators.OBSERVATION_FIELDS` (metadata parsed)."""
    if not trace_ids:
        return []
    params = Params(project_id)
    where = compile_filters(list(filters), OBSERVATIONS, params)
    ids_p = params.add(list(trace_ids), "Array(String)")
    times = ("start_time", "end_time")
    columns = ", ".join(f"{_US}(o.{c})" if c in times else f"o.{c}" for c in OBSERVATION_FIELDS)
    rows = client.query(
        f"SELECT {columns} FROM {_observations()} WHERE o.trace_id IN {ids_p} AND {where} "
        "ORDER BY o.trace_id, o.start_time, o.id",
        parameters=params.values,
        settings=_JOIN_NULLS,
    ).result_rows
    out = []
    for row in rows:
        item = dict(zip(OBSERVATION_FIELDS, row, strict=True))
        for c in times:
            item[c] = utc(item[c])
        if isinstance(item.get("metadata"), str):
            item["metadata"] = orjson.loads(item["metadata"])
        out.append(item)
    return out


def changes(
    client: Client,
    project_id: str,
    trace_filters: Sequence[Filter] = (),
    observation_filters: Sequence[Filter] = (),
) -> list[dict[str, Any]]:
    """Every release, version and prompt version with the moment it first appeared (as
    :func:`heron.store.dashboards.changes`), oldest first."""
    params = Params(project_id)
    t_where = compile_filters(list(trace_filters), TRACES, params)
    o_where = compile_filters(list(observation_filters), OBSERVATIONS, params)
    found: list[tuple[int, str, str | None, str]] = []
    for kind in ("release", "version"):
        rows = client.query(
            f"SELECT assumeNotNull(t.{kind}) AS v, min({_US}(t.start_time)) FROM {_traces()} "
            f"WHERE t.{kind} IS NOT NULL AND {t_where} GROUP BY v",
            parameters=params.values,
            settings=_JOIN_NULLS,
        ).result_rows
        found += [(first, kind, None, value) for value, first in rows]
    rows = client.query(
        "SELECT assumeNotNull(o.prompt_name) AS n, toString(assumeNotNull(o.prompt_version)) "
        f"AS v, min({_US}(o.start_time)) FROM {_observations()} WHERE o.prompt_name IS NOT NULL "
        f"AND o.prompt_version IS NOT NULL AND {o_where} GROUP BY n, v",
        parameters=params.values,
        settings=_JOIN_NULLS,
    ).result_rows
    found += [(first, "prompt", name, value) for name, value, first in rows]
    # DuckDB's ORDER BY first_seen, kind, name, value (NULL names only where all are NULL)
    found.sort(key=lambda r: (r[0], r[1], r[2] or "", r[3]))
    previous: dict[tuple[str, str | None], str] = {}
    out = []
    for first, kind, prompt, value in found:
        label = f"{prompt} v{value}" if kind == "prompt" else value
        group = (kind, prompt)
        out.append(
            {
                "kind": kind,
                "name": prompt,
                "value": label,
                "previous": previous.get(group),
                "first_seen": iso(utc(first)),
            }
        )
        previous[group] = label
    return out


# -- comparisons ------------------------------------------------------------------------------

_GEN_US = f"({_US}(o.end_time) - {_US}(coalesce(o.completion_start_time, o.start_time)))"
_TTFT_MS = f"({_US}(o.completion_start_time) - {_US}(o.start_time)) / 1000.0"
_TRACE_ROWS = (
    f"SELECT t.id, {_US}(t.start_time), {_US}(coalesce(t.end_time, t.start_time)), "
    "toFloat64(t.latency_ms) AS latency, toFloat64(t.input_tokens) AS input_tokens, "
    "toFloat64(t.output_tokens) AS output_tokens, toFloat64(t.total_tokens) AS total_tokens, "
    "toFloat64(t.total_cost) AS total_cost, toFloat64(t.error_count) AS error_count, "
    "toFloat64(t.error_count > 0) AS has_error "
    "FROM {source} WHERE {cohort} ORDER BY t.id"
)
_TRACE_VALUES = ("latency", "input_tokens", "output_tokens", "total_tokens", "total_cost",
                 "error_count", "has_error")  # fmt: skip
# Per trace of the cohort: time to first token of its first streamed generation, output
# tokens per second of generation time (see heron.compare.engine._TRACE_GENERATIONS).


def _trace_generations(source: str, cohort: str) -> str:
    return (
        "SELECT o.trace_id, "
        f"argMinIf({_TTFT_MS}, o.start_time, o.completion_start_time IS NOT NULL), "
        "sumIf(o.output_tokens, o.end_time IS NOT NULL AND o.output_tokens > 0) / nullIf(sumIf("
        f"{_GEN_US}, o.end_time IS NOT NULL AND o.output_tokens > 0) / 1e6, 0) "
        "FROM observations AS o FINAL WHERE o.project_id = {project:String} "
        f"AND o.type = 'generation' AND {_US}(o.start_time) BETWEEN {{low:Int64}} "
        f"AND {{high:Int64}} AND o.trace_id IN (SELECT t.id FROM {source} WHERE {cohort}) "
        "GROUP BY o.trace_id"
    )


_OBSERVATION_ROWS = (
    f"SELECT o.id, ({_US}(o.end_time) - {_US}(o.start_time)) / 1000.0 AS latency, "
    f"{_TTFT_MS} AS ttft, toFloat64(o.input_tokens) AS input_tokens, "
    "toFloat64(o.output_tokens) AS output_tokens, toFloat64(o.total_tokens) AS total_tokens, "
    f"o.output_tokens / nullIf({_GEN_US} / 1e6, 0) AS tps, "
    "toFloat64(o.total_cost) AS total_cost, toFloat64(o.level = 'ERROR') AS has_error "
    "FROM {source} WHERE {cohort} ORDER BY o.id"
)
_OBSERVATION_VALUES = ("latency", "ttft", "input_tokens", "output_tokens", "total_tokens",
                       "tps", "total_cost", "has_error")  # fmt: skip
_SCORE_VALUES = (
    "SELECT s.{key} AS record_id, s.name, s.data_type, "
    "if(s.data_type = 'CATEGORICAL', s.string_value, NULL) AS label, "
    "toFloat64(avg(s.value)) AS value "
    "FROM scores AS s FINAL WHERE s.project_id = {{project:String}} AND s.data_type != 'TEXT' "
    "AND s.{key} IN (SELECT {alias}.id FROM {source} WHERE {cohort}) "
    "GROUP BY record_id, s.name, s.data_type, label "
    "ORDER BY record_id, s.name, s.data_type, label"
)


def _cohort(project_id: str, view: View, cohort: Cohort) -> tuple[str, Params]:
    params = Params(project_id)
    a = view.alias
    parts = []
    if cohort.from_time is not None:
        parts.append(f"{_US}({a}.start_time) >= {params.add(to_us(cohort.from_time), 'Int64')}")
    if cohort.to_time is not None:
        parts.append(f"{_US}({a}.start_time) < {params.add(to_us(cohort.to_time), 'Int64')}")
    parts.append(compile_filters(cohort.filters, view, params))
    return " AND ".join(parts), params


def _column(rows: list[Sequence[Any]], index: int) -> np.ndarray:
    return floats(np.array([r[index] for r in rows], dtype=object).astype(np.float64))


def fetch_cohort(
    client: Client,
    project_id: str,
    view_name: str,
    cohort: Cohort,
    limit: TimeLimit = NO_LIMIT,
) -> CohortData:
    """The cohort's per-record metric values and score values, as DuckDB's
    :func:`heron.compare.engine.fetch_cohort` gives them (same values, same order); its
    queries run within ``limit`` (a QueryTimeout past it)."""

    def query(sql: str, parameters: dict[str, Any]) -> list[Any]:
        return limit.query(client, sql, parameters, _JOIN_NULLS).result_rows

    view = VIEWS[view_name]
    where, params = _cohort(project_id, view, cohort)
    source = _source(view)
    if view is TRACES:
        rows = query(_TRACE_ROWS.format(source=source, cohort=where), params.values)
        low = min((r[1] for r in rows), default=0)
        high = max((r[2] for r in rows), default=0)
        bounds = {**params.values, "low": low, "high": high}
        generations = query(_trace_generations(source, where), bounds)
        by_trace = {g[0]: g[1:] for g in generations}
        values = {name: _column(rows, 3 + i) for i, name in enumerate(_TRACE_VALUES)}
        joined = [by_trace.get(r[0], (None, None)) for r in rows]  # the LEFT JOIN of DuckDB's
        values["ttft"], values["tps"] = _column(joined, 0), _column(joined, 1)
        key = "trace_id"
    else:
        rows = query(_OBSERVATION_ROWS.format(source=source, cohort=where), params.values)
        values = {name: _column(rows, 1 + i) for i, name in enumerate(_OBSERVATION_VALUES)}
        key = "observation_id"
    scored = query(
        _SCORE_VALUES.format(key=key, alias=view.alias, source=source, cohort=where), params.values
    )
    names = ("record_id", "name", "data_type", "label", "value")
    scores = {n: np.array([r[i] for r in scored], dtype=object) for i, n in enumerate(names)}
    scores["value"] = _column(scored, 4)
    return CohortData(values, scores)


def compare(
    client: Client, project_id: str, query: CompareQuery, timeout_s: float | None = None
) -> dict[str, Any]:
    """Two cohorts compared on every metric (see :mod:`heron.compare`)."""
    limit = TimeLimit(timeout_s, "the comparison")  # for both cohorts' queries together
    base = fetch_cohort(client, project_id, query.view, query.baseline, limit)
    cand = fetch_cohort(client, project_id, query.view, query.candidate, limit)
    return answer(query, compare_cohorts(base, cand, query.view, query.seed))


class AnalysisReads:
    """The rule, filter, comparison, dashboard and price reads of the events half."""

    client: Client
    query_timeout_s: float | None  # a comparison (both cohorts together); None: no limit

    def signal_percentiles(
        self, project_id: str, column: str, fraction: float, since: datetime, min_traces: int
    ) -> dict[str, float]:
        """Per trace name, a quantile of latency_ms or total_cost since ``since``."""
        return signal_percentiles(self.client, project_id, column, fraction, since, min_traces)

    def trace_scores(self, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
        return trace_scores(self.client, project_id, trace_ids)

    def trace_calls(self, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Tool and model calls of the traces, in time order."""
        return trace_calls(self.client, project_id, trace_ids)

    def signal_trace_matches(
        self, project_id: str, ids: Sequence[str], rules: dict[str, list[Filter]]
    ) -> dict[str, set[str]]:
        """Which traces each rule's filters match (one scan for all rules)."""
        return match_traces(self.client, project_id, ids, rules)

    def signal_observation_matches(
        self, project_id: str, trace_ids: Sequence[str], rules: dict[str, list[Filter]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The observations each rule's filters match (one scan for all rules)."""
        return match_observations(self.client, project_id, trace_ids, rules)

    def matching_traces(
        self, project_id: str, ids: Sequence[str], filters: Sequence[Filter]
    ) -> set[str]:
        return matching_traces(self.client, project_id, ids, filters)

    def matching_observations(
        self, project_id: str, trace_ids: Sequence[str], filters: Sequence[Filter]
    ) -> list[dict[str, Any]]:
        return matching_observations(self.client, project_id, trace_ids, filters)

    def compare(self, project_id: str, query: CompareQuery) -> dict[str, Any]:
        """Two cohorts compared on every metric (see :mod:`heron.compare`)."""
        return compare(self.client, project_id, query, self.query_timeout_s)

    def changes(
        self,
        project_id: str,
        trace_filters: Sequence[Filter] = (),
        observation_filters: Sequence[Filter] = (),
    ) -> list[dict[str, Any]]:
        """Releases, versions and prompt versions with when each first appeared."""
        return changes(self.client, project_id, trace_filters, observation_filters)

    def trace_environments(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> dict[str, str | None]:
        rows = self.client.query(
            "SELECT id, environment FROM traces FINAL WHERE project_id = {project:String} "
            "AND id IN {ids:Array(String)}",
            parameters={"project": project_id, "ids": list(trace_ids)},
        ).result_rows
        return dict(rows)

    def observed_models(self, project_id: str) -> list[str]:
        """Every model name the project's observations carry (what a price may re-price)."""
        rows = self.client.query(
            "SELECT DISTINCT assumeNotNull(model) AS m FROM observations FINAL "
            "WHERE project_id = {project:String} AND model IS NOT NULL ORDER BY m",
            parameters={"project": project_id},
        ).result_rows
        return [r[0] for r in rows]

    def unpriced_models(self, project_id: str) -> list[dict[str, Any]]:
        """Models seen with token usage but no price: the "models without price" list."""
        rows = self.client.query(
            f"SELECT assumeNotNull(model) AS m, count() AS n, sum(total_tokens), "
            f"{_US}(max(start_time)) FROM observations FINAL WHERE project_id = {{project:String}} "
            "AND model IS NOT NULL AND total_cost IS NULL "
            "AND (input_tokens > 0 OR output_tokens > 0 OR total_tokens > 0) "
            "GROUP BY m ORDER BY n DESC, m",
            parameters={"project": project_id},
        ).result_rows
        return [
            {"model": m, "observations": n, "total_tokens": t, "last_seen": iso(utc(last))}
            for m, n, t, last in rows
        ]
