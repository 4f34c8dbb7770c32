"""Change markers: the moments a new release, version or prompt version first appeared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from heron.dashboards.run import filters_for_view
from heron.query import parse_filters
from heron.store import Store


def changes_between(
    store: Store,
    project_id: str,
    from_time: datetime,
    to_time: datetime,
    filters: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Changes whose first appearance lies in ``[from_time, to_time)`` (naive UTC), oldest
    first: ``kind`` (release, version, prompt), ``value``, ``previous``, ``first_seen``.

    ``filters`` (the trace list's language) narrow where a value counts as appeared, e.g.
    ``environment = production`` ignores a release that staging ran first; on observations
    (prompt versions) only the filters with a meaning there apply."""
    trace_filters = parse_filters(filters or [])
    mapped, _ = filters_for_view(trace_filters, "observations")
    found = store.changes(project_id, trace_filters, parse_filters(mapped))
    low, high = _iso(from_time), _iso(to_time)
    return [c for c in found if low <= c["first_seen"] < high]


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds") + "Z"
