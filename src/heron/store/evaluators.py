"""Evaluators, their versions and run statistics, and LLM connections (control data).

Functions taking a cursor, every query parameterised and scoped to one project. Specs are
validated by :mod:`heron.evals.spec` before they get here; a connection's API key arrives
encrypted (:mod:`heron.evals.secrets`) and is never returned by a listing.

An evaluator's ``version`` starts at 1 and grows by one each time its spec changes; every
version's spec is kept (``evaluator_versions``), so a score's ``metadata.evaluator_version``
always names the definition that wrote it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from heron.errors import NotFound
from heron.query import OBSERVATIONS, TRACES, Filter, compile_filters

LOG_KEEP = 200  # run-log lines kept per evaluator
STATUSES = ("active", "paused")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# -- evaluators ----------------------------------------------------------------------------

_EVAL_COLUMNS = "id, project_id, name, version, spec, status, status_reason, created_at, updated_at"


def _evaluator(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _EVAL_COLUMNS.split(",")], row, strict=True))
    out["spec"] = orjson.loads(out["spec"])
    return out


def list_evaluators(
    cur: duckdb.DuckDBPyConnection, project_id: str | None, active_only: bool = False
) -> list[dict[str, Any]]:
    """A project's evaluators by name (``None``: every project's, for the runner)."""
    where = " AND status = 'active'" if active_only else ""
    rows = cur.execute(
        f"SELECT {_EVAL_COLUMNS} FROM evaluators "
        f"WHERE (CAST(? AS VARCHAR) IS NULL OR project_id = ?){where} "
        "ORDER BY project_id, name",
        [project_id, project_id],
    ).fetchall()
    return [_evaluator(r) for r in rows]


def get_evaluator(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_EVAL_COLUMNS} FROM evaluators WHERE project_id = ? AND name = ?",
        [project_id, name],
    ).fetchall()
    return _evaluator(rows[0]) if rows else None


def put_evaluator(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, spec: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Create the evaluator or give it a new version if ``spec`` differs from its current
    one; returns it and what happened: ``created``, ``updated`` or ``unchanged``."""
    now = _now()
    current = get_evaluator(cur, project_id, name)
    text = _dumps(spec)
    if current is not None and _dumps(current["spec"]) == text:
        return current, "unchanged"
    if current is None:
        evaluator_id, version, action = secrets.token_hex(8), 1, "created"
        cur.execute(
            f"INSERT INTO evaluators ({_EVAL_COLUMNS}) VALUES (?, ?, ?, 1, ?, 'active', NULL, "
            "?, ?)",
            [evaluator_id, project_id, name, text, now, now],
        )
    else:
        evaluator_id, version, action = current["id"], current["version"] + 1, "updated"
        cur.execute(
            "UPDATE evaluators SET version = ?, spec = ?, updated_at = ? "
            "WHERE project_id = ? AND id = ?",
            [version, text, now, project_id, evaluator_id],
        )
    cur.execute(
        "INSERT INTO evaluator_versions VALUES (?, ?, ?, ?, ?)",
        [project_id, evaluator_id, version, text, now],
    )
    found = get_evaluator(cur, project_id, name)
    assert found is not None
    return found, action


def set_status(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    evaluator_id: str,
    status: str,
    reason: str | None,
) -> bool:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    rows = cur.execute(
        "UPDATE evaluators SET status = ?, status_reason = ?, updated_at = ? "
        "WHERE project_id = ? AND id = ? RETURNING id",
        [status, reason, _now(), project_id, evaluator_id],
    ).fetchall()
    return bool(rows)


def delete_evaluator(cur: duckdb.DuckDBPyConnection, project_id: str, evaluator_id: str) -> bool:
    """Delete the definition, its versions, statistics and log (its scores stay)."""
    found = cur.execute(
        "DELETE FROM evaluators WHERE project_id = ? AND id = ? RETURNING id",
        [project_id, evaluator_id],
    ).fetchall()
    for table in ("evaluator_versions", "evaluator_stats", "evaluator_log"):
        cur.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND evaluator_id = ?",
            [project_id, evaluator_id],
        )
    return bool(found)


