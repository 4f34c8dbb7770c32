"""The notification outbox: how rules and alerts ask for a notification.

A producer calls :func:`enqueue` on the writer's cursor inside the transaction that makes
the change it announces (an issue opened or regressed, an alert changing state), so the
notification exists exactly when the change does. Delivery (channels, retries, the log)
reads the rows later; see :mod:`heron.store.schema_channels`.

An event is a JSON object with at least ``type`` (``issue.opened``, ``issue.regressed``,
``alert.state_changed``, ``alert.firing``, ``test``), ``title`` (one line), ``text`` (a
few lines), and ``link`` (a path on the heron server, such as ``/issues/<id>``; delivery
makes it absolute with ``HERON_PUBLIC_URL``). Producers add what they know under
``issue``, ``alert`` or ``data``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

PENDING = "pending"
REQUIRED = ("type", "title", "text", "link")


def enqueue(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    channels: Sequence[str],
    event: dict[str, Any],
    now: datetime | None = None,
) -> list[str]:
    """One outbox row per channel name (in the caller's transaction); returns their ids."""
    missing = [k for k in REQUIRED if k not in event]
    if missing:
        raise ValueError(f"notification event lacks {missing}")
    at = now or datetime.now(UTC).replace(tzinfo=None)
    body = orjson.dumps(event).decode()
    ids = []
    for channel in dict.fromkeys(channels):
        nid = "ntf_" + secrets.token_hex(12)
        cur.execute(
            "INSERT INTO notifications (id, project_id, channel, event, created_at, status, "
            "attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
            [nid, project_id, channel, body, at, PENDING, at],
        )
        ids.append(nid)
    return ids
