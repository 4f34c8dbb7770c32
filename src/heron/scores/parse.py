"""Turning a score sent by a client (heron SDK, Langfuse SDK, HTTP) into a stored record.

Accepts the Langfuse field names (camelCase) and snake_case alike. The data type is inferred
when absent: a boolean is BOOLEAN, a number NUMERIC, a string CATEGORICAL.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from heron.errors import BadRequest
from heron.query.filters import FilterError, parse_time

DATA_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT")
MAX_NAME = 200
MAX_TEXT = 100_000
_EARLIEST = datetime(1970, 1, 1)
_LATEST = datetime(2200, 1, 1)
_KNOWN = {
    "id", "traceId", "trace_id", "observationId", "observation_id", "sessionId", "session_id",
    "name", "value", "stringValue", "string_value", "dataType", "data_type", "comment",
    "metadata", "source", "timestamp", "author", "environment", "configId", "config_id",
    "datasetRunId", "dataset_run_id", "queueId", "queue_id",
}  # fmt: skip


class ScoreError(BadRequest):
    """A score that cannot be stored; the message names the field."""


@dataclass(frozen=True, slots=True)
class ScoreLimits:
    """Sizes a score may have (settings ``max_score_text`` and ``max_metadata_bytes``)."""

    max_text: int = MAX_TEXT  # characters of value / stringValue / comment
    max_metadata_bytes: int = 2 * 1024 * 1024  # metadata as JSON


_DEFAULT_LIMITS = ScoreLimits()


@dataclass(slots=True)
class ScoreRecord:
    project_id: str
    id: str
    trace_id: str | None
    observation_id: str | None
    session_id: str | None
    name: str
    value: float | None
    string_value: str | None
    data_type: str
    source: str
    comment: str | None
    author: str | None
    timestamp: datetime
    metadata: dict[str, Any] | None
    environment: str | None
    config_id: str | None = None
    queue_id: str | None = None
    dataset_run_id: str | None = None  # a run-level score (an experiment's)


def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    value = body.get(camel)
    return body.get(snake) if value is None else value


def _opt_str(
    body: dict[str, Any], camel: str, snake: str, where: str, limit: int = 1000
) -> str | None:
    value = _field(body, camel, snake)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScoreError(f"{where}{camel}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ScoreError(f"{where}{camel}: longer than {limit} characters")
    return value


def parse_score(
    body: Any, project_id: str, where: str = "", limits: ScoreLimits = _DEFAULT_LIMITS
) -> ScoreRecord:
    """Validate one score object; ``where`` prefixes messages (e.g. ``"[3]."``)."""
    max_text = limits.max_text
    if not isinstance(body, dict):
        raise ScoreError(f"{where or 'body'}: expected a JSON object")
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise ScoreError(f"{where}{unknown[0]}: unknown field")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScoreError(f"{where}name: required, a non-empty string")
    if len(name) > MAX_NAME:
        raise ScoreError(f"{where}name: longer than {MAX_NAME} characters")
    trace_id = _opt_str(body, "traceId", "trace_id", where)
    observation_id = _opt_str(body, "observationId", "observation_id", where)
    session_id = _opt_str(body, "sessionId", "session_id", where)
    run_id = _opt_str(body, "datasetRunId", "dataset_run_id", where, 200)
    if observation_id and not trace_id:
        raise ScoreError(f"{where}observationId: needs traceId as well")
    if not trace_id and not session_id and not run_id:
        raise ScoreError(f"{where}traceId: a score needs traceId, sessionId or datasetRunId")
    score_id = _opt_str(body, "id", "id", where, 200) or uuid.uuid4().hex

    value = body.get("value")
    string_value = _opt_str(body, "stringValue", "string_value", where, max_text)
    data_type = _field(body, "dataType", "data_type")
    if data_type is not None:
        if not isinstance(data_type, str) or data_type.upper() not in DATA_TYPES:
            raise ScoreError(
                f"{where}dataType: {data_type!r} is not one of {', '.join(DATA_TYPES)}"
            )
        data_type = data_type.upper()
    elif isinstance(value, bool):
        data_type = "BOOLEAN"
    elif isinstance(value, int | float):
        data_type = "NUMERIC"
    elif isinstance(value, str):
        data_type = "CATEGORICAL"
    else:
        raise ScoreError(f"{where}value: required (a number, a boolean or a string)")
    number, string_value = _value(data_type, value, string_value, where, max_text)

    timestamp = datetime.now(UTC).replace(tzinfo=None)
    if body.get("timestamp") is not None:
        timestamp = _timestamp(body["timestamp"], f"{where}timestamp")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        metadata = {"value": metadata}
    if metadata is not None:
        _check_metadata(metadata, f"{where}metadata", limits.max_metadata_bytes)
    source = _opt_str(body, "source", "source", where, 50) or "API"
    return ScoreRecord(
        project_id=project_id, id=score_id, trace_id=trace_id, observation_id=observation_id,
        session_id=session_id, name=name.strip(), value=number, string_value=string_value,
        data_type=data_type, source=source.upper(),
        comment=_opt_str(body, "comment", "comment", where, max_text),
        author=_opt_str(body, "author", "author", where, 200), timestamp=timestamp,
        metadata=metadata, environment=_opt_str(body, "environment", "environment", where, 200),
        config_id=_opt_str(body, "configId", "config_id", where, 200),
        queue_id=_opt_str(body, "queueId", "queue_id", where, 200), dataset_run_id=run_id,
    )  # fmt: skip


def _timestamp(value: Any, label: str) -> datetime:
    """A score time: ISO 8601 or epoch seconds, between 1970 and 2200."""
    try:
        timestamp = parse_time(value, label)
    except FilterError as exc:
        raise ScoreError(exc.message) from None
    except OverflowError:  # e.g. year 1 with a positive UTC offset
        timestamp = _EARLIEST - (_LATEST - _EARLIEST)  # out of range below
    if not _EARLIEST <= timestamp < _LATEST:
        raise ScoreError(f"{label}: {value!r} is outside 1970-01-01 .. 2200-01-01")
    return timestamp


def _check_metadata(metadata: dict[str, Any], label: str, limit: int) -> None:
    try:
        size = len(orjson.dumps(metadata, option=orjson.OPT_NON_STR_KEYS, default=str))
    except TypeError:  # nested too deeply, or an integer beyond 64 bits
        raise ScoreError(f"{label}: nested too deeply or holds an integer beyond 64 bits") from None
    if size > limit:
        raise ScoreError(
            f"{label}: {size:,} bytes as JSON, over the limit of {limit:,} "
            "(HERON_MAX_METADATA_BYTES)"
        )


def _value(
    data_type: str, value: Any, string_value: str | None, where: str, max_text: int
) -> tuple[float | None, str | None]:
    if data_type == "NUMERIC":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScoreError(f"{where}value: a NUMERIC score needs a number, got {value!r}")
        if not math.isfinite(value):
            raise ScoreError(f"{where}value: must be a finite number")
        return float(value), string_value
    if data_type == "BOOLEAN":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if isinstance(value, bool) or value in (0, 1):
            flag = bool(value)
            return (1.0 if flag else 0.0), "True" if flag else "False"
        raise ScoreError(f"{where}value: a BOOLEAN score needs true/false or 1/0, got {value!r}")
    if data_type == "CATEGORICAL":
        if isinstance(value, str) and len(value) > max_text:
            raise ScoreError(f"{where}value: longer than {max_text} characters")
        if isinstance(value, str) and value:
            return None, value
        if isinstance(value, int | float) and not isinstance(value, bool) and string_value:
            return float(value), string_value
        raise ScoreError(f"{where}value: a CATEGORICAL score needs a non-empty string label")
    if not isinstance(value, str):  # TEXT
        raise ScoreError(f"{where}value: a TEXT score needs a string")
    if len(value) > max_text:
        raise ScoreError(f"{where}value: longer than {max_text} characters")
    return None, value