def versions(
    cur: duckdb.DuckDBPyConnection, project_id: str, evaluator_id: str
) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT version, spec, created_at FROM evaluator_versions WHERE project_id = ? "
        "AND evaluator_id = ? ORDER BY version DESC",
        [project_id, evaluator_id],
    ).fetchall()
    return [{"version": v, "spec": orjson.loads(s), "created_at": t} for v, s, t in rows]


# -- run statistics and log ----------------------------------------------------------------


def record_runs(
    cur: duckdb.DuckDBPyConnection,
    stats: Sequence[dict[str, Any]],
    log: Sequence[dict[str, Any]],
) -> None:
    """Add run counts (``project_id, evaluator_id, version, scored, failed, cost``, with
    ``last_error``) and log lines (``project_id, evaluator_id, level, message, target``);
    the log keeps the last :data:`LOG_KEEP` lines per evaluator."""
    now = _now()
    for s in stats:
        cur.execute(
            "INSERT INTO evaluator_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (project_id, evaluator_id, version) DO UPDATE SET "
            "scored = evaluator_stats.scored + excluded.scored, "
            "failed = evaluator_stats.failed + excluded.failed, "
            "cost = evaluator_stats.cost + excluded.cost, last_run_at = excluded.last_run_at, "
            "last_error = coalesce(excluded.last_error, evaluator_stats.last_error)",
            [
                s["project_id"], s["evaluator_id"], s["version"], s.get("scored", 0),
                s.get("failed", 0), float(s.get("cost") or 0.0), now, s.get("last_error"),
            ],
        )  # fmt: skip
    touched: set[tuple[str, str]] = set()
    for line in log:
        cur.execute(
            "INSERT INTO evaluator_log VALUES (?, ?, ?, ?, ?, ?)",
            [
                line["project_id"], line["evaluator_id"], now, line.get("level", "info"),
                str(line["message"])[:2000], line.get("target"),
            ],
        )  # fmt: skip
        touched.add((line["project_id"], line["evaluator_id"]))
    for project_id, evaluator_id in touched:
        cur.execute(
            "DELETE FROM evaluator_log WHERE project_id = ? AND evaluator_id = ? AND logged_at < "
            "(SELECT min(logged_at) FROM (SELECT logged_at FROM evaluator_log WHERE "
            "project_id = ? AND evaluator_id = ? ORDER BY logged_at DESC LIMIT ?) newest)",
            [project_id, evaluator_id, project_id, evaluator_id, LOG_KEEP],
        )


def stats(
    cur: duckdb.DuckDBPyConnection, project_id: str, evaluator_id: str
) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT version, scored, failed, cost, last_run_at, last_error FROM evaluator_stats "
        "WHERE project_id = ? AND evaluator_id = ? ORDER BY version DESC",
        [project_id, evaluator_id],
    ).fetchall()
    names = ("version", "scored", "failed", "cost", "last_run_at", "last_error")
    return [dict(zip(names, r, strict=True)) for r in rows]


def log_lines(
    cur: duckdb.DuckDBPyConnection, project_id: str, evaluator_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT logged_at, level, message, target FROM evaluator_log WHERE project_id = ? "
        "AND evaluator_id = ? ORDER BY logged_at DESC LIMIT ?",
        [project_id, evaluator_id, limit],
    ).fetchall()
    return [dict(zip(("at", "level", "message", "target"), r, strict=True)) for r in rows]


# -- LLM connections -----------------------------------------------------------------------

_CONN_COLUMNS = "id, project_id, name, spec, api_key, api_key_hint, created_at, updated_at"


def _connection(row: tuple[Any, ...], with_key: bool) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _CONN_COLUMNS.split(",")], row, strict=True))
    out["spec"] = orjson.loads(out["spec"])
    if not with_key:
        out.pop("api_key")
    return out


