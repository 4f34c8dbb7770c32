"""Comparison requests: two cohorts (a filter plus an optional time window each) of one view.

The general form names both cohorts::

    {"view": "traces",
     "baseline": {"filters": [...], "fromTimestamp": "...", "toTimestamp": "..."},
     "candidate": {"filters": [...], "fromTimestamp": "...", "toTimestamp": "..."}}

Two shorthands build the cohorts, alone or together, on top of shared ``filters``:

- ``{"at": ISO, "days": 7}``: before and after a moment, ``[at - days, at)`` and
  ``[at, at + days)``, both shortened to ``now - at`` when the second would end after now;
- ``{"field": "release", "baseline_value": "v1.4.0", "candidate_value": "v1.5.0"}``: two values
  of a column, within the shared ``fromTimestamp``/``toTimestamp`` when given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from heron.query.filters import Filter, FilterError, compile_filters, parse_filters, parse_time
from heron.query.views import OBSERVATIONS, TRACES, View

VIEWS: dict[str, View] = {"traces": TRACES, "observations": OBSERVATIONS}
MAX_DAYS = 366
_COHORT_KEYS = frozenset({"filters", "fromTimestamp", "toTimestamp"})
_KEYS = frozenset(
    {
        "view",
        "baseline",
        "candidate",
        "filters",
        "at",
        "days",
        "field",
        "baseline_value",
        "candidate_value",
        "fromTimestamp",
        "toTimestamp",
        "seed",
    }
)


@dataclass
class Cohort:
    """One side: records of the view matching ``filters`` that start in ``[from, to)``."""

    filters: list[Filter] = field(default_factory=list)
    from_time: datetime | None = None
    to_time: datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The cohort in the request's JSON form (filters, fromTimestamp, toTimestamp)."""
        out: dict[str, Any] = {
            "filters": [
                {
                    "column": f.column,
                    "operator": f.operator,
                    **({"value": f.value} if f.value is not None else {}),
                    **({"key": f.key} if f.key else {}),
                }
                for f in self.filters
            ]
        }
        if self.from_time is not None:
            out["fromTimestamp"] = _iso(self.from_time)
        if self.to_time is not None:
            out["toTimestamp"] = _iso(self.to_time)
        return out


