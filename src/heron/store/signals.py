"""What trace rules (:mod:`heron.signals`) read and keep in the store: rules (control
data), signals and issues (events), and the runner's score feed.

Functions that write take the writer's connection inside a transaction the caller opened
(the store holds the write lock); :func:`write_signals` is the one place signals, issue
transitions and their notifications are written, together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from heron.errors import BadRequest, NotFound
from heron.query.filters import Filter, compile_filters
from heron.query.views import OBSERVATIONS, TRACES
from heron.signals.outbox import enqueue
from heron.store.arrow import TS

STATUSES = ("open", "resolved", "ignored", "regressed")
MAX_TITLE = 200


@dataclass(slots=True)
class Signal:
    """One match of a rule (see :mod:`heron.store.schema_signals`)."""

    project_id: str
    id: str
    rule: str
    severity: str
    trace_id: str
    observation_id: str | None
    score_id: str | None
    time: datetime
    message: str
    issue_id: str
    fingerprint: str
    name: str | None
    user_id: str | None
    session_id: str | None


# -- rules ---------------------------------------------------------------------------------


def list_rules(cur: duckdb.DuckDBPyConnection, project_id: str | None) -> list[dict[str, Any]]:
    """Stored rules (one project's, or every project's with ``None``), by name."""
    rows = cur.execute(
        "SELECT project_id, name, spec, created_at, updated_at FROM signal_rules "
        "WHERE (CAST(? AS VARCHAR) IS NULL OR project_id = ?) ORDER BY project_id, name",
        [project_id, project_id],
    ).fetchall()
    return [
        {"project_id": p, "name": n, "spec": orjson.loads(s), "created_at": c, "updated_at": u}
        for p, n, s, c, u in rows
    ]


def put_rule(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    name: str,
    spec: Mapping[str, Any],
    now: datetime,
) -> str:
    """Store a checked rule; ``created``, ``updated`` or ``unchanged``."""
    text = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
    rows = cur.execute(
        "SELECT spec FROM signal_rules WHERE project_id = ? AND name = ?", [project_id, name]
    ).fetchall()
    if not rows:
        cur.execute(
            "INSERT INTO signal_rules VALUES (?, ?, ?, ?, ?)", [project_id, name, text, now, now]
        )
        return "created"
    if orjson.loads(rows[0][0]) == orjson.loads(text):
        return "unchanged"
    cur.execute(
        "UPDATE signal_rules SET spec = ?, updated_at = ? WHERE project_id = ? AND name = ?",
        [text, now, project_id, name],
    )
    return "updated"


def delete_rule(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> bool:
    rows = cur.execute(
        "DELETE FROM signal_rules WHERE project_id = ? AND name = ? RETURNING name",
        [project_id, name],
    ).fetchall()
    return bool(rows)


# -- what the rules read -------------------------------------------------------------------


def percentiles(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    column: str,
    fraction: float,
    since: datetime,
    min_traces: int,
) -> dict[str, float]:
    """Per trace name, the ``fraction`` quantile of ``column`` (latency_ms or total_cost)
    over traces starting since ``since``, for names with at least ``min_traces`` values:
    the two values around it from the database, interpolated by :func:`interpolate`."""
    if column not in ("latency_ms", "total_cost"):
        raise ValueError(column)
    rows = cur.execute(
        "SELECT name, n, a[CAST(floor(rn) AS BIGINT) + 1], a[CAST(ceil(rn) AS BIGINT) + 1] "
        f"FROM (SELECT name, count(*) AS n, list_sort(list({column}::DOUBLE)) AS a, "
        "(count(*) - 1) * ?::DOUBLE AS rn FROM traces WHERE project_id = ? "
        f"AND start_time >= ? AND {column} IS NOT NULL AND name IS NOT NULL "
        "GROUP BY name HAVING count(*) >= ?)",
        [fraction, project_id, since, min_traces],
    ).fetchall()
    return {name: interpolate(n, fraction, lo, hi) for name, n, lo, hi in rows}


def interpolate(n: int, fraction: float, lo: float, hi: float) -> float:
    """The ``fraction`` quantile of ``n`` sorted values (``quantile_cont``, type 7) from the
    two at positions ``floor`` and ``ceil`` of ``(n - 1) * fraction``: computed here, in
    Python's IEEE doubles, so that every backend gives the same bits (DuckDB's own
    ``quantile_cont`` rounds differently where its build fuses multiply-adds)."""
    rn = (n - 1) * fraction
    return float(lo) + (float(hi) - float(lo)) * (rn - math.floor(rn))


def trace_scores(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The scores of ``trace_ids`` (what negative-feedback and implicit rules read)."""
    if not trace_ids:
        return []
    names = ("id", "trace_id", "observation_id", "name", "value", "string_value", "data_type",
             "source", "timestamp")  # fmt: skip
    rows = cur.execute(
        f"SELECT {', '.join(names)} FROM scores WHERE project_id = ? AND trace_id IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY trace_id, timestamp, id",
        [project_id, list(trace_ids)],
    ).fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


