"""Notification channels, the outbox's delivery state and the delivery log (control data).

Functions taking a cursor, every query parameterised and scoped to one project (delivery
reads the outbox of every project: it is the server's own work). Specs are validated by
:mod:`heron.signals.channels` before they get here; a channel's secret arrives encrypted
(:mod:`heron.evals.secrets`) and is returned only when asked for (``with_secret``), to the
code that sends. See :mod:`heron.store.schema_channels` for the tables.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

LOG_KEEP = 500  # delivery-log lines kept per channel
DONE_KEEP = timedelta(days=30)  # delivered and failed notifications are kept this long
OUTCOMES = ("delivered", "retrying", "failed")

_COLUMNS = "id, project_id, name, spec, secret, secret_hint, created_at, updated_at"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _channel(row: tuple[Any, ...], with_secret: bool) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _COLUMNS.split(",")], row, strict=True))
    out["spec"] = orjson.loads(out["spec"])
    out["type"] = out["spec"]["type"]
    if not with_secret:
        out.pop("secret")
    return out


def list_channels(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    """A project's channels by name, without their (encrypted) secrets."""
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM channels WHERE project_id = ? ORDER BY name", [project_id]
    ).fetchall()
    return [_channel(r, with_secret=False) for r in rows]


def get_channel(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, with_secret: bool = False
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM channels WHERE project_id = ? AND name = ?", [project_id, name]
    ).fetchall()
    return _channel(rows[0], with_secret) if rows else None


def put_channel(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    name: str,
    spec: dict[str, Any],
    secret: str | None,
    secret_hint: str | None,
) -> tuple[dict[str, Any], str]:
    """Create or update a channel; ``secret`` (encrypted) ``None`` keeps the stored one.
    Returns it (without the secret) and ``created``, ``updated`` or ``unchanged``."""
    now = _now()
    current = get_channel(cur, project_id, name)
    text = _dumps(spec)
    if current is None:
        cur.execute(
            f"INSERT INTO channels ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [secrets.token_hex(8), project_id, name, text, secret, secret_hint, now, now],
        )
        action = "created"
    elif _dumps(current["spec"]) == text and secret is None:
        action = "unchanged"
    else:
        cur.execute(
            "UPDATE channels SET spec = ?, secret = coalesce(?, secret), "
            "secret_hint = coalesce(?, secret_hint), updated_at = ? "
            "WHERE project_id = ? AND name = ?",
            [text, secret, secret_hint, now, project_id, name],
        )
        action = "updated"
    found = get_channel(cur, project_id, name)
    assert found is not None
    return found, action


def delete_channel(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> bool:
    """Delete a channel with its delivery log; its pending notifications fail (named why)."""
    rows = cur.execute(
        "DELETE FROM channels WHERE project_id = ? AND name = ? RETURNING id", [project_id, name]
    ).fetchall()
    if rows:
        cur.execute(
            "DELETE FROM deliveries WHERE project_id = ? AND channel = ?", [project_id, name]
        )
        cur.execute(
            "UPDATE notifications SET status = 'failed', next_attempt_at = NULL, "
            "last_error = 'the channel was deleted' "
            "WHERE project_id = ? AND channel = ? AND status = 'pending'",
            [project_id, name],
        )
    return bool(rows)


# -- the outbox ----------------------------------------------------------------------------

_OUTBOX = "id, project_id, channel, event, created_at, status, attempts, next_attempt_at"


def _notification(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _OUTBOX.split(",")], row, strict=True))
    out["event"] = orjson.loads(out["event"])
    return out


