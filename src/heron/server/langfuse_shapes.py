"""Stored rows in the shapes of Langfuse's public read API, as each Langfuse SDK major
(v2 to v5) parses them: traces (``TraceWithDetails``, ``TraceWithFullDetails``),
observations (``ObservationsView``, v2's ``ObservationV2`` by field groups) and sessions.

Every field an SDK requires is present: absent values get Langfuse's defaults (environment
``default``, ``tags`` ``[]``, ``public`` false, zero usage). Times are ISO 8601 UTC, types
upper case, latencies in seconds. Usage and cost go out in Langfuse's additive form (``input``
without its cached part, beside ``input_cached_tokens``), the form its SDKs send, so what a
client sent reads back unchanged; heron stores inclusive counts (docs/conventions.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from heron.store.reads import iso

DEFAULT_ENVIRONMENT = "default"
TRACE_FIELDS = ("core", "io", "scores", "observations", "metrics")
OBSERVATION_FIELDS = (
    "core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics",
    "trace_context",
)  # fmt: skip
METADATA_CHARS = 200  # v2 observations: longer metadata strings are cut unless expanded

# heron's usage keys -> Langfuse's additive ones (parts of input/output named apart)
_PARTS = {"cached_input": "input_cached_tokens", "cache_write": "input_cache_creation",
          "reasoning": "output_reasoning_tokens"}  # fmt: skip


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _payload(text: str | None) -> Any:
    """Stored input or output: JSON text as its value, other text as it is."""
    if not text or text[0] not in "[{":
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def additive(counts: dict[str, Any]) -> dict[str, Any]:
    """heron's inclusive usage (or cost) map -> Langfuse's additive one."""
    out: dict[str, Any] = {}
    parts = {"input": 0, "output": 0}
    for key, value in counts.items():
        if key in _PARTS:
            out[_PARTS[key]] = value
            parts["output" if key == "reasoning" else "input"] += value
        elif key.startswith(("input_", "output_")):
            out[key] = value
            parts[key.split("_", 1)[0]] += value
        elif key not in ("input", "output"):
            out[key] = value
    for side in ("input", "output"):
        if side in counts:
            left = counts[side] - parts[side]
            out[side] = left if left > 0 else type(counts[side])(0)
    return out


def html_path(project_id: str, trace_id: str) -> str:
    return f"/traces/{quote(trace_id, safe='')}?project={quote(project_id, safe='')}"


def trace(row: dict[str, Any], project_id: str, groups: frozenset[str] = frozenset()) -> dict:
    """``Trace``: the fields every SDK major requires, plus ``htmlPath``, ``latency``,
    ``totalCost``, ``observations`` and ``scores`` (ids) of ``TraceWithDetails`` when the
    row has them. ``groups``: the ``fields`` asked for (empty: all)."""
    every = not groups
    out: dict[str, Any] = {
        "id": row["id"],
        "projectId": project_id,
        "timestamp": iso(row["timestamp"]),
        "name": row["name"],
        "userId": row["user_id"],
        "sessionId": row["session_id"],
        "release": row["release"],
        "version": row["version"],
        "tags": list(row["tags"] or []),
        "public": bool(row["public"]),
        "bookmarked": False,
        "environment": row["environment"] or DEFAULT_ENVIRONMENT,
        "input": None,
        "output": None,
        "metadata": None,
        "htmlPath": html_path(project_id, row["id"]),
        "createdAt": iso(row["timestamp"]),
        "updatedAt": iso(row["updated_at"]),
    }
    if every or "io" in groups:
        out["input"] = _payload(row.get("input"))
        out["output"] = _payload(row.get("output"))
        out["metadata"] = _json(row["metadata"]) or {}
    if every or "metrics" in groups:
        latency = row["latency_ms"]
        out["latency"] = latency / 1000 if latency is not None else 0.0
        out["totalCost"] = row["total_cost"] or 0.0
    else:  # as Langfuse: excluded metrics read -1
        out["latency"] = out["totalCost"] = -1.0
    if "observation_ids" in row:
        out["observations"] = row["observation_ids"] if every or "observations" in groups else []
        out["scores"] = row["score_ids"] if every or "scores" in groups else []
    return out


def observation(row: dict[str, Any], project_id: str) -> dict[str, Any]:
    """``ObservationsView``, the observation of the v1 list, by id and in a trace."""
    usage = dict(row["usage"] or {})
    cost = dict(row["cost"] or {})
    start, end = row["start_time"], row["end_time"]
    first = row["completion_start_time"]
    return {
        "id": row["id"],
        "projectId": project_id,
        "traceId": row["trace_id"],
        "type": row["type"].upper(),
        "name": row["name"] or None,
        "startTime": iso(start),
        "endTime": iso(end),
        "completionStartTime": iso(first),
        "model": row["model"],
        "modelParameters": _json(row["model_parameters"]) or {},
        "input": _payload(row.get("input")),
        "output": _payload(row.get("output")),
        "version": row["version"],
        "metadata": _json(row["metadata"]) or {},
        "usage": {
            "input": usage.get("input", 0),
            "output": usage.get("output", 0),
            "total": usage.get("total", 0),
            "unit": "TOKENS",
            "inputCost": cost.get("input"),
            "outputCost": cost.get("output"),
            "totalCost": cost.get("total"),
        },
        "usageDetails": additive(usage),
        "costDetails": additive(cost),
        "level": row["level"],
        "statusMessage": row["status_message"],
        "parentObservationId": row["parent_id"],
        "promptId": None,
        "promptName": row["prompt_name"],
        "promptVersion": row["prompt_version"],
        "environment": row["environment"] or DEFAULT_ENVIRONMENT,
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": cost.get("input"),
        "calculatedOutputCost": cost.get("output"),
        "calculatedTotalCost": cost.get("total"),
        "latency": _seconds(start, end),
        "timeToFirstToken": _seconds(start, first),
        "createdAt": iso(start),
        "updatedAt": iso(row["updated_at"]),
    }


def observation_v2(
    row: dict[str, Any], project_id: str, groups: frozenset[str], expand: frozenset[str]
) -> dict[str, Any]:
    """``ObservationV2``: the core fields, then each field group asked for (``io`` as the
    stored text; ``metadata`` strings cut at 200 characters unless their key is in
    ``expand``)."""
    start, end = row["start_time"], row["end_time"]
    out: dict[str, Any] = {
        "id": row["id"],
        "traceId": row["trace_id"],
        "startTime": iso(start),
        "endTime": iso(end),
        "projectId": project_id,
        "parentObservationId": row["parent_id"],
        "type": row["type"].upper(),
    }
    if "basic" in groups:
        out.update(
            name=row["name"] or None, level=row["level"], statusMessage=row["status_message"],
            version=row["version"], environment=row["environment"] or DEFAULT_ENVIRONMENT,
            bookmarked=False, public=False, userId=row["user_id"], sessionId=row["session_id"],
            isRootObservation=row["parent_id"] is None,
        )  # fmt: skip
    if "time" in groups:
        out.update(
            completionStartTime=iso(row["completion_start_time"]),
            createdAt=iso(start), updatedAt=iso(row["updated_at"]),
        )  # fmt: skip
    if "io" in groups:
        out.update(input=row.get("input"), output=row.get("output"))
    if "metadata" in groups:
        out["metadata"] = _cut_metadata(_json(row["metadata"]) or {}, expand)
    if "model" in groups:
        out.update(
            model=row["model"], internalModelId=None,
            modelParameters=_json(row["model_parameters"]) or {}, modelId=None,
            inputPrice=None, outputPrice=None, totalPrice=None,
        )  # fmt: skip
    if "usage" in groups:
        out.update(
            usageDetails=additive(dict(row["usage"] or {})),
            costDetails=additive(dict(row["cost"] or {})),
            totalCost=row["total_cost"], usagePricingTierName=None,
        )  # fmt: skip
    if "prompt" in groups:
        out.update(
            promptId=None, promptName=row["prompt_name"], promptVersion=row["prompt_version"]
        )
    if "metrics" in groups:
        out.update(
            latency=_seconds(start, end),
            timeToFirstToken=_seconds(start, row["completion_start_time"]),
        )
    if "trace_context" in groups:
        out.update(tags=row.get("tags", []), release=row["release"], traceName=row["trace_name"])
    return out


def _cut_metadata(metadata: dict[str, Any], expand: frozenset[str]) -> dict[str, Any]:
    return {
        k: v[:METADATA_CHARS] if isinstance(v, str) and k not in expand else v
        for k, v in metadata.items()
    }


def session(row: dict[str, Any], project_id: str) -> dict[str, Any]:
    """``Session``: id, when it began, its project and environment."""
    return {
        "id": row["id"],
        "createdAt": iso(row["created_at"]),
        "projectId": project_id,
        "environment": row["environment"] or DEFAULT_ENVIRONMENT,
    }


def score_for_sdk(score: dict[str, Any], sdk_version: str | None) -> dict[str, Any]:
    """A score in a trace: as stored, except for SDK v2, which knows no TEXT scores (it
    fails to parse the whole trace on one): there a TEXT score reads as CATEGORICAL."""
    if score["dataType"] == "TEXT" and (sdk_version or "").startswith("2."):
        return {**score, "dataType": "CATEGORICAL"}
    return score
