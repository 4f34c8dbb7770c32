"""Signals and issues on the cluster backend: the ``Store`` methods that need both halves.

Signals are events in ClickHouse (:mod:`heron.store.clickhouse.signals`); issues, whose
status users change, are control data in PostgreSQL (the ``issues`` table, beside the
notification outbox that announces their transitions). The transitions themselves are
DuckDB's code (:func:`heron.store.signals.apply_transitions` on a ``PgCursor``), so they
are the same on both backends.

:meth:`ClusterSignals.write_signals` writes PostgreSQL first (issues and notifications, in one
transaction under an advisory lock, so two replicas' runners take turns), then the signals to
ClickHouse. A crash between the two leaves the signals unwritten: a redo finds them new again,
inserts them, and finds their issues already open (or regressed), so it announces nothing
twice. Until then the issue is not listed: an issue is listed with its signals' counts, and
one without signals is not, as on DuckDB after its signals were deleted with their traces.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from heron.query.clickhouse import to_us
from heron.store import annotation as annodb
from heron.store import signals as signaldb
from heron.store.clickhouse import signals as chsignals
from heron.store.clickhouse.events import ClickHouseEvents
from heron.store.postgres import PostgresControl
from heron.store.signals import Signal

_WRITE_LOCK = "signals:write"


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _status(issue: dict[str, Any], count: int, now: datetime) -> str:
    """The status an issue reads as: an ignored one whose date passed or whose count is
    reached reads as open (DuckDB's ``_STATUS``)."""
    if issue["status"] == "ignored" and (
        (issue["ignore_until"] is not None and issue["ignore_until"] <= now)
        or (issue["ignore_until_count"] is not None and count >= issue["ignore_until_count"])
    ):
        return "open"
    return str(issue["status"])


def _for_postgres(s: Signal) -> Signal:
    """The signal as the issue's PostgreSQL row takes it: PostgreSQL keeps no NUL character
    in text, and a fingerprint has NULs between its parts, so it is stored escaped as the body
    of a JSON string (:func:`_fingerprint` reads it back); a NUL in a name or message (the
    issue's title, the notification) becomes U+FFFD."""
    return dataclasses.replace(
        s,
        fingerprint=orjson.dumps(s.fingerprint).decode()[1:-1],
        name=None if s.name is None else s.name.replace("\x00", "\ufffd"),
        message=s.message.replace("\x00", "\ufffd"),
    )


def _fingerprint(stored: str) -> str:
    return str(orjson.loads(f'"{stored}"'))


def _view(issue: dict[str, Any], stats: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = {f: issue.get(f) for f in signaldb._ISSUE_FIELDS}
    out["fingerprint"] = _fingerprint(issue["fingerprint"])
    out.update({k: stats[k] for k in ("count", "first_seen", "last_seen", "users", "sessions")})
    out["status"] = _status(issue, stats["count"], now)
    return out


class ClusterSignals:
    """Signals (ClickHouse) grouped into issues (PostgreSQL): a mixin of ClusterStore."""

    events: ClickHouseEvents
    control: PostgresControl

    def write_signals(
        self,
        signals: Sequence[Signal],
        notify: dict[tuple[str, str], Sequence[str]],
    ) -> list[Signal]:
        """Store the signals not stored yet, open, regress or reopen their issues and enqueue
        their notifications (see the module docstring); returns the signals that were new."""
        if not signals:
            return []
        client = self.events.client
        unique = list({(s.project_id, s.id): s for s in signals}.values())
        stored: set[tuple[str, str]] = set()
        for project in {s.project_id for s in unique}:
            ids = [s.id for s in unique if s.project_id == project]
            stored.update((project, i) for i in chsignals.stored_ids(client, project, ids))
        new = [s for s in unique if (s.project_id, s.id) not in stored]
        if not new:
            return []
        new.sort(key=lambda s: (s.time, s.id))
        first = {k: _for_postgres(s) for k, s in signaldb.first_of_issues(new).items()}
        now = _utcnow()
        with self.control._admin(_WRITE_LOCK) as cur:
            issues = signaldb.issues_of(cur, list(first))
            # an ignored issue's signals, the new ones included (DuckDB counts after inserting)
            counts = Counter((s.project_id, s.issue_id) for s in new)
            for project in {p for p, _ in issues}:
                ignored = [
                    i for (p, i), v in issues.items() if p == project and v["status"] == "ignored"
                ]
                for issue_id, n in chsignals.counts(client, project, ignored).items():
                    counts[(project, issue_id)] += n
            signaldb.apply_transitions(cur, first, issues, counts, notify, now)
        chsignals.insert(client, new, to_us(now), self.events.retention_days)
        return new

    def list_issues(
        self,
        project_id: str,
        *,
        status: Sequence[str] = (),
        rule: str | None = None,
        severity: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        sort: str = "last_seen",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the project's issues with their counts, and how many match (as
        :func:`heron.store.signals.list_issues`)."""
        if sort not in signaldb.SORTS:
            raise KeyError(sort)  # as DuckDB's SORTS[sort]; the API checks the sort first
        now = _utcnow()
        where, params = ["project_id = ?"], [project_id]
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if severity:
            where.append("severity IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(severity))
        with self.control._read() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(signaldb._ISSUE_COLUMNS)} FROM issues "
                f"WHERE {' AND '.join(where)}",
                params,
            ).fetchall()
        issues = [dict(zip(signaldb._ISSUE_COLUMNS, r, strict=True)) for r in rows]
        if not issues:
            return [], 0
        stats = chsignals.issue_stats(self.events.client, project_id, None, start, end)
        found = [
            _view(i, stats[i["id"]], now)
            for i in issues
            if i["id"] in stats and stats[i["id"]]["in_window"]
        ]
        if status:
            found = [i for i in found if i["status"] in status]
        found.sort(key=lambda i: i["id"])
        found.sort(key=lambda i: i[sort], reverse=True)  # stable: ties stay by id (SORTS)
        return found[offset : offset + limit], len(found)

    def get_issue(self, project_id: str, issue_id: str) -> dict[str, Any] | None:
        with self.control._read() as cur:
            issue = signaldb.issues_of(cur, [(project_id, issue_id)]).get((project_id, issue_id))
        if issue is None:
            return None
        stats = chsignals.issue_stats(self.events.client, project_id, [issue_id])
        return _view(issue, stats[issue_id], _utcnow()) if issue_id in stats else None

    def set_issue_status(
        self,
        project_id: str,
        issue_ids: Sequence[str],
        status: str,
        *,
        more: int | None = None,
        until: datetime | None = None,
    ) -> list[str]:
        """Set issues' status (``ignored`` optionally until ``more`` signals or ``until``)."""
        client = self.events.client

        def count_signals(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
            found = chsignals.counts(client, project_id, [i for _, i in keys])
            return {(project_id, i): n for i, n in found.items()}

        with self.control._admin() as cur:
            return signaldb.set_issue_status(
                cur,
                project_id,
                issue_ids,
                status,
                _utcnow(),
                more=more,
                until=until,
                count_signals=count_signals,
            )

    def queue_issue_traces(
        self, project_id: str, queue_id: str, issue_id: str, limit: int
    ) -> tuple[list[str], int]:
        """The traces of an issue's signals a fill would add (not in the queue yet, latest
        signal first), and how many there are."""
        with self.control._read() as cur:
            annodb._require_queue(cur, project_id, queue_id)
            rows = cur.execute(
                "SELECT object_id FROM annotation_queue_items WHERE project_id = ? "
                "AND queue_id = ? AND object_type = 'TRACE'",
                [project_id, queue_id],
            ).fetchall()
        queued = {r[0] for r in rows}
        traces = chsignals.issue_traces(self.events.client, project_id, issue_id)
        missing = [t for t in traces if t not in queued]
        return missing[: max(limit, 0)], len(missing)