@dataclass
class CompareQuery:
    view: str
    baseline: Cohort
    candidate: Cohort
    seed: int = 0


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_compare_query(
    raw: str | bytes | dict[str, Any], now: datetime | None = None
) -> CompareQuery:
    """Validate a comparison request (JSON text or decoded); FilterError names the bad part.

    ``now`` (naive UTC, default the clock) bounds the ``at``/``days`` windows: they never run
    past it (see :func:`_shorthand`)."""
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FilterError(f"body: invalid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise FilterError("body: expected a JSON object")
    body = {k: v for k, v in raw.items() if v is not None}
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise FilterError(f"{unknown[0]}: unknown field; use {', '.join(sorted(_KEYS))}")
    view_name = body.get("view", "traces")
    view = VIEWS.get(view_name) if isinstance(view_name, str) else None
    if view is None:
        raise FilterError(f"view: unknown view {view_name!r}; use one of {', '.join(VIEWS)}")
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise FilterError("seed: expected an integer from 0 to 2^32 - 1")

    explicit = "baseline" in body or "candidate" in body
    shorthand = "at" in body or "field" in body
    if explicit and shorthand:
        raise FilterError("baseline: give either baseline and candidate, or at/field, not both")
    if explicit:
        if "baseline" not in body or "candidate" not in body:
            missing = "candidate" if "baseline" in body else "baseline"
            raise FilterError(f"{missing}: both baseline and candidate are required")
        for key in ("filters", "days", "fromTimestamp", "toTimestamp"):
            if key in body:
                raise FilterError(f"{key}: only with at/field; put it in baseline and candidate")
        baseline = _cohort(body["baseline"], "baseline", view)
        candidate = _cohort(body["candidate"], "candidate", view)
    elif shorthand:
        baseline, candidate = _shorthand(body, view, now or _utcnow())
    else:
        raise FilterError(
            "baseline: give baseline and candidate cohorts, or at (with days), or field "
            "(with baseline_value and candidate_value)"
        )
    return CompareQuery(view.name, baseline, candidate, seed)


def _cohort(raw: Any, label: str, view: View) -> Cohort:
    if not isinstance(raw, dict):
        raise FilterError(f"{label}: expected an object with filters, fromTimestamp, toTimestamp")
    unknown = sorted(set(raw) - _COHORT_KEYS)
    if unknown:
        raise FilterError(f"{label}.{unknown[0]}: unknown field; use {', '.join(_COHORT_KEYS)}")
    filters = _filters(raw.get("filters"), f"{label}.filters", view)
    from_time, to_time = _window(raw, label)
    return Cohort(filters, from_time, to_time)


def _filters(raw: Any, label: str, view: View) -> list[Filter]:
    try:
        filters = parse_filters(raw)
        compile_filters(filters, view)  # validates columns, operators and values now
    except FilterError as exc:
        raise FilterError(f"{label}: {exc.message}") from None
    return filters


def _window(raw: dict[str, Any], label: str) -> tuple[datetime | None, datetime | None]:
    prefix = f"{label}." if label else ""
    from_raw, to_raw = raw.get("fromTimestamp"), raw.get("toTimestamp")
    from_time = None if from_raw is None else parse_time(from_raw, f"{prefix}fromTimestamp")
    to_time = None if to_raw is None else parse_time(to_raw, f"{prefix}toTimestamp")
    if from_time is not None and to_time is not None and from_time > to_time:
        raise FilterError(f"{prefix}fromTimestamp: must not be after toTimestamp")
    return from_time, to_time


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _shorthand(body: dict[str, Any], view: View, now: datetime) -> tuple[Cohort, Cohort]:
    shared = _filters(body.get("filters"), "filters", view)
    from_time, to_time = _window(body, "")
    base = Cohort(list(shared), from_time, to_time)
    cand = Cohort(list(shared), from_time, to_time)
    if "at" in body:
        if "fromTimestamp" in body or "toTimestamp" in body:
            raise FilterError("fromTimestamp: not with at; at and days set both windows")
        at = parse_time(body["at"], "at")
        days = body.get("days", 7)
        if (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not math.isfinite(days)
            or not 0 < days <= MAX_DAYS
        ):
            raise FilterError(f"days: expected a number of days above 0 and at most {MAX_DAYS}")
        if at >= now:
            raise FilterError("at: must be in the past (the window after it has no data yet)")
        # Both windows keep the same length (counts stay comparable) and the one after ``at``
        # never runs past now: a moment 2 days ago with days=7 compares 2 days with 2 days.
        span = min(timedelta(days=days), now - at)
        base.from_time, base.to_time = at - span, at
        cand.from_time, cand.to_time = at, at + span
    elif "days" in body:
        raise FilterError("days: only with at")
    if "field" in body:
        name = body["field"]
        if not isinstance(name, str) or not name:
            raise FilterError("field: expected a column name, e.g. release or prompt_version")
        for side, cohort in (("baseline_value", base), ("candidate_value", cand)):
            if side not in body:
                raise FilterError(f"{side}: required with field")
            value = body[side]
            cohort.filters.append(Filter(name, "=", value))
            _filters_ok(cohort.filters, side, view)
    else:
        for side in ("baseline_value", "candidate_value"):
            if side in body:
                raise FilterError(f"{side}: only with field")
    return base, cand


def _filters_ok(filters: list[Filter], label: str, view: View) -> None:
    try:
        compile_filters(filters, view)
    except FilterError as exc:
        raise FilterError(f"{label}: {exc.message}") from None
