"""What a client may send for a dataset, an item and a run item (Langfuse's field names),
checked into small records; every refusal is a 400 naming the field.

A field that is absent or ``null`` is "not given": creating, it is empty; upserting an
existing dataset or item, it keeps its value (as Langfuse's upserts do, and as the Langfuse
SDK needs: it sends ``null`` for every argument left out). A dataset's schema is removed
by sending ``{}``, the schema every value matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from heron.errors import BadRequest
from heron.query.filters import parse_time

MAX_NAME = 255  # a dataset's or a run's name
MAX_ID = 255  # an item's id, as Langfuse bounds it; also trace and observation ids
MAX_DESCRIPTION = 10_000
MAX_VALUE_BYTES = 4 * 1024 * 1024  # one input, expected output, metadata or output, as JSON
STATUSES = ("ACTIVE", "ARCHIVED")

_DATASET_KEYS = ("name", "description", "metadata", "inputSchema", "expectedOutputSchema")
ITEM_KEYS = ("id", "input", "expectedOutput", "metadata", "sourceTraceId", "sourceObservationId",
             "status")  # fmt: skip
_RUN_ITEM_KEYS = ("runName", "runDescription", "metadata", "datasetItemId", "observationId",
                  "traceId", "datasetVersion", "createdAt", "output")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A dataset to create, or the changes to an existing one of that name."""

    name: str
    description: str | None = None
    metadata: Any = None
    input_schema: dict[str, Any] | None = None  # None: keep; {}: remove
    expected_output_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """An item to create, or a new version of item ``id`` (fields left ``None`` keep theirs).

    ``where`` says where the item came from ("line 3: ", "trace ab12: ") and prefixes the
    problems found with it."""

    id: str | None = None
    input: Any = None
    expected_output: Any = None
    metadata: Any = None
    source_trace_id: str | None = None
    source_observation_id: str | None = None
    status: str | None = None
    where: str = ""


@dataclass(frozen=True, slots=True)
class RunItemSpec:
    """A dataset run item as ``POST /api/public/dataset-run-items`` takes it: the run (by
    name, created when missing) of the item's dataset, the trace that ran the item, and
    optionally the dataset version it ran against and the output (heron)."""

    run_name: str
    dataset_item_id: str
    trace_id: str | None = None
    observation_id: str | None = None
    run_description: str | None = None
    metadata: Any = None
    dataset_version: datetime | None = None
    created_at: datetime | None = None
    output: Any = None


