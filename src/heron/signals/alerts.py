"""Alert definitions: checked whole, every problem named with its path.

The shape is the configuration format's ``alerts`` section (docs/signals.md)::

    {name, query: {view, metric: {measure, aggregation}, filters}, window, every, lag,
     condition: {operator, warning?, alert} | anomaly: {sensitivity, direction?},
     no_data, renotify, notify, enabled}

A checked alert is a plain dict (the stored spec, without its name), durations kept as
written (``5m``); :func:`export_alert` gives back what applying it again reproduces.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from heron.evals.spec import Problems, check_name
from heron.query.filters import FilterError, compile_filters, parse_filters
from heron.query.metrics import AGGREGATIONS, VIEWS, _measure, _measure_name
from heron.signals.durations import format_duration, parse_duration

OPERATORS = (">", ">=", "<", "<=")
SENSITIVITIES = ("low", "medium", "high")
DIRECTIONS = ("above", "below", "both")
NO_DATA = ("no_data", "ok", "alert", "keep")  # the state an empty window gives ("keep": as before)
# Aggregations an alert can watch: one number per window (not histograms)
ALERT_AGGREGATIONS = tuple(a for a in AGGREGATIONS if a != "histogram")
DEFAULT_LAG = "1m"
MAX_WINDOW = timedelta(days=7)
MIN_EVERY = timedelta(seconds=30)
MAX_NOTIFY = 20
_KEYS = {
    "name", "query", "window", "every", "lag", "condition", "anomaly", "no_data",
    "renotify", "notify", "enabled", "description",
}  # fmt: skip


def _duration(raw: Any, path: str, problems: Problems, default: str | None) -> str | None:
    if raw is None:
        if default is None:
            problems.add(path, "required: a duration such as 30s, 5m, 1h or 1d")
        return default
    try:
        return format_duration(parse_duration(raw))
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def _threshold(raw: Any, path: str, problems: Problems) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(path, f"expected a number, got {raw!r}")
        return None
    return float(raw)


def _query(raw: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        problems.add(path, "expected {view, metric: {measure, aggregation}, filters}")
        return None
    for key in sorted(set(raw) - {"view", "metric", "filters"}):
        problems.add(f"{path}.{key}", "unknown field")
    view = VIEWS.get(raw.get("view")) if isinstance(raw.get("view"), str) else None
    if view is None:
        problems.add(f"{path}.view", f"one of {', '.join(VIEWS)}")
        return None
    metric = raw.get("metric")
    if not isinstance(metric, dict):
        problems.add(f"{path}.metric", "expected {measure, aggregation}")
        return None
    for key in sorted(set(metric) - {"measure", "aggregation"}):
        problems.add(f"{path}.metric.{key}", "unknown field")
    label = metric.get("measure")
    measure = None
    if isinstance(label, str):
        try:
            measure = _measure_name(view, label, 0)
        except FilterError as exc:
            problems.add(f"{path}.metric.measure", str(exc).removeprefix("metrics[0]: "))
            return None
    if measure is None:
        problems.add(
            f"{path}.metric.measure",
            f"a measure of the {view.name} view: {', '.join(view.measures)}",
        )
        return None
    aggregation = metric.get("aggregation")
    if aggregation not in ALERT_AGGREGATIONS:
        problems.add(f"{path}.metric.aggregation", f"one of {', '.join(ALERT_AGGREGATIONS)}")
        return None
    found = _measure(view, measure)
    if found is not None and not found.numeric and aggregation not in ("count", "uniq"):
        problems.add(f"{path}.metric.aggregation", f"{measure} is not numeric: count or uniq")
        return None
    filters: list[dict[str, Any]] = []
    try:
        parsed = parse_filters(raw.get("filters"))
        compile_filters(parsed, view.filters)
    except FilterError as exc:
        problems.add(f"{path}.filters", str(exc))
        return None
    for f in parsed:
        item = {"column": f.column, "operator": f.operator, "value": f.value}
        if f.key is not None:
            item["key"] = f.key
        filters.append(item)
    return {
        "view": view.name,
        "metric": {"measure": measure, "aggregation": aggregation},
        "filters": filters,
    }


def _condition(raw: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        problems.add(path, "expected {operator, warning?, alert}")
        return None
    for key in sorted(set(raw) - {"operator", "warning", "alert"}):
        problems.add(f"{path}.{key}", "unknown field")
    operator = raw.get("operator")
    if operator not in OPERATORS:
        problems.add(f"{path}.operator", f"one of {', '.join(OPERATORS)}")
        return None
    alert = _threshold(raw.get("alert"), f"{path}.alert", problems)
    if alert is None and raw.get("alert") is None:
        problems.add(f"{path}.alert", "required: the threshold that fires the alert")
    warning = _threshold(raw.get("warning"), f"{path}.warning", problems)
    if (
        alert is not None
        and warning is not None
        and ((operator in (">", ">=")) == (warning > alert))
        and warning != alert
    ):
        problems.add(f"{path}.warning", f"must come before alert ({alert:g}) for {operator}")
    out: dict[str, Any] = {"operator": operator, "alert": alert}
    if warning is not None:
        out["warning"] = warning
    return out


def _anomaly(raw: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        problems.add(path, "expected {sensitivity: low|medium|high, direction?}")
        return None
    for key in sorted(set(raw) - {"sensitivity", "direction"}):
        problems.add(f"{path}.{key}", "unknown field")
    sensitivity = raw.get("sensitivity", "medium")
    if sensitivity not in SENSITIVITIES:
        problems.add(f"{path}.sensitivity", f"one of {', '.join(SENSITIVITIES)}")
    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        problems.add(f"{path}.direction", f"one of {', '.join(DIRECTIONS)}")
    return {"sensitivity": sensitivity, "direction": direction}


def check_alert(
    raw: Any, path: str, problems: Problems, *, channels: Collection[str]
) -> tuple[str | None, dict[str, Any] | None]:
    """``(name, spec)`` of one alert, or ``(name, None)`` with ``problems`` added;
    ``channels``: the names of the project's notification channels."""
    start = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(path, "expected an object with name, query, window, every, ...")
        return None, None
    for key in sorted(set(raw) - _KEYS):
        problems.add(f"{path}.{key}", "unknown field")
    name = check_name(raw.get("name"), f"{path}.name", problems)
    spec: dict[str, Any] = {"query": _query(raw.get("query"), f"{path}.query", problems)}
    window = _duration(raw.get("window"), f"{path}.window", problems, None)
    every = _duration(raw.get("every"), f"{path}.every", problems, None)
    lag = _duration(raw.get("lag"), f"{path}.lag", problems, DEFAULT_LAG)
    if window and parse_duration(window) > MAX_WINDOW:
        problems.add(f"{path}.window", f"at most {format_duration(MAX_WINDOW)}")
    if every and parse_duration(every) < MIN_EVERY:
        problems.add(f"{path}.every", f"at least {format_duration(MIN_EVERY)}")
    spec.update(window=window, every=every, lag=lag)
    has_condition, has_anomaly = raw.get("condition") is not None, raw.get("anomaly") is not None
    if has_condition == has_anomaly:
        problems.add(path, "give either condition or anomaly (exactly one)")
    elif has_condition:
        spec["condition"] = _condition(raw["condition"], f"{path}.condition", problems)
    else:
        spec["anomaly"] = _anomaly(raw["anomaly"], f"{path}.anomaly", problems)
        metric = (spec["query"] or {}).get("metric", {})
        if metric.get("aggregation") == "uniq":
            problems.add(f"{path}.anomaly", "anomaly mode does not watch uniq (use a condition)")
    no_data = raw.get("no_data", "no_data")
    if no_data not in NO_DATA:
        problems.add(f"{path}.no_data", f"one of {', '.join(NO_DATA)}")
    spec["no_data"] = no_data
    renotify = raw.get("renotify", "off")
    spec["renotify"] = (
        "off" if renotify == "off" else _duration(renotify, f"{path}.renotify", problems, "off")
    )
    notify = raw.get("notify", [])
    if not isinstance(notify, list) or len(notify) > MAX_NOTIFY:
        problems.add(f"{path}.notify", f"a list of at most {MAX_NOTIFY} channel names")
        notify = []
    for i, channel in enumerate(notify):
        if not isinstance(channel, str) or channel not in channels:
            problems.add(f"{path}.notify[{i}]", f"no channel named {channel!r}")
    spec["notify"] = list(dict.fromkeys(c for c in notify if isinstance(c, str)))
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(f"{path}.enabled", "true or false")
    spec["enabled"] = enabled is not False
    description = raw.get("description")
    if description is not None:
        if not isinstance(description, str) or len(description) > 2000:
            problems.add(f"{path}.description", "a string of at most 2000 characters")
        else:
            spec["description"] = description
    if len(problems.items) > start:
        return name, None
    return name, spec


def export_alert(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A stored alert in the configuration format (applying it changes nothing: a checked
    spec is already canonical)."""
    return {"name": name, **spec}