# An observation's ``heron.fingerprint`` attribute (in its metadata), without parsing the rest.
_FINGERPRINT = """json_extract_string(metadata, '$."heron.fingerprint"') AS fingerprint"""


def calls(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The tool and model calls of ``trace_ids`` in time order (the retry-cluster rule)."""
    if not trace_ids:
        return []
    names = ("id", "trace_id", "type", "name", "model", "level", "start_time", "fingerprint")
    rows = cur.execute(
        f"SELECT id, trace_id, type, name, model, level, start_time, {_FINGERPRINT} "
        "FROM observations WHERE project_id = ? AND trace_id IN "
        "(SELECT unnest(?::VARCHAR[])) AND (type IN ('tool', 'generation') OR model IS NOT NULL) "
        "ORDER BY trace_id, start_time, id",
        [project_id, list(trace_ids)],
    ).fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


# -- signals and issues: the write ---------------------------------------------------------


def write_signals(
    con: duckdb.DuckDBPyConnection,
    signals: Sequence[Signal],
    notify: Mapping[tuple[str, str], Sequence[str]],
    now: datetime,
) -> list[Signal]:
    """Insert the signals not stored yet (ids are deterministic: a redo inserts nothing),
    open an issue for a new fingerprint, mark a resolved issue ``regressed``, reopen an
    ignored one whose ignoring ended, and enqueue a notification to the rule's channels
    (``notify[(project, rule)]``) for each new or regressed issue, all in the caller's
    transaction. Returns the signals inserted."""
    if not signals:
        return []
    unique = list({(s.project_id, s.id): s for s in signals}.values())
    new = _not_stored(con, unique)
    if not new:
        return []
    new.sort(key=lambda s: (s.time, s.id))
    _insert(con, new)
    first = first_of_issues(new)
    issues = issues_of(con, list(first))
    ignored = [k for k, i in issues.items() if i["status"] == "ignored"]
    counts = _counts(con, ignored) if ignored else {}
    apply_transitions(con, first, issues, counts, notify, now)
    return new


def first_of_issues(new: Sequence[Signal]) -> dict[tuple[str, str], Signal]:
    """The first of the new signals (in time order) of each (project, issue)."""
    first: dict[tuple[str, str], Signal] = {}
    for s in new:
        first.setdefault((s.project_id, s.issue_id), s)
    return first


def apply_transitions(
    con: Any,
    first: Mapping[tuple[str, str], Signal],
    issues: Mapping[tuple[str, str], dict[str, Any]],
    counts: Mapping[tuple[str, str], int],
    notify: Mapping[tuple[str, str], Sequence[str]],
    now: datetime,
) -> None:
    """For each issue with new signals (``first``: its first new one): open it, or update
    its severity, mark it ``regressed`` when resolved, reopen it when its ignoring ended
    (``counts``: its signals, the new ones included), and announce what changed. ``issues``
    are the stored ones (:func:`issues_of`); ``con`` holds the issues and the outbox."""
    for key, s in first.items():
        issue = issues.get(key)
        channels = notify.get((s.project_id, s.rule), ())
        if issue is None:
            title = _title(s)
            con.execute(
                "INSERT INTO issues VALUES (?, ?, ?, ?, ?, ?, ?, 'open', NULL, NULL, ?, ?)",
                [s.project_id, s.issue_id, s.fingerprint, s.rule, s.name, title, s.severity,
                 now, now],
            )  # fmt: skip
            _announce(con, "issue.opened", s, title, "open", channels, now)
            continue
        status = issue["status"]
        if issue["severity"] != s.severity:
            con.execute(
                "UPDATE issues SET severity = ? WHERE project_id = ? AND id = ?",
                [s.severity, s.project_id, s.issue_id],
            )
        if status == "resolved":
            _set_status(con, s, "regressed", now)
            _announce(con, "issue.regressed", s, issue["title"], "regressed", channels, now)
        elif status == "ignored" and _ignore_ended(issue, counts.get(key, 0), now):
            _set_status(con, s, "open", now)
            _announce(con, "issue.reopened", s, issue["title"], "open", channels, now)


def _not_stored(con: duckdb.DuckDBPyConnection, signals: Sequence[Signal]) -> list[Signal]:
    found: set[tuple[str, str]] = set()
    for project_id in {s.project_id for s in signals}:
        ids = [s.id for s in signals if s.project_id == project_id]
        rows = con.execute(
            "SELECT id FROM signals WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, ids],
        ).fetchall()
        found.update((project_id, r[0]) for r in rows)
    return [s for s in signals if (s.project_id, s.id) not in found]


_SIGNAL_COLUMNS = (
    "project_id", "id", "rule", "severity", "trace_id", "observation_id", "score_id", "time",
    "created_at", "message", "issue_id", "user_id", "session_id",
)  # fmt: skip


def _insert(con: duckdb.DuckDBPyConnection, signals: Sequence[Signal]) -> None:
    created = _utcnow()
    columns: dict[str, Any] = {c: [getattr(s, c, None) for s in signals] for c in _SIGNAL_COLUMNS}
    columns["created_at"] = [created] * len(signals)
    table = pa.table(
        {
            c: pa.array(v, TS) if c in ("time", "created_at") else pa.array(v, pa.string())
            for c, v in columns.items()
        }
    )
    con.register("heron_signals_in", table)
    try:
        names = ", ".join(_SIGNAL_COLUMNS)
        con.execute(f"INSERT INTO signals ({names}) SELECT {names} FROM heron_signals_in")
    finally:
        con.unregister("heron_signals_in")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_ISSUE_COLUMNS = (
    "project_id", "id", "fingerprint", "rule", "name", "title", "severity", "status",
    "ignore_until_count", "ignore_until", "status_changed_at", "created_at",
)  # fmt: skip


def issues_of(
    con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for project_id in {p for p, _ in keys}:
        ids = [i for p, i in keys if p == project_id]
        rows = con.execute(
            f"SELECT {', '.join(_ISSUE_COLUMNS)} FROM issues WHERE project_id = ? "
            "AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, ids],
        ).fetchall()
        for r in rows:
            out[(r[0], r[1])] = dict(zip(_ISSUE_COLUMNS, r, strict=True))
    return out


def _counts(
    con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    out = {}
    for project_id in {p for p, _ in keys}:
        ids = [i for p, i in keys if p == project_id]
        rows = con.execute(
            "SELECT issue_id, count(*) FROM signals WHERE project_id = ? "
            "AND issue_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY issue_id",
            [project_id, ids],
        ).fetchall()
        out.update({(project_id, i): int(n) for i, n in rows})
    return out


def _ignore_ended(issue: Mapping[str, Any], count: int, now: datetime) -> bool:
    until_count, until = issue["ignore_until_count"], issue["ignore_until"]
    return (until_count is not None and count >= until_count) or (
        until is not None and now >= until
    )


def _set_status(con: duckdb.DuckDBPyConnection, s: Signal, status: str, now: datetime) -> None:
    con.execute(
        "UPDATE issues SET status = ?, ignore_until_count = NULL, ignore_until = NULL, "
        "status_changed_at = ? WHERE project_id = ? AND id = ?",
        [status, now, s.project_id, s.issue_id],
    )


def _title(s: Signal) -> str:
    first = (s.message.strip().splitlines() or [""])[0]
    title = f"{s.name}: {first}" if s.name and first else first or s.name or s.rule
    return title[:MAX_TITLE]


def _announce(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    s: Signal,
    title: str,
    status: str,
    channels: Sequence[str],
    now: datetime,
) -> None:
    if not channels:
        return
    verb = {"issue.opened": "New issue", "issue.regressed": "Regressed",
            "issue.reopened": "Reopened"}[kind]  # fmt: skip
    event = {
        "type": kind,
        "title": f"{verb} ({s.severity}): {title}"[:300],
        "text": f"rule {s.rule}: {s.message[:500]}\ntrace /traces/{s.trace_id}",
        "link": f"/issues/{s.issue_id}",
        "issue": {"id": s.issue_id, "title": title, "rule": s.rule, "severity": s.severity,
                  "status": status},
        "data": {"trace_id": s.trace_id, "observation_id": s.observation_id,
                 "trace_link": f"/traces/{s.trace_id}", "time": s.time.isoformat() + "Z"},
    }  # fmt: skip
    enqueue(con, s.project_id, channels, event, now)


# -- reads ---------------------------------------------------------------------------------


def list_signals(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    *,
    rule: str | None = None,
    trace_id: str | None = None,
    issue_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's signals, newest first, and how many match."""
    where = ["project_id = ?"]
    params: list[Any] = [project_id]
    for column, value in (("rule", rule), ("trace_id", trace_id), ("issue_id", issue_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if start is not None:
        where.append("time >= ?")
        params.append(start)
    if end is not None:
        where.append("time < ?")
        params.append(end)
    sql = " AND ".join(where)
    total = cur.execute(f"SELECT count(*) FROM signals WHERE {sql}", params).fetchall()[0][0]
    rows = cur.execute(
        f"SELECT {', '.join(_SIGNAL_COLUMNS)} FROM signals WHERE {sql} "
        "ORDER BY time DESC, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [dict(zip(_SIGNAL_COLUMNS, r, strict=True)) for r in rows], int(total)


_STATS = (
    "SELECT issue_id, count(*) AS n, min(time) AS first_seen, max(time) AS last_seen, "
    "count(DISTINCT user_id) AS users, count(DISTINCT session_id) AS sessions "
    "FROM signals WHERE project_id = ? GROUP BY issue_id"
)
# An ignored issue whose date has passed, or whose count is reached, reads as open.
_STATUS = (
    "CASE WHEN i.status = 'ignored' AND ((i.ignore_until IS NOT NULL AND i.ignore_until <= ?) "
    "OR (i.ignore_until_count IS NOT NULL AND s.n >= i.ignore_until_count)) THEN 'open' "
    "ELSE i.status END"
)
_ISSUE_VIEW = (
    f"i.id, i.fingerprint, i.rule, i.name, i.title, i.severity, {_STATUS} AS status, "
    "i.ignore_until_count, i.ignore_until, i.status_changed_at, i.created_at, "
    "s.n, s.first_seen, s.last_seen, s.users, s.sessions"
)
_ISSUE_FIELDS = (
    "id", "fingerprint", "rule", "name", "title", "severity", "status", "ignore_until_count",
    "ignore_until", "status_changed_at", "created_at", "count", "first_seen", "last_seen",
    "users", "sessions",
)  # fmt: skip
SORTS = {"last_seen": "s.last_seen DESC, i.id", "count": "s.n DESC, i.id"}


def list_issues(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    now: datetime,
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
    """A page of the project's issues with their counts, and how many match. ``start`` and
    ``end`` keep issues seen in ``[start, end)``."""
    where = ["i.project_id = ?"]
    params: list[Any] = [project_id]
    if status:
        where.append(f"{_STATUS} IN (SELECT unnest(?::VARCHAR[]))")
        params += [now, list(status)]
    if rule is not None:
        where.append("i.rule = ?")
        params.append(rule)
    if severity:
        where.append("i.severity IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(severity))
    if start is not None or end is not None:
        where.append(
            "EXISTS (SELECT 1 FROM signals x WHERE x.project_id = i.project_id AND "
            "x.issue_id = i.id AND (CAST(? AS TIMESTAMP) IS NULL OR x.time >= ?) "
            "AND (CAST(? AS TIMESTAMP) IS NULL OR x.time < ?))"
        )
        params += [start, start, end, end]
    base = f"FROM issues i JOIN ({_STATS}) s ON s.issue_id = i.id WHERE {' AND '.join(where)}"
    total = cur.execute(f"SELECT count(*) {base}", [project_id, *params]).fetchall()[0][0]
    rows = cur.execute(
        f"SELECT {_ISSUE_VIEW} {base} ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
        [now, project_id, *params, limit, offset],
    ).fetchall()
    return [dict(zip(_ISSUE_FIELDS, r, strict=True)) for r in rows], int(total)


def get_issue(
    cur: duckdb.DuckDBPyConnection, project_id: str, issue_id: str, now: datetime
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_ISSUE_VIEW} FROM issues i JOIN ({_STATS}) s ON s.issue_id = i.id "
        "WHERE i.project_id = ? AND i.id = ?",
        [now, project_id, project_id, issue_id],
    ).fetchall()
    return dict(zip(_ISSUE_FIELDS, rows[0], strict=True)) if rows else None


def issue_detail(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    issue_id: str,
    end: datetime,
    bucket: timedelta,
    buckets: int,
    samples: int = 10,
) -> dict[str, Any]:
    """Counts per bucket over the ``buckets`` buckets ending at ``end``, sample trace ids
    (newest first) and the users and sessions affected (up to 50 each)."""
    step = int(bucket.total_seconds())
    start = end - bucket * buckets
    rows = cur.execute(
        "SELECT floor(epoch(time - ?::TIMESTAMP) / ?)::BIGINT AS b, count(*) FROM signals "
        "WHERE project_id = ? AND issue_id = ? AND time >= ? AND time < ? GROUP BY b",
        [start, step, project_id, issue_id, start, end],
    ).fetchall()
    counts = dict(rows)
    series = [{"start": start + bucket * i, "count": int(counts.get(i, 0))} for i in range(buckets)]
    traces = cur.execute(
        "SELECT trace_id, max(time) AS t FROM signals WHERE project_id = ? AND issue_id = ? "
        "GROUP BY trace_id ORDER BY t DESC, trace_id LIMIT ?",
        [project_id, issue_id, samples],
    ).fetchall()
    out: dict[str, Any] = {"series": series, "sample_trace_ids": [t for t, _ in traces]}
    for column in ("user_id", "session_id"):
        found = cur.execute(
            f"SELECT {column}, count(*) AS n FROM signals WHERE project_id = ? AND issue_id = ? "
            f"AND {column} IS NOT NULL GROUP BY {column} ORDER BY n DESC, {column} LIMIT 50",
            [project_id, issue_id],
        ).fetchall()
        out[column] = [{"id": v, "count": int(n)} for v, n in found]
    return out


def set_issue_status(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    issue_ids: Sequence[str],
    status: str,
    now: datetime,
    *,
    more: int | None = None,
    until: datetime | None = None,
    count_signals: Callable[[list[tuple[str, str]]], dict[tuple[str, str], int]] | None = None,
) -> list[str]:
    """Set the status of the project's issues ``issue_ids``; ``ignored`` may end after
    ``more`` signals or at ``until``. Returns the ids found. ``count_signals`` counts the
    signals of (project, issue) keys where they are not in ``cur``'s database."""
    if status not in STATUSES:
        raise BadRequest(f"status: one of {', '.join(STATUSES)}")
    if status != "ignored" and (more is not None or until is not None):
        raise BadRequest("ignoreUntil and ignoreUntilCount go with status ignored")
    if not issue_ids:
        return []
    found = cur.execute(
        "SELECT id FROM issues WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, list(issue_ids)],
    ).fetchall()
    ids = [r[0] for r in found]
    if not ids:
        raise NotFound("no such issue in this project")
    keys = [(project_id, i) for i in ids]
    if more is None:
        counts = {}
    else:
        counts = count_signals(keys) if count_signals is not None else _counts(cur, keys)
    for issue_id in ids:
        until_count = counts.get((project_id, issue_id), 0) + more if more is not None else None
        cur.execute(
            "UPDATE issues SET status = ?, ignore_until_count = ?, ignore_until = ?, "
            "status_changed_at = ? WHERE project_id = ? AND id = ?",
            [status, until_count, until, now, project_id, issue_id],
        )
    return ids


# -- the runner's score feed ---------------------------------------------------------------


def record_score_changes(
    con: duckdb.DuckDBPyConnection,
    change: int,
    rows: Sequence[tuple[str, str]],
    task: str | None,
) -> None:
    """Note that the scores of (project, trace) ``rows`` changed under marker ``change``,
    written by runner task ``task`` (``None``: the API)."""
    keys = sorted(set(rows))
    if not keys:
        return
    table = pa.table(
        {
            "change_seq": pa.array([change] * len(keys), pa.int64()),
            "project_id": [p for p, _ in keys],
            "trace_id": [t for _, t in keys],
            "task": pa.array([task] * len(keys), pa.string()),
        }
    )
    con.register("heron_score_changes", table)
    try:
        con.execute("INSERT INTO score_changes SELECT * FROM heron_score_changes")
    finally:
        con.unregister("heron_score_changes")


def score_changed(
    cur: duckdb.DuckDBPyConnection, after: int, upto: int, exclude_task: str
) -> list[tuple[str, str]]:
    """(project, trace) whose scores changed under markers in (after, upto], except the
    changes ``exclude_task`` wrote itself (a task never re-triggers itself)."""
    return cur.execute(
        "SELECT DISTINCT project_id, trace_id FROM score_changes WHERE change_seq > ? "
        "AND change_seq <= ? AND task IS DISTINCT FROM ?",
        [after, upto, exclude_task],
    ).fetchall()


def prune_score_changes(con: duckdb.DuckDBPyConnection, upto: int) -> None:
    """Forget score changes every task following them has passed."""
    con.execute("DELETE FROM score_changes WHERE change_seq <= ?", [upto])


# -- many rules in one scan ----------------------------------------------------------------


def match_traces(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    ids: Sequence[str],
    rules: Mapping[str, Sequence[Filter]],
) -> dict[str, set[str]]:
    """Which of the traces ``ids`` each rule's filters match: one scan for all rules."""
    if not ids or not rules:
        return {name: set() for name in rules}
    columns, params = _matches(rules, TRACES)
    rows = cur.execute(
        f"SELECT t.id, {columns} FROM traces t WHERE t.project_id = ? AND t.id IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [*params, project_id, list(ids)],
    ).fetchall()
    out: dict[str, set[str]] = {name: set() for name in rules}
    names = list(rules)
    for trace_id, *flags in rows:
        for name, flag in zip(names, flags, strict=True):
            if flag:
                out[name].add(trace_id)
    return out


def match_observations(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    trace_ids: Sequence[str],
    rules: Mapping[str, Sequence[Filter]],
) -> dict[str, list[dict[str, Any]]]:
    """The observations of ``trace_ids`` each rule's filters match (in trace and time
    order): one scan for all rules."""
    if not trace_ids or not rules:
        return {name: [] for name in rules}
    columns, params = _matches(rules, OBSERVATIONS)
    fields = ("id", "trace_id", "type", "name", "model", "level", "status_message",
              "start_time", "fingerprint")  # fmt: skip
    selected = ", ".join(f"o.{f}" for f in fields[:-1])
    rows = cur.execute(
        f"SELECT * FROM (SELECT {selected}, {_FINGERPRINT}, {columns} "
        "FROM observations o WHERE o.project_id = ? AND o.trace_id IN "
        f"(SELECT unnest(?::VARCHAR[]))) WHERE {' OR '.join(f'm{i}' for i in range(len(rules)))} "
        "ORDER BY trace_id, start_time, id",
        [*params, project_id, list(trace_ids)],
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in rules}
    names = list(rules)
    for row in rows:
        item = dict(zip(fields, row[: len(fields)], strict=True))
        for name, flag in zip(names, row[len(fields) :], strict=True):
            if flag:
                out[name].append(item)
    return out


def _matches(rules: Mapping[str, Sequence[Filter]], view: Any) -> tuple[str, list[Any]]:
    columns, params = [], []
    for i, filters in enumerate(rules.values()):
        where, p = compile_filters(list(filters), view)
        columns.append(f"coalesce(({where}), false) AS m{i}")
        params += p
    return ", ".join(columns), params
