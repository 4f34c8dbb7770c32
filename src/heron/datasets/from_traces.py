"""Dataset items copied from production traces and observations.

An item from a trace has the trace's input as its input, the trace's output as its expected
output, the trace's metadata, and ``sourceTraceId``; from an observation likewise, with
``sourceObservationId`` (and its trace as ``sourceTraceId``). Items are copies: deleting
the trace later leaves them as they are.

Which traces: a filter in the traces list's language with an optional time window (the
same selection as the traces list and annotation-queue fills, heron's own ``heron-...``
environments left out), newest first; or traces or observations named by id. A trace (an
observation) already the source of a current item of the dataset is skipped, so adding the
same selection twice adds nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heron.datasets.spec import ItemSpec, identifier
from heron.errors import BadRequest
from heron.query import Filter, parse_filters
from heron.query.filters import parse_time

MAX_SELECTED = 10_000
DEFAULT_SELECTED = 100
_KEYS = ("filter", "from", "to", "limit", "traceIds", "observationIds")


@dataclass(slots=True)
class Selection:
    """The traces (``filters`` + ``limit``, or ``trace_ids``) or observations
    (``observation_ids``) to copy into a dataset."""

    filters: list[Filter] = field(default_factory=list)
    limit: int = DEFAULT_SELECTED
    trace_ids: list[str] | None = None
    observation_ids: list[str] | None = None


def _ids(raw: Any, label: str) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{label}: expected a non-empty list of ids")
    if len(raw) > MAX_SELECTED:
        raise BadRequest(f"{label}: at most {MAX_SELECTED:,} ids, got {len(raw):,}")
    out = []
    for i, value in enumerate(raw):
        checked = identifier(value, f"{label}[{i}]")
        if checked is None:
            raise BadRequest(f"{label}[{i}]: expected an id, got null")
        out.append(checked)
    return list(dict.fromkeys(out))


def parse_selection(body: Any) -> Selection:
    """``{filter?, from?, to?, limit?}`` (``filter`` in the traces list's language, a list or
    its JSON text; ``limit`` 1 to 10,000, default 100), or ``{traceIds}``, or
    ``{observationIds}``; a 400 names the field at fault."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    unknown = sorted(set(body) - set(_KEYS))
    if unknown:
        raise BadRequest(f"{unknown[0][:100]}: unknown field; fields: {', '.join(_KEYS)}")
    named = [k for k in ("traceIds", "observationIds") if k in body]
    if named:
        others = sorted(set(body) - {named[0]})
        if others:
            raise BadRequest(f"{others[0]}: a selection by {named[0]} takes nothing else")
        ids = _ids(body[named[0]], named[0])
        if named[0] == "traceIds":
            return Selection(limit=len(ids), trace_ids=ids)
        return Selection(limit=len(ids), observation_ids=ids)
    limit = body.get("limit", DEFAULT_SELECTED)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise BadRequest(f"limit: expected a whole number, got {limit!r}"[:200])
    if not 1 <= limit <= MAX_SELECTED:
        raise BadRequest(f"limit: between 1 and {MAX_SELECTED:,}, got {limit:,}")
    filters = parse_filters(body.get("filter"))
    for key, op in (("from", ">="), ("to", "<")):
        if body.get(key) is not None:
            filters.append(Filter("start_time", op, parse_time(body[key], key).isoformat()))
    return Selection(filters=filters, limit=limit)


def item_from_trace(trace_id: str, input: Any, output: Any, metadata: Any) -> ItemSpec:
    """The item a trace gives (its input, output as expected output, metadata)."""
    return ItemSpec(
        input=input,
        expected_output=output,
        metadata=metadata,
        source_trace_id=trace_id,
        where=f"trace {trace_id}: ",
    )


def item_from_observation(
    observation_id: str, trace_id: str, input: Any, output: Any, metadata: Any
) -> ItemSpec:
    """The item an observation gives, as :func:`item_from_trace` with its own ids."""
    return ItemSpec(
        input=input,
        expected_output=output,
        metadata=metadata,
        source_trace_id=trace_id,
        source_observation_id=observation_id,
        where=f"observation {observation_id}: ",
    )
