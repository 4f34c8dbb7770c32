"""Alerts, their states and the history of their evaluations (see
:mod:`heron.store.schema_alerts`). Functions taking a cursor, every query parameterised and
scoped to one project; specs are checked by :func:`heron.signals.alerts.check_alert` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from heron.signals.outbox import enqueue


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


_COLUMNS = (
    "a.project_id, a.name, a.spec, a.created_at, a.updated_at, s.state, s.since, "
    "s.evaluated_at, s.value, s.notified_at"
)
_FROM = "FROM alerts a LEFT JOIN alert_states s ON s.project_id = a.project_id AND s.name = a.name"


def _alert(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = [c.strip().split(".")[1] for c in _COLUMNS.split(",")]
    out = dict(zip(keys, row, strict=True))
    out["spec"] = orjson.loads(out["spec"])
    return out


def list_alerts(cur: duckdb.DuckDBPyConnection, project_id: str | None) -> list[dict[str, Any]]:
    """A project's alerts by name with their states (``None``: every project's)."""
    rows = cur.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE (CAST(? AS VARCHAR) IS NULL OR a.project_id = ?) "
        "ORDER BY a.project_id, a.name",
        [project_id, project_id],
    ).fetchall()
    return [_alert(r) for r in rows]


def get_alert(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE a.project_id = ? AND a.name = ?", [project_id, name]
    ).fetchall()
    return _alert(rows[0]) if rows else None


def put_alert(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, spec: dict[str, Any]
) -> str:
    """Create or replace; ``created``, ``updated`` or ``unchanged``. A changed definition
    starts over: its state is cleared (its history stays)."""
    text = _dumps(spec)
    row = cur.execute(
        "SELECT spec FROM alerts WHERE project_id = ? AND name = ?", [project_id, name]
    ).fetchone()
    now = _now()
    if row is None:
        cur.execute("INSERT INTO alerts VALUES (?, ?, ?, ?, ?)", [project_id, name, text, now, now])
        return "created"
    if row[0] == text:
        return "unchanged"
    cur.execute(
        "UPDATE alerts SET spec = ?, updated_at = ? WHERE project_id = ? AND name = ?",
        [text, now, project_id, name],
    )
    cur.execute("DELETE FROM alert_states WHERE project_id = ? AND name = ?", [project_id, name])
    return "updated"


def delete_alert(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> bool:
    """Delete the alert, its state and its history; False if there was none."""
    found = cur.execute(
        "SELECT 1 FROM alerts WHERE project_id = ? AND name = ?", [project_id, name]
    ).fetchone()
    for table in ("alert_evaluations", "alert_states", "alerts"):
        cur.execute(f"DELETE FROM {table} WHERE project_id = ? AND name = ?", [project_id, name])
    return found is not None


_HISTORY = "eval_time, window_start, value, lower, upper, state, detail"


def alert_history(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Evaluations in ``[start, end)``, newest first, at most ``limit``."""
    rows = cur.execute(
        f"SELECT {_HISTORY} FROM alert_evaluations WHERE project_id = ? AND name = ? "
        "AND (?::TIMESTAMP IS NULL OR eval_time >= ?) AND (?::TIMESTAMP IS NULL OR eval_time < ?) "
        "ORDER BY eval_time DESC LIMIT ?",
        [project_id, name, start, start, end, end, limit],
    ).fetchall()
    keys = [c.strip() for c in _HISTORY.split(",")]
    out = []
    for r in rows:
        item = dict(zip(keys, r, strict=True))
        item["detail"] = orjson.loads(item["detail"]) if item["detail"] else None
        out.append(item)
    return out


@dataclass(slots=True)
class Evaluation:
    """One evaluation of an alert and what it changes: the row of its history, the alert's
    state after it, and the notification it sends (``event`` None: none)."""

    project_id: str
    name: str
    eval_time: datetime
    window_start: datetime
    value: float | None
    lower: float | None
    upper: float | None
    state: str
    since: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    channels: Sequence[str] = ()
    event: dict[str, Any] | None = None
    notified_at: datetime | None = None


def record_evaluation(cur: duckdb.DuckDBPyConnection, ev: Evaluation) -> bool:
    """Write the evaluation, the state and its notification in the caller's transaction;
    False (nothing written) when that time was evaluated already (a redo after a crash)."""
    if cur.execute(
        "SELECT 1 FROM alert_evaluations WHERE project_id = ? AND name = ? AND eval_time = ?",
        [ev.project_id, ev.name, ev.eval_time],
    ).fetchone():
        return False
    cur.execute(
        f"INSERT INTO alert_evaluations ({_HISTORY}, project_id, name) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ev.eval_time, ev.window_start, ev.value, ev.lower, ev.upper, ev.state,
            _dumps(ev.detail) if ev.detail else None, ev.project_id, ev.name,
        ],
    )  # fmt: skip
    cur.execute(
        "INSERT INTO alert_states VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, name) "
        "DO UPDATE SET state = excluded.state, since = excluded.since, "
        "evaluated_at = excluded.evaluated_at, value = excluded.value, "
        "notified_at = excluded.notified_at",
        [ev.project_id, ev.name, ev.state, ev.since, ev.eval_time, ev.value, ev.notified_at],
    )
    if ev.event is not None and ev.channels:
        enqueue(cur, ev.project_id, ev.channels, ev.event, now=ev.eval_time)
    return True
