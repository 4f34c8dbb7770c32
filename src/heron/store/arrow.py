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
)


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def observations_table(records: list[ObservationRecord], now_us: int) -> pa.Table:
    cols: dict[str, list[Any]] = {c: [] for c in OBSERVATION_COLUMNS}
    for r in records:
        usage = r.usage
        cost = r.cost
        cols["project_id"].append(r.project_id)
        cols["id"].append(r.id)
        cols["trace_id"].append(r.trace_id)
        cols["parent_id"].append(r.parent_id)
        cols["type"].append(r.type)
        cols["name"].append(r.name)
        cols["start_time"].append(r.start_us)
        cols["end_time"].append(r.end_us)
        cols["completion_start_time"].append(r.completion_start_us)
        cols["model"].append(r.model)
        cols["model_parameters"].append(dumps(r.model_parameters) if r.model_parameters else None)
        cols["input"].append(r.input)
        cols["output"].append(r.output)
        cols["metadata"].append(dumps(r.metadata) if r.metadata else None)
        cols["level"].append(r.level)
        cols["status_message"].append(r.status_message)
        cols["usage"].append(list(usage.items()) if usage else None)
        cols["cost"].append(list(cost.items()) if cost else None)
        cols["cost_source"].append(
            None if not cost else ("client" if r.cost_from_client else "computed")
        )
        cols["input_tokens"].append(usage.get("input"))
        cols["output_tokens"].append(usage.get("output"))
        cols["total_tokens"].append(usage.get("total"))
        cols["total_cost"].append(cost.get("total"))
        cols["prompt_name"].append(r.prompt_name)
        cols["prompt_version"].append(r.prompt_version)
        cols["updated_at"].append(now_us)
    return pa.table(
        {
            **{c: pa.array(cols[c], pa.string()) for c in _STRING_OBS},
            "start_time": pa.array(cols["start_time"], TS),
            "end_time": pa.array(cols["end_time"], TS),
            "completion_start_time": pa.array(cols["completion_start_time"], TS),
            "usage": pa.array(cols["usage"], USAGE_TYPE),
            "cost": pa.array(cols["cost"], COST_TYPE),
            "input_tokens": pa.array(cols["input_tokens"], pa.int64()),
            "output_tokens": pa.array(cols["output_tokens"], pa.int64()),
            "total_tokens": pa.array(cols["total_tokens"], pa.int64()),
            "total_cost": pa.array(cols["total_cost"], pa.float64()),
            "prompt_version": pa.array(cols["prompt_version"], pa.int32()),
            "updated_at": pa.array(cols["updated_at"], TS),
        }
    ).select(list(OBSERVATION_COLUMNS))


_STRING_OBS = (
    "project_id",
    "id",
    "trace_id",
    "parent_id",
    "type",
    "name",
    "model",
    "model_parameters",
    "input",
    "output",
    "metadata",
    "level",
    "status_message",
    "cost_source",
    "prompt_name",
)

_TRACE_TYPES: dict[str, pa.DataType] = {
    "tags": pa.list_(pa.string()),
    "models": pa.list_(pa.string()),
    "explicit": pa.list_(pa.string()),
    "public": pa.bool_(),
    "start_time": TS,
    "end_time": TS,
    "updated_at": TS,
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
