"""Column builders: records to Arrow tables that DuckDB inserts in one statement."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from heron.model import ObservationRecord

TS = pa.timestamp("us")
USAGE_TYPE = pa.map_(pa.string(), pa.int64())
COST_TYPE = pa.map_(pa.string(), pa.float64())

OBSERVATION_COLUMNS = (
    "project_id",
    "id",
    "trace_id",
    "parent_id",
    "type",
    "name",
    "start_time",
    "end_time",
    "completion_start_time",
    "model",
    "model_parameters",
    "input",
    "output",
    "metadata",
    "level",
    "status_message",
    "usage",
    "cost",
    "cost_source",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "total_cost",
    "prompt_name",
    "prompt_version",
    "updated_at",
)

# Trace attributes each observation row also holds: observation column -> trace column.
TRACE_ATTRIBUTES: dict[str, str] = {
    "trace_name": "name",
    "user_id": "user_id",
    "session_id": "session_id",
    "release": "release",
    "version": "version",
    "environment": "environment",
}

TRACE_COLUMNS = (
    "project_id",
    "id",
    "name",
    "user_id",
    "session_id",
    "release",
    "version",
    "environment",
    "tags",
    "metadata",
    "input",
    "output",
    "public",
    "start_time",
    "end_time",
    "latency_ms",
    "total_cost",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "observation_count",
    "error_count",
    "level",
    "models",
    "root_observation_id",
    "explicit",
    "updated_at",
    "input_preview",
    "change_seq",
)


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def observations_table(records: list[ObservationRecord], now_us: int) -> pa.Table:
    # Column by column with comprehensions: several times faster than row by row.
    usages = [r.usage for r in records]
    costs = [r.cost for r in records]
    string = pa.string()
    return pa.table(
        {
            "project_id": pa.array([r.project_id for r in records], string),
            "id": pa.array([r.id for r in records], string),
            "trace_id": pa.array([r.trace_id for r in records], string),
            "parent_id": pa.array([r.parent_id for r in records], string),
            "type": pa.array([r.type for r in records], string),
            "name": pa.array([r.name for r in records], string),
            "start_time": pa.array([r.start_us for r in records], TS),
            "end_time": pa.array([r.end_us for r in records], TS),
            "completion_start_time": pa.array([r.completion_start_us for r in records], TS),
            "model": pa.array([r.model for r in records], string),
            "model_parameters": pa.array(
                [dumps(r.model_parameters) if r.model_parameters else None for r in records],
                string,
            ),
            "input": pa.array([r.input for r in records], string),
            "output": pa.array([r.output for r in records], string),
            "metadata": pa.array(
                [dumps(r.metadata) if r.metadata else None for r in records], string
            ),
            "level": pa.array([r.level for r in records], string),
            "status_message": pa.array([r.status_message for r in records], string),
            "usage": pa.array([list(u.items()) if u else None for u in usages], USAGE_TYPE),
            "cost": pa.array([list(c.items()) if c else None for c in costs], COST_TYPE),
            "cost_source": pa.array(
                [
                    None if not r.cost else ("client" if r.cost_from_client else "computed")
                    for r in records
                ],
                string,
            ),
            "input_tokens": pa.array([u.get("input") for u in usages], pa.int64()),
            "output_tokens": pa.array([u.get("output") for u in usages], pa.int64()),
            "total_tokens": pa.array([u.get("total") for u in usages], pa.int64()),
            "total_cost": pa.array([c.get("total") for c in costs], pa.float64()),
            "prompt_name": pa.array([r.prompt_name for r in records], string),
            "prompt_version": pa.array([r.prompt_version for r in records], pa.int32()),
            "updated_at": pa.array([now_us] * len(records), TS),
        }
    )


_TRACE_TYPES: dict[str, pa.DataType] = {
    "tags": pa.list_(pa.string()),
    "models": pa.list_(pa.string()),
    "explicit": pa.list_(pa.string()),
    "public": pa.bool_(),
    "start_time": TS,
    "end_time": TS,
    "updated_at": TS,
    "change_seq": pa.int64(),
    "latency_ms": pa.float64(),
    "total_cost": pa.float64(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "total_tokens": pa.int64(),
    "observation_count": pa.int32(),
    "error_count": pa.int32(),
}


def traces_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows are dicts keyed by TRACE_COLUMNS; metadata already JSON text, times in µs."""
    return pa.table(
        {c: pa.array([r[c] for r in rows], _TRACE_TYPES.get(c, pa.string())) for c in TRACE_COLUMNS}
    )
