"""Score reads and score configs: stored rows in Langfuse's public API shapes.

Functions taking a cursor (like :mod:`heron.store.dashboards`); every query is parameterised
and scoped to one project. Filters are validated by the server first (:class:`ScoreFilter`
holds only checked values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from heron.scores.configs import BOOLEAN_CATEGORIES
from heron.store.reads import iso

OPERATORS = ("<", ">", "<=", ">=", "!=", "=")


@dataclass(slots=True)
class ScoreFilter:
    """The filters of ``GET /api/public/v2/scores``; a list is "any of", fields are ANDed."""

    user_id: str | None = None
    name: str | None = None
    from_timestamp: datetime | None = None  # inclusive
    to_timestamp: datetime | None = None  # exclusive
    environments: list[str] = field(default_factory=list)
    source: str | None = None
    operator: str | None = None  # with value: compares the numeric value
    value: float | None = None
    score_ids: list[str] = field(default_factory=list)
    config_id: str | None = None
    queue_id: str | None = None
    dataset_run_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    observation_id: str | None = None
    data_type: str | None = None
    trace_tags: list[str] = field(default_factory=list)  # the trace has all of them
    # v3: columns of ANY_OF_COLUMNS -> any of these values; numeric bounds; keyset position
    any_of: dict[str, list[Any]] = field(default_factory=dict)
    value_min: float | None = None
    value_max: float | None = None
    after: tuple[datetime, str] | None = None  # rows after (timestamp, id) in list order


ANY_OF_COLUMNS = {
    "id": "s.id", "name": "s.name", "source": "s.source", "data_type": "s.data_type",
    "environment": "coalesce(s.environment, 'default')", "config_id": "s.config_id",
    "queue_id": "s.queue_id", "author": "s.author", "trace_id": "s.trace_id",
    "session_id": "s.session_id", "observation_id": "s.observation_id",
    "dataset_run_id": "s.dataset_run_id", "value": "s.value", "string_value": "s.string_value",
}  # fmt: skip


_COLUMNS = (
    "s.id, s.name, s.source, s.timestamp, s.created_at, s.updated_at, s.author, s.comment, "
    "s.metadata, s.config_id, s.queue_id, s.environment, s.trace_id, s.session_id, "
    "s.observation_id, s.dataset_run_id, s.value, s.string_value, s.data_type, "
    "t.user_id, t.tags, t.environment, t.session_id, t.id"
)
_FROM = "FROM scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id"


def _where(project_id: str, f: ScoreFilter) -> tuple[str, list[Any]]:
    sql = ["s.project_id = ?"]
    args: list[Any] = [project_id]
    equal = (
        ("t.user_id", f.user_id), ("s.name", f.name), ("s.source", f.source),
        ("s.config_id", f.config_id), ("s.queue_id", f.queue_id),
        ("s.dataset_run_id", f.dataset_run_id), ("s.session_id", f.session_id),
        ("s.trace_id", f.trace_id), ("s.observation_id", f.observation_id),
        ("s.data_type", f.data_type),
    )  # fmt: skip
    for column, value in equal:
        if value is not None:
            sql.append(f"{column} = ?")
            args.append(value)
    if f.from_timestamp is not None:
        sql.append("s.timestamp >= ?")
        args.append(f.from_timestamp)
    if f.to_timestamp is not None:
        sql.append("s.timestamp < ?")
        args.append(f.to_timestamp)
    environment = "coalesce(s.environment, 'default')"  # as items show it, like Langfuse
    for column, values in ((environment, f.environments), ("s.id", f.score_ids)):
        if values:
            sql.append(f"{column} IN ({', '.join('?' * len(values))})")
            args.extend(values)
    if f.operator is not None and f.value is not None:
        assert f.operator in OPERATORS  # validated by the caller; never user text in SQL
        sql.append(f"s.value {f.operator} ?")
        args.append(f.value)
    if f.trace_tags:
        sql.append("list_has_all(t.tags, ?::VARCHAR[])")
        args.append(f.trace_tags)
    for key, values in f.any_of.items():
        if values:
            sql.append(f"{ANY_OF_COLUMNS[key]} IN ({', '.join('?' * len(values))})")
            args.extend(values)
    for bound, value in ((">=", f.value_min), ("<=", f.value_max)):
        if value is not None:
            sql.append(f"s.value {bound} ?")
            args.append(value)
    if f.after is not None:
        sql.append("(s.timestamp < ? OR (s.timestamp = ? AND s.id > ?))")
        args.extend([f.after[0], f.after[0], f.after[1]])
    return " AND ".join(sql), args


def _score(row: tuple[Any, ...]) -> dict[str, Any]:
    (score_id, name, source, timestamp, created_at, updated_at, author, comment, metadata,
     config_id, queue_id, environment, trace_id, session_id, observation_id, dataset_run_id,
     value, string_value, data_type, t_user, t_tags, t_env, t_session, t_id) = row  # fmt: skip
    item: dict[str, Any] = {
        "id": score_id,
        "name": name,
        "source": source,
        "timestamp": iso(timestamp),
        "createdAt": iso(created_at or timestamp),
        "updatedAt": iso(updated_at or timestamp),
        "authorUserId": author,
        "comment": comment,
        "metadata": orjson.loads(metadata) if metadata is not None else {},
        "configId": config_id,
        "queueId": queue_id,
        "environment": environment or "default",
        "traceId": trace_id,
        "sessionId": session_id,
        "observationId": observation_id,
        "datasetRunId": dataset_run_id,
        # Langfuse: a CATEGORICAL value without a config's number is 0; TEXT has none
        "value": value if value is not None else 0,
        "stringValue": string_value,
        "dataType": data_type,
        "trace": None,
    }
    if t_id is not None:
        item["trace"] = {
            "userId": t_user,
            "tags": list(t_tags or []),
            "environment": t_env or "default",
            "sessionId": t_session,
        }
    return item


def list_scores(
    cur: duckdb.DuckDBPyConnection, project_id: str, f: ScoreFilter, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's matching scores, newest first, and their total.

    The traces are joined to the page's rows only, and to all of them only when a filter is
    on the trace (user, tags)."""
    where, args = _where(project_id, f)
    source = _FROM if f.user_id is not None or f.trace_tags else "FROM scores s"
    row = cur.execute(f"SELECT count(*) {source} WHERE {where}", args).fetchone()
    total = int(row[0]) if row else 0
    return _page(cur, source, where, args, limit, (page - 1) * limit), total