def claim_due(
    cur: duckdb.DuckDBPyConnection, now: datetime, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """The pending notifications due at ``now`` (oldest due first, at most ``limit``), each
    leased until ``lease_until``: another deliverer does not take them meanwhile, and after
    a crash they are due again when the lease ends.

    The outer condition repeats the inner one: on PostgreSQL, a claim that waited for a
    concurrent claim's row locks re-checks it on the rows as that one left them (leased,
    so no longer due) and skips them, instead of claiming them a second time."""
    rows = cur.execute(
        f"UPDATE notifications SET next_attempt_at = ? WHERE id IN ("
        f"SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= ? "
        f"ORDER BY next_attempt_at, id LIMIT ?) AND status = 'pending' AND next_attempt_at <= ? "
        f"RETURNING {_OUTBOX}",
        [lease_until, now, limit, now],
    ).fetchall()
    return sorted((_notification(r) for r in rows), key=lambda n: (n["created_at"], n["id"]))


def release(cur: duckdb.DuckDBPyConnection, ids: Sequence[str], at: datetime) -> None:
    """Give back claimed notifications not attempted (the run's time ran out): due at ``at``."""
    if ids:
        cur.execute(
            "UPDATE notifications SET next_attempt_at = ? "
            "WHERE id IN (SELECT unnest(?::VARCHAR[])) AND status = 'pending'",
            [at, list(ids)],
        )


def next_due(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the earliest pending notification is due (``None``: none is pending)."""
    row = cur.execute(
        "SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'"
    ).fetchone()
    return row[0] if row else None


def notifications(
    cur: duckdb.DuckDBPyConnection, project_id: str, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The project's notifications with these ids, with their delivery state."""
    rows = cur.execute(
        f"SELECT {_OUTBOX}, last_error, delivered_at FROM notifications "
        "WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[])) ORDER BY created_at, id",
        [project_id, list(ids)],
    ).fetchall()
    out = []
    for row in rows:
        item = _notification(row[:-2])
        item["last_error"], item["delivered_at"] = row[-2:]
        out.append(item)
    return out


# -- the delivery log ----------------------------------------------------------------------

_LOG = (
    "id, project_id, channel, notification_id, event_type, title, attempt, attempted_at, "
    "outcome, status_code, error, duration_ms"
)


_LOG_TYPES = (
    ("id", "VARCHAR"), ("project_id", "VARCHAR"), ("channel", "VARCHAR"),
    ("notification_id", "VARCHAR"), ("event_type", "VARCHAR"), ("title", "VARCHAR"),
    ("attempt", "INTEGER"), ("attempted_at", "TIMESTAMP"), ("outcome", "VARCHAR"),
    ("status_code", "INTEGER"), ("error", "VARCHAR"), ("duration_ms", "DOUBLE PRECISION"),
)  # fmt: skip
_MOVE_TYPES = (
    ("id", "VARCHAR"), ("status", "VARCHAR"), ("attempts", "INTEGER"), ("next_at", "TIMESTAMP"),
    ("error", "VARCHAR"), ("delivered_at", "TIMESTAMP"),
)  # fmt: skip


def _unnested(columns: Sequence[tuple[str, str]]) -> str:
    """Select list zipping one list parameter per column into rows."""
    return ", ".join(f"unnest(?::{kind}[]) AS {name}" for name, kind in columns)


def record_attempts(cur: duckdb.DuckDBPyConnection, attempts: Sequence[dict[str, Any]]) -> None:
    """Log each attempt and move its notification on: ``delivered``; ``retrying`` (due again
    at the attempt's ``next_attempt_at``); ``failed`` (given up). An attempt without
    ``notification_id`` (a "send test") is only logged. Keeps :data:`LOG_KEEP` lines per
    channel and drops finished notifications older than :data:`DONE_KEEP`."""
    if not attempts:
        return
    if any(a["outcome"] not in OUTCOMES for a in attempts):
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    log = [
        ["dlv_" + secrets.token_hex(12), a["project_id"], a["channel"], a.get("notification_id"),
         a["event_type"], (a.get("title") or "")[:300], a["attempt"], a["attempted_at"],
         a["outcome"], a.get("status_code"), (a.get("error") or None) and a["error"][:1000],
         float(a["duration_ms"])]
        for a in attempts
    ]  # fmt: skip
    # one statement for all rows (a statement a row costs a millisecond each)
    cur.execute(
        f"INSERT INTO deliveries ({_LOG}) SELECT {_unnested(_LOG_TYPES)}",
        [list(column) for column in zip(*log, strict=True)],
    )
    status = {"delivered": "delivered", "retrying": "pending", "failed": "failed"}
    moves = [
        [a["notification_id"], status[a["outcome"]], a["attempt"],
         a.get("next_attempt_at") if a["outcome"] == "retrying" else None,
         None if a["outcome"] == "delivered" else a.get("error"),
         a["attempted_at"] if a["outcome"] == "delivered" else None]
        for a in attempts
        if a.get("notification_id")  # a "send test" is only logged
    ]  # fmt: skip
    if moves:
        cur.execute(
            "UPDATE notifications SET status = v.status, attempts = v.attempts, "
            "next_attempt_at = v.next_at, last_error = v.error, delivered_at = v.delivered_at "
            f"FROM (SELECT {_unnested(_MOVE_TYPES)}) v WHERE notifications.id = v.id",
            [list(column) for column in zip(*moves, strict=True)],
        )
    for project_id, channel in {(a["project_id"], a["channel"]) for a in attempts}:
        cur.execute(
            "DELETE FROM deliveries WHERE project_id = ? AND channel = ? AND id NOT IN ("
            "SELECT id FROM deliveries WHERE project_id = ? AND channel = ? "
            "ORDER BY attempted_at DESC, attempt DESC LIMIT ?)",
            [project_id, channel, project_id, channel, LOG_KEEP],
        )
    cutoff = max(a["attempted_at"] for a in attempts) - DONE_KEEP
    cur.execute(
        "DELETE FROM notifications WHERE status IN ('delivered', 'failed') AND created_at < ?",
        [cutoff],
    )


def deliveries(
    cur: duckdb.DuckDBPyConnection, project_id: str, channel: str, limit: int = 100
) -> list[dict[str, Any]]:
    """A channel's delivery log, newest first."""
    rows = cur.execute(
        f"SELECT {_LOG} FROM deliveries WHERE project_id = ? AND channel = ? "
        "ORDER BY attempted_at DESC, attempt DESC, id DESC LIMIT ?",
        [project_id, channel, limit],
    ).fetchall()
    return [dict(zip([c.strip() for c in _LOG.split(",")], r, strict=True)) for r in rows]
