"""The runner's periodic ``alerts``: evaluates each enabled alert of every project.

An alert is evaluated at the times aligned to its ``every`` (multiples since the epoch),
each once its ``lag`` has passed, so spans that arrive a little late still count. Every
evaluation is kept; on a change of state, and every ``renotify`` while ``WARNING`` or
``ALERT``, a notification goes to the alert's channels in the transaction that writes the
evaluation, so it is sent exactly once even across a crash (a redo of an evaluated time
writes nothing).

Missed evaluation times (the server was down) are not replayed: the next run evaluates the
latest due time only, so a restart announces the state as it is now rather than a burst of
stale changes; the gap stays visible in the history, and a backtest shows what the missed
times would have given.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from heron.signals.durations import format_duration
from heron.signals.evaluate import FIRING, OK, Judgement, Plan, evaluate_at
from heron.signals.series import aligned
from heron.store import Store
from heron.store.alerts import Evaluation

log = logging.getLogger("heron.signals.alerts")
IDLE = timedelta(seconds=30)  # with no alert due sooner, look again for new alerts


class AlertTask:
    """The periodic evaluating alerts (see the module docstring)."""

    name = "alerts"

    def __init__(self) -> None:
        self.store: Store | None = None
        # (project, alert) -> the evaluation time that failed: not tried again until the next
        self._failed: dict[tuple[str, str], datetime] = {}

    def bind(self, store: Store) -> None:
        self.store = store

    def _alerts(self) -> list[dict[str, Any]]:
        assert self.store is not None, "bind(store) first"
        return [a for a in self.store.list_alerts(None) if a["spec"].get("enabled", True)]

    def due(self, now: datetime) -> datetime | None:
        soonest = now + IDLE
        for alert in self._alerts():
            plan = Plan.of(alert["spec"])
            last = alert["evaluated_at"]
            nxt = aligned(now - plan.lag, plan.every) if last is None else last + plan.every
            failed = self._failed.get((alert["project_id"], alert["name"]))
            if failed is not None and nxt <= failed:
                nxt = failed + plan.every
            soonest = min(soonest, nxt + plan.lag)
        return soonest

    def run(self, now: datetime) -> None:
        for alert in self._alerts():
            key = (alert["project_id"], alert["name"])
            t = aligned(now - Plan.of(alert["spec"]).lag, Plan.of(alert["spec"]).every)
            if self._failed.get(key) == t:
                continue
            try:
                self.evaluate(alert, now)
            except Exception:  # one alert failing (a query timing out) spares the others
                log.exception("alert %s of project %s failed", alert["name"], alert["project_id"])
                self._failed[key] = t  # its next time is tried; this one is a gap
            else:
                self._failed.pop(key, None)

    def evaluate(self, alert: dict[str, Any], now: datetime) -> bool:
        """Evaluate ``alert`` at its latest due time, if not done yet; True if it did."""
        assert self.store is not None
        plan = Plan.of(alert["spec"])
        t = aligned(now - plan.lag, plan.every)
        if alert["evaluated_at"] is not None and t <= alert["evaluated_at"]:
            return False
        j = evaluate_at(self.store, alert["project_id"], plan, [t], alert["state"])[0]
        return self.store.record_alert_evaluation(evaluation(alert, plan, j))


def evaluation(alert: dict[str, Any], plan: Plan, j: Judgement) -> Evaluation:
    """The history row, new state and notification of judgement ``j`` of ``alert``."""
    previous, notified = alert["state"], alert["notified_at"]
    changed = j.state != previous
    event_type = None
    if changed and not (previous is None and j.state == OK):
        event_type = "alert.state_changed"
    elif (
        not changed
        and j.state in FIRING
        and plan.renotify is not None
        and (notified is None or j.time - notified >= plan.renotify)
    ):
        event_type = "alert.firing"
    ev = Evaluation(
        project_id=alert["project_id"],
        name=alert["name"],
        eval_time=j.time,
        window_start=j.window_start,
        value=j.value,
        lower=j.lower,
        upper=j.upper,
        state=j.state,
        since=j.time if changed or alert["since"] is None else alert["since"],
        detail=j.detail,
        channels=alert["spec"].get("notify", []),
        notified_at=notified,
    )
    if event_type is not None:
        ev.event = event(alert, plan, j, previous, event_type)
        ev.notified_at = j.time
    return ev


def event(
    alert: dict[str, Any], plan: Plan, j: Judgement, previous: str | None, event_type: str
) -> dict[str, Any]:
    """The notification of ``j`` (see :mod:`heron.signals.outbox`)."""
    name, metric = alert["name"], alert["spec"]["query"]["metric"]
    value = "no data" if j.value is None else f"{j.value:.6g}"
    window = format_duration(plan.window)
    was = f" (was {previous})" if previous and event_type == "alert.state_changed" else ""
    band = (
        f"; expected {j.lower:.6g} to {j.upper:.6g}"
        if j.lower is not None and j.upper is not None
        else ""
    )
    return {
        "type": event_type,
        "title": f"[{j.state}] alert {name}",
        "text": (
            f"{metric['aggregation']} of {metric['measure']} over {window} ending "
            f"{j.time.isoformat()}Z: {value}{band}. State {j.state}{was}."
        ),
        "link": f"/alerts/{name}",
        "alert": {
            "name": name,
            "state": j.state,
            "previous": previous,
            "value": j.value,
            "window": {"from": j.window_start.isoformat() + "Z", "to": j.time.isoformat() + "Z"},
            "lower": j.lower,
            "upper": j.upper,
            "traces": f"/api/public/traces?fromTimestamp={j.window_start.isoformat()}Z"
            f"&toTimestamp={j.time.isoformat()}Z",
        },
    }
