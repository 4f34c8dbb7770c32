"""Cumulative totals for the Prometheus export on ClickHouse, as :mod:`heron.store.llmstats`
and :mod:`heron.store.scorestats` compute them in DuckDB (same rows, same labels).

A trace is settled once its root span has arrived or nothing was written to it before
``settled_before``: as in DuckDB, a trace's row is written again (``updated_at``: the batch's
time) at each write touching it, and holds its root span's id (its stored aggregates).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from heron.query.clickhouse import to_us
from heron.store.llmstats import LATENCY_BUCKETS, MODEL_CALL_TYPES, SeriesTotals, _totals
from heron.store.scorestats import SOURCES, ScoreTotals

_US = "toUnixTimestamp64Micro"
_SETTINGS = {"join_use_nulls": 1}

# The project's settled traces (alias ``t``).
_SETTLED = (
    "SELECT id, name, level, input_tokens, output_tokens, total_cost, latency_ms "
    "FROM traces FINAL WHERE project_id = {project:String} AND start_time IS NOT NULL "
    f"AND (root_observation_id IS NOT NULL OR {_US}(updated_at) < {{settled:Int64}})"
)


def _buckets(latency_s: str) -> str:
    # Bounds are constants of llmstats, never user input.
    return ", ".join(f"countIf({latency_s} <= {bound!r})" for bound in LATENCY_BUCKETS)


_CALL_LATENCY = f"(({_US}(o.end_time) - {_US}(o.start_time)) / 1e6)"
_CALLS_SQL = f"""
SELECT o.model, t.name, count(), countIf(o.level = 'ERROR'),
       coalesce(sum(o.input_tokens), 0), coalesce(sum(o.output_tokens), 0),
       coalesce(sum(o.total_cost), 0), count(o.end_time), coalesce(sum({_CALL_LATENCY}), 0),
       {_buckets(_CALL_LATENCY)}
FROM observations AS o FINAL
INNER JOIN ({_SETTLED}) AS t ON t.id = o.trace_id
WHERE o.project_id = {{project:String}} AND o.type IN {{types:Array(String)}}
GROUP BY o.model, t.name
"""

_TRACE_LATENCY = "(t.latency_ms / 1e3)"
_TRACES_SQL = f"""
SELECT t.name, count(), countIf(t.level = 'ERROR'),
       coalesce(sum(t.input_tokens), 0), coalesce(sum(t.output_tokens), 0),
       coalesce(sum(t.total_cost), 0), count(t.latency_ms), coalesce(sum({_TRACE_LATENCY}), 0),
       {_buckets(_TRACE_LATENCY)}
FROM ({_SETTLED}) AS t
GROUP BY t.name
"""


def model_call_totals(
    client: Client, project_id: str, settled_before: datetime
) -> list[SeriesTotals]:
    """Model calls of settled traces by ``(model, trace name)`` (``settled_before`` naive
    UTC), as :func:`heron.store.llmstats.model_call_totals`."""
    rows = client.query(
        _CALLS_SQL,
        parameters={
            "project": project_id,
            "settled": to_us(settled_before),
            "types": list(MODEL_CALL_TYPES),
        },
        settings=_SETTINGS,
    ).result_rows
    return [_totals(tuple(row), 2) for row in rows]


def trace_totals(client: Client, project_id: str, settled_before: datetime) -> list[SeriesTotals]:
    """Settled traces by trace name, as :func:`heron.store.llmstats.trace_totals`."""
    rows = client.query(
        _TRACES_SQL,
        parameters={"project": project_id, "settled": to_us(settled_before)},
        settings=_SETTINGS,
    ).result_rows
    return [_totals(tuple(row), 1) for row in rows]


def _score_sql(max_chars: int) -> str:
    n = int(max_chars)  # an int of the caller's (lengthUTF8 and leftUTF8 count code points)
    sources = ", ".join(f"'{s}'" for s in SOURCES)  # constants of scorestats
    return f"""
WITH raw AS (
    SELECT name, source, data_type, count() AS n, count(value) AS valued,
           coalesce(sum(value), 0) AS value_sum,
           countIf(data_type = 'BOOLEAN' AND value != 0) AS trues
    FROM scores FINAL WHERE project_id = {{project:String}}
    GROUP BY name, source, data_type
), labelled AS (
    SELECT multiIf(name = '', 'unknown', lengthUTF8(name) <= {n}, name,
                   concat(leftUTF8(name, {n - 1}), '…')) AS label,
           if(source IN ({sources}), source, 'other') AS src,
           data_type AS kind, n, valued, value_sum, trues
    FROM raw
), top AS (
    SELECT label FROM labelled GROUP BY label ORDER BY sum(n) DESC, label LIMIT {{top:UInt64}}
)
SELECT if(label IN (SELECT label FROM top) OR has({{keep:Array(String)}}, label), label, NULL)
           AS shown,
       src, kind, sum(n), sum(valued), sum(value_sum), sum(trues)
FROM labelled
GROUP BY shown, src, kind
"""


def score_totals(
    client: Client, project_id: str, keep: Sequence[str], top: int, max_chars: int
) -> list[ScoreTotals]:
    """The project's scores by (name, source, data type), as
    :func:`heron.store.scorestats.score_totals` (names cut, the rest summed under ``None``)."""
    rows = client.query(
        _score_sql(max_chars),
        parameters={"project": project_id, "top": int(top), "keep": list(keep)},
    ).result_rows
    return [
        ScoreTotals(
            name=name,
            source=source,
            data_type=data_type,
            count=int(n),
            valued=int(valued),
            value_sum=float(value_sum),
            true=int(trues),
        )
        for name, source, data_type, n, valued, value_sum, trues in rows
    ]
