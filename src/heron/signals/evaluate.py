"""Judging an alert at evaluation times: the one path of the live evaluation and the
backtest, so both give the same states for the same times.

A condition compares the value with its thresholds (``ALERT`` past ``alert``, else
``WARNING`` past ``warning``, else ``OK``); anomaly mode gives ``ALERT`` when the
detector fires (:mod:`heron.signals.anomaly`), else ``OK``. A window without data gives
the alert's ``no_data`` policy: ``NO_DATA``, ``OK``, ``ALERT``, or ``keep`` (the state
before). A count is never without data: an empty window counts 0.
"""

from __future__ import annotations

import operator as op
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from heron.signals import anomaly
from heron.signals.durations import parse_duration
from heron.signals.series import Point, evaluation_times, kind_of
from heron.store import Store

OK, WARNING, ALERT, NO_DATA = "OK", "WARNING", "ALERT", "NO_DATA"
STATES = (OK, WARNING, ALERT, NO_DATA)
FIRING = (WARNING, ALERT)
_COMPARE = {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le}
LOOKBACK = anomaly.WEEKS_BACK * anomaly.WEEK + timedelta(hours=1)  # the furthest baseline


@dataclass(slots=True)
class Plan:
    """An alert's spec with its durations read."""

    spec: dict[str, Any]
    window: timedelta
    every: timedelta
    lag: timedelta
    renotify: timedelta | None
    kind: str

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Plan:
        renotify = spec.get("renotify", "off")
        return cls(
            spec,
            parse_duration(spec["window"]),
            parse_duration(spec["every"]),
            parse_duration(spec.get("lag", "1m")),
            None if renotify == "off" else parse_duration(renotify),
            kind_of(spec["query"]),
        )


@dataclass(slots=True)
class Judgement:
    """One evaluation: its time, window start, value, expected band and state (``raw``:
    before the no-data policy; None when the window had no data)."""

    time: datetime
    window_start: datetime
    value: float | None
    lower: float | None
    upper: float | None
    raw: str | None
    state: str = NO_DATA
    detail: dict[str, Any] = field(default_factory=dict)


def needed(plan: Plan, targets: Sequence[datetime]) -> set[datetime]:
    """The times whose values judging ``targets`` reads."""
    if "anomaly" in plan.spec:
        return anomaly.needed_times(targets, plan.every, plan.kind)
    return set(targets)


def judge(
    plan: Plan,
    points: dict[datetime, Point],
    targets: Sequence[datetime],
    previous: str | None = None,
) -> list[Judgement]:
    """The judgements of ``targets`` (in time order); ``previous``: the state before the
    first (for the ``keep`` no-data policy)."""
    out: list[Judgement] = []
    condition = plan.spec.get("condition")
    if condition is None:
        a = plan.spec["anomaly"]
        assessed = anomaly.assess_series(
            points, targets, plan.every, plan.kind, a["sensitivity"], a["direction"]
        )
    for i, t in enumerate(targets):
        point = points.get(t) or Point(None)
        j = Judgement(t, t - plan.window, point.value, None, None, None)
        if condition is not None:
            if point.value is not None:
                compare = _COMPARE[condition["operator"]]
                j.raw = (
                    ALERT
                    if compare(point.value, condition["alert"])
                    else WARNING
                    if condition.get("warning") is not None
                    and compare(point.value, condition["warning"])
                    else OK
                )
        else:
            found, fires = assessed[i]
            if point.value is not None:
                j.raw = ALERT if fires else OK
                j.lower, j.upper = found.lower, found.upper
                j.detail = {
                    "expected": found.expected,
                    "method": found.method,
                    "statistic": found.statistic,
                    "anomalous": found.anomalous,
                    "history": found.history,
                    "season": found.season,
                }
        if point.den is not None:
            j.detail["events"], j.detail["trials"] = point.num, point.den
        j.state = j.raw if j.raw is not None else _no_data(plan.spec["no_data"], previous)
        previous = j.state
        out.append(j)
    return out


def _no_data(policy: str, previous: str | None) -> str:
    if policy == "keep":
        return previous or NO_DATA
    return {"no_data": NO_DATA, "ok": OK, "alert": ALERT}[policy]


def evaluate_at(
    store: Store,
    project_id: str,
    plan: Plan,
    targets: Sequence[datetime],
    previous: str | None = None,
) -> list[Judgement]:
    """Read the values ``targets`` need and judge them (the runner's evaluation: no time
    limit)."""
    points = store.alert_series(
        project_id, plan.spec["query"], plan.window, needed(plan, targets), time_limit=False
    )
    return judge(plan, points, targets, previous)


def run_backtest(
    store: Store,
    project_id: str,
    plan: Plan,
    start: datetime,
    end: datetime,
) -> list[Judgement]:
    """The alert judged at every evaluation time in ``[start, end]`` over stored data,
    within the store's query time limit (past it: QueryTimeout)."""
    targets = evaluation_times(start, end, plan.every)
    if not targets:
        return []
    if "anomaly" in plan.spec:  # one grid from the furthest baseline: a single scan
        times = evaluation_times(targets[0] - LOOKBACK, targets[-1], plan.every)
    else:
        times = targets
    points = store.alert_series(project_id, plan.spec["query"], plan.window, times)
    return judge(plan, points, targets)


def episodes(plan: Plan, judgements: Sequence[Judgement]) -> list[dict[str, Any]]:
    """Consecutive ``ALERT`` evaluations as episodes ``{start, end, peak}`` (``end``: the
    last firing evaluation; ``peak``: its most extreme value in the alert's direction)."""
    out: list[dict[str, Any]] = []
    run: list[Judgement] = []
    for j in [*judgements, None]:
        if j is not None and j.state == ALERT:
            run.append(j)
            continue
        if run:
            values = [r for r in run if r.value is not None]
            peak = _peak(plan, values)
            out.append(
                {
                    "start": run[0].time,
                    "end": run[-1].time,
                    "evaluations": len(run),
                    "peak": peak.value if peak else None,
                    "peak_at": peak.time if peak else None,
                }
            )
            run = []
    return out


def _peak(plan: Plan, run: list[Judgement]) -> Judgement | None:
    if not run:
        return None
    condition = plan.spec.get("condition")
    if condition is not None:
        low = condition["operator"] in ("<", "<=")
        return (min if low else max)(run, key=lambda j: j.value)  # type: ignore[arg-type,return-value]
    return max(run, key=lambda j: abs((j.value or 0.0) - (j.detail.get("expected") or 0.0)))