def list_connections(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    """A project's connections by name, without their (encrypted) keys."""
    rows = cur.execute(
        f"SELECT {_CONN_COLUMNS} FROM llm_connections WHERE project_id = ? ORDER BY name",
        [project_id],
    ).fetchall()
    return [_connection(r, with_key=False) for r in rows]


def get_connection(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str, with_key: bool = False
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_CONN_COLUMNS} FROM llm_connections WHERE project_id = ? AND name = ?",
        [project_id, name],
    ).fetchall()
    return _connection(rows[0], with_key) if rows else None


def put_connection(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    name: str,
    spec: dict[str, Any],
    api_key: str | None,
    api_key_hint: str | None,
) -> tuple[dict[str, Any], str]:
    """Create or update a connection; ``api_key`` (encrypted) ``None`` keeps the stored
    one. Returns it (without the key) and ``created``, ``updated`` or ``unchanged``."""
    now = _now()
    current = get_connection(cur, project_id, name, with_key=True)
    text = _dumps(spec)
    if current is None:
        cur.execute(
            f"INSERT INTO llm_connections ({_CONN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [secrets.token_hex(8), project_id, name, text, api_key, api_key_hint, now, now],
        )
        action = "created"
    elif _dumps(current["spec"]) == text and api_key is None:
        action = "unchanged"
    else:
        cur.execute(
            "UPDATE llm_connections SET spec = ?, api_key = coalesce(?, api_key), "
            "api_key_hint = coalesce(?, api_key_hint), updated_at = ? "
            "WHERE project_id = ? AND name = ?",
            [text, api_key, api_key_hint, now, project_id, name],
        )
        action = "updated"
    found = get_connection(cur, project_id, name)
    assert found is not None
    return found, action


def delete_connection(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> bool:
    rows = cur.execute(
        "DELETE FROM llm_connections WHERE project_id = ? AND name = ? RETURNING id",
        [project_id, name],
    ).fetchall()
    return bool(rows)


# -- targets -------------------------------------------------------------------------------


def matching_traces(
    cur: duckdb.DuckDBPyConnection, project_id: str, ids: Sequence[str], filters: Sequence[Filter]
) -> set[str]:
    """Which of the traces ``ids`` match ``filters`` (the traces view's filter language)."""
    if not ids:
        return set()
    where, params = compile_filters(filters, TRACES)
    rows = cur.execute(
        f"SELECT t.id FROM traces t WHERE t.project_id = ? AND t.id IN "
        f"(SELECT unnest(?::VARCHAR[])) AND {where}",
        [project_id, list(ids), *params],
    ).fetchall()
    return {r[0] for r in rows}


OBSERVATION_FIELDS = (
    "id", "trace_id", "type", "name", "model", "level", "status_message", "input", "output",
    "metadata", "start_time", "end_time", "total_cost", "total_tokens",
)  # fmt: skip


def matching_observations(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    trace_ids: Sequence[str],
    filters: Sequence[Filter],
) -> list[dict[str, Any]]:
    """The observations of ``trace_ids`` matching ``filters`` (the observations view), in
    trace and time order, with :data:`OBSERVATION_FIELDS` (metadata parsed)."""
    if not trace_ids:
        return []
    where, params = compile_filters(filters, OBSERVATIONS)
    columns = ", ".join(f"o.{c}" for c in OBSERVATION_FIELDS)
    rows = cur.execute(
        f"SELECT {columns} FROM observations o WHERE o.project_id = ? AND o.trace_id IN "
        f"(SELECT unnest(?::VARCHAR[])) AND {where} ORDER BY o.trace_id, o.start_time, o.id",
        [project_id, list(trace_ids), *params],
    ).fetchall()
    out = []
    for row in rows:
        item = dict(zip(OBSERVATION_FIELDS, row, strict=True))
        if isinstance(item.get("metadata"), str):
            item["metadata"] = orjson.loads(item["metadata"])
        out.append(item)
    return out


def require_project(cur: duckdb.DuckDBPyConnection, project_id: str) -> None:
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")