def name(value: Any, label: str) -> str:
    """A dataset's or run's name: 1 to 255 characters, not blank, no control characters
    (kept exactly: no trimming, so the name sent is the name to ask for)."""
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a string, got {_kind(value)}")
    if not value.strip():
        raise BadRequest(f"{label}: required (not blank)")
    if len(value) > MAX_NAME:
        raise BadRequest(f"{label}: at most {MAX_NAME} characters, got {len(value):,}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"{label}: control characters are not allowed")
    return value


def identifier(value: Any, label: str) -> str | None:
    """An optional id (item, trace, observation): 1 to 255 characters, no control characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a string, got {_kind(value)}")
    if not value or len(value) > MAX_ID:
        raise BadRequest(f"{label}: 1 to {MAX_ID} characters, got {len(value):,}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"{label}: control characters are not allowed")
    return value


def description(value: Any, label: str = "description") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a string, got {_kind(value)}")
    if len(value) > MAX_DESCRIPTION:
        raise BadRequest(f"{label}: at most {MAX_DESCRIPTION:,} characters, got {len(value):,}")
    return value


def json_value(value: Any, label: str) -> Any:
    """Any JSON value of at most :data:`MAX_VALUE_BYTES` serialised."""
    if value is not None and len(orjson.dumps(value)) > MAX_VALUE_BYTES:
        raise BadRequest(f"{label}: at most {MAX_VALUE_BYTES:,} bytes as JSON")
    return value


def schema_object(value: Any, label: str) -> dict[str, Any] | None:
    """A JSON Schema field: an object, or ``None`` (not given). Its content is checked by
    :func:`heron.datasets.validation.check_schema`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{label}: expected a JSON Schema object, got {_kind(value)}")
    return value


def status(value: Any, label: str = "status") -> str | None:
    if value is None:
        return None
    if value not in STATUSES:
        raise BadRequest(f"{label}: one of {', '.join(STATUSES)}, got {str(value)[:50]!r}")
    return str(value)


def time_value(value: Any, label: str) -> datetime | None:
    """An optional ISO 8601 time, as naive UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected an ISO 8601 time, got {_kind(value)}")
    try:
        return parse_time(value, label)
    except OverflowError:
        raise BadRequest(f"{label}: {value[:50]!r} is out of range") from None


def _object(body: Any, keys: tuple[str, ...], label: str = "body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"{label}: expected a JSON object, got {_kind(body)}")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise BadRequest(f"{unknown[0][:100]}: unknown field; fields: {', '.join(keys)}")
    return body


def parse_dataset(body: Any) -> DatasetSpec:
    """``POST /api/public/v2/datasets``: ``{name, description?, metadata?, inputSchema?,
    expectedOutputSchema?}``. The schemas' content is checked by the caller (it needs the
    validation module)."""
    body = _object(body, _DATASET_KEYS)
    return DatasetSpec(
        name=name(body.get("name"), "name"),
        description=description(body.get("description")),
        metadata=json_value(body.get("metadata"), "metadata"),
        input_schema=schema_object(body.get("inputSchema"), "inputSchema"),
        expected_output_schema=schema_object(
            body.get("expectedOutputSchema"), "expectedOutputSchema"
        ),
    )


def parse_item(body: Any, where: str = "") -> ItemSpec:
    """An item's fields (:data:`ITEM_KEYS`), as the API and the import files carry them;
    ``where`` prefixes every message ("line 3: ")."""
    body = _object(body, ITEM_KEYS, f"{where}item" if where else "body")
    return ItemSpec(
        id=identifier(body.get("id"), f"{where}id"),
        input=json_value(body.get("input"), f"{where}input"),
        expected_output=json_value(body.get("expectedOutput"), f"{where}expectedOutput"),
        metadata=json_value(body.get("metadata"), f"{where}metadata"),
        source_trace_id=identifier(body.get("sourceTraceId"), f"{where}sourceTraceId"),
        source_observation_id=identifier(
            body.get("sourceObservationId"), f"{where}sourceObservationId"
        ),
        status=status(body.get("status"), f"{where}status"),
        where=where,
    )


def parse_create_item(body: Any) -> tuple[str, ItemSpec]:
    """``POST /api/public/dataset-items``: the dataset's name and the item."""
    if not isinstance(body, dict):
        raise BadRequest(f"body: expected a JSON object, got {_kind(body)}")
    fields = dict(body)
    dataset = name(fields.pop("datasetName", None), "datasetName")
    return dataset, parse_item(fields)


def parse_run_item(body: Any) -> RunItemSpec:
    """``POST /api/public/dataset-run-items``: ``{runName, datasetItemId, traceId?,
    observationId?, runDescription?, metadata?, datasetVersion?, createdAt?, output?}``
    (``output`` is heron's); the trace is required unless an observation names it."""
    body = _object(body, _RUN_ITEM_KEYS)
    item_id = identifier(body.get("datasetItemId"), "datasetItemId")
    if item_id is None:
        raise BadRequest("datasetItemId: required")
    spec = RunItemSpec(
        run_name=name(body.get("runName"), "runName"),
        dataset_item_id=item_id,
        trace_id=identifier(body.get("traceId"), "traceId"),
        observation_id=identifier(body.get("observationId"), "observationId"),
        run_description=description(body.get("runDescription"), "runDescription"),
        metadata=json_value(body.get("metadata"), "metadata"),
        dataset_version=time_value(body.get("datasetVersion"), "datasetVersion"),
        created_at=time_value(body.get("createdAt"), "createdAt"),
        output=json_value(body.get("output"), "output"),
    )
    if spec.trace_id is None and spec.observation_id is None:
        raise BadRequest("traceId: required (or an observationId to take its trace from)")
    return spec


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