def scan_scores(
    cur: duckdb.DuckDBPyConnection, project_id: str, f: ScoreFilter, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` matching scores after ``f.after``, newest first (no total)."""
    where, args = _where(project_id, f)
    source = _FROM if f.user_id is not None or f.trace_tags else "FROM scores s"
    return _page(cur, source, where, args, limit, 0)


def _page(
    cur: duckdb.DuckDBPyConnection, source: str, where: str, args: list[Any], limit: int, skip: int
) -> list[dict[str, Any]]:
    rows = cur.execute(
        f"WITH page AS (SELECT s.* {source} WHERE {where} "
        "ORDER BY s.timestamp DESC, s.id LIMIT ? OFFSET ?) "
        f"SELECT {_COLUMNS} {_FROM.replace('FROM scores s', 'FROM page s')} "
        "ORDER BY s.timestamp DESC, s.id",
        [*args, limit, skip],
    ).fetchall()
    return [_score(r) for r in rows]


def get_score(
    cur: duckdb.DuckDBPyConnection, project_id: str, score_id: str
) -> dict[str, Any] | None:
    row = cur.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE s.project_id = ? AND s.id = ?", [project_id, score_id]
    ).fetchone()
    return None if row is None else _score(row)


def delete_score(cur: duckdb.DuckDBPyConnection, project_id: str, score_id: str) -> bool:
    """Delete one of the project's scores; False when it has none of that id."""
    row = cur.execute(
        "DELETE FROM scores WHERE project_id = ? AND id = ? RETURNING id", [project_id, score_id]
    ).fetchall()
    return bool(row)


# -- score configs ---------------------------------------------------------------------------

_CONFIG_COLUMNS = (
    "id, project_id, name, data_type, is_archived, min_value, max_value, categories, "
    "description, created_at, updated_at"
)


def _config(row: tuple[Any, ...]) -> dict[str, Any]:
    (config_id, project_id, name, data_type, archived, min_value, max_value, categories,
     description, created_at, updated_at) = row  # fmt: skip
    return {
        "id": config_id,
        "projectId": project_id,
        "name": name,
        "dataType": data_type,
        "isArchived": archived,
        "minValue": min_value,
        "maxValue": max_value,
        "categories": (
            orjson.loads(categories)
            if categories is not None
            else BOOLEAN_CATEGORIES
            if data_type == "BOOLEAN"
            else None  # as Langfuse shows them
        ),
        "description": description,
        "createdAt": iso(created_at),
        "updatedAt": iso(updated_at),
    }


def list_configs(
    cur: duckdb.DuckDBPyConnection, project_id: str, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's score configs, oldest first, and their total."""
    row = cur.execute(
        "SELECT count(*) FROM score_configs WHERE project_id = ?", [project_id]
    ).fetchone()
    rows = cur.execute(
        f"SELECT {_CONFIG_COLUMNS} FROM score_configs WHERE project_id = ? "
        "ORDER BY created_at, id LIMIT ? OFFSET ?",
        [project_id, limit, (page - 1) * limit],
    ).fetchall()
    return [_config(r) for r in rows], int(row[0]) if row else 0


def configs_by_id(
    cur: duckdb.DuckDBPyConnection, project_id: str, config_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The project's configs of these ids (archived too), by id."""
    if not config_ids:
        return {}
    rows = cur.execute(
        f"SELECT {_CONFIG_COLUMNS} FROM score_configs WHERE project_id = ? "
        f"AND id IN ({', '.join('?' * len(config_ids))})",
        [project_id, *config_ids],
    ).fetchall()
    return {r[0]: _config(r) for r in rows}


def put_config(cur: duckdb.DuckDBPyConnection, project_id: str, config: dict[str, Any]) -> None:
    """Insert or replace a config (``config`` in the item shape; times are set here)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    row = cur.execute(
        "SELECT created_at FROM score_configs WHERE project_id = ? AND id = ?",
        [project_id, config["id"]],
    ).fetchone()
    cur.execute(
        "DELETE FROM score_configs WHERE project_id = ? AND id = ?", [project_id, config["id"]]
    )
    categories = config.get("categories")
    cur.execute(
        f"INSERT INTO score_configs ({_CONFIG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            config["id"], project_id, config["name"], config["dataType"],
            bool(config.get("isArchived")), config.get("minValue"), config.get("maxValue"),
            orjson.dumps(categories).decode() if categories is not None else None,
            config.get("description"), row[0] if row else now, now,
        ],
    )  # fmt: skip


SCORED_BY = ("trace_id", "dataset_run_id")  # what scores_by may group on


def scores_by(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    column: str,
    ids: list[str],
    per_target: int,
) -> dict[str, list[dict[str, Any]]]:
    """The newest ``per_target`` scores of each of ``ids`` (traces or runs: ``column`` is one
    of :data:`SCORED_BY`), newest first, in the v2 item shape."""
    if column not in SCORED_BY:
        raise ValueError(f"scores_by: cannot group on {column!r}")
    if not ids:
        return {}
    rows = cur.execute(
        f"WITH ranked AS (SELECT s.*, row_number() OVER (PARTITION BY s.{column} "
        "ORDER BY s.timestamp DESC, s.id) AS n FROM scores s "
        f"WHERE s.project_id = ? AND s.{column} IN (SELECT unnest(?::VARCHAR[]))) "
        f"SELECT {_COLUMNS} {_FROM.replace('FROM scores s', 'FROM ranked s')} "
        "WHERE s.n <= ? ORDER BY s.timestamp DESC, s.id",
        [project_id, list(ids), per_target],
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        item = _score(row)
        key = item["traceId"] if column == "trace_id" else item["datasetRunId"]
        out.setdefault(key, []).append(item)
    return out
