"""Score reads and deletes on ClickHouse, shaped as :mod:`heron.store.scores` (Langfuse's v2
score items, built by the same ``_score``).

Scores are read ``FINAL`` (a score written again is its latest row). A deleted score is
removed with a lightweight ``DELETE`` of every row of its id (all its versions): ClickHouse
hides the rows from every read at once, ``FINAL`` or not, and drops them at the next merge.
The score's trace (its user, tags, environment, session) is joined from ``traces FINAL``.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from heron.query.clickhouse import Params, to_us
from heron.store.clickhouse.reads import utc
from heron.store.scores import ANY_OF_COLUMNS, OPERATORS, SCORED_BY, ScoreFilter, _score

_US = "toUnixTimestamp64Micro"
_SETTINGS = {"join_use_nulls": 1}
_SCORES = "(SELECT * FROM scores FINAL WHERE project_id = {project:String})"
_TRACES = (
    "(SELECT id, user_id, tags, environment, session_id FROM traces FINAL "
    "WHERE project_id = {project:String})"
)
_COLUMNS = (
    f"s.id, s.name, s.source, {_US}(s.timestamp), {_US}(s.created_at), {_US}(s.updated_at), "
    "s.author, s.comment, s.metadata, s.config_id, s.queue_id, s.environment, s.trace_id, "
    "s.session_id, s.observation_id, s.dataset_run_id, s.value, s.string_value, s.data_type, "
    "t.user_id, t.tags, t.environment, t.session_id, t.id"
)
_JOIN = f" LEFT JOIN {_TRACES} AS t ON t.id = s.trace_id"


def _where(f: ScoreFilter, params: Params) -> str:
    sql = ["1"]
    equal = (
        ("t.user_id", f.user_id), ("s.name", f.name), ("s.source", f.source),
        ("s.config_id", f.config_id), ("s.queue_id", f.queue_id),
        ("s.dataset_run_id", f.dataset_run_id), ("s.session_id", f.session_id),
        ("s.trace_id", f.trace_id), ("s.observation_id", f.observation_id),
        ("s.data_type", f.data_type),
    )  # fmt: skip
    for column, value in equal:
        if value is not None:
            sql.append(f"{column} = {params.add(value, 'String')}")
    if f.from_timestamp is not None:
        sql.append(f"{_US}(s.timestamp) >= {params.add(to_us(f.from_timestamp), 'Int64')}")
    if f.to_timestamp is not None:
        sql.append(f"{_US}(s.timestamp) < {params.add(to_us(f.to_timestamp), 'Int64')}")
    environment = ANY_OF_COLUMNS["environment"]
    for column, values in ((environment, f.environments), ("s.id", f.score_ids)):
        if values:
            sql.append(f"{column} IN {params.add(list(values), 'Array(String)')}")
    if f.operator is not None and f.value is not None:
        assert f.operator in OPERATORS  # validated by the caller; never user text in SQL
        sql.append(f"s.value {f.operator} {params.add(float(f.value), 'Float64')}")
    if f.trace_tags:
        sql.append(f"hasAll(t.tags, {params.add(list(f.trace_tags), 'Array(String)')})")
    for key, values in f.any_of.items():
        if values:
            kind = "Float64" if key == "value" else "String"
            typed = [float(v) for v in values] if key == "value" else list(values)
            sql.append(f"{ANY_OF_COLUMNS[key]} IN {params.add(typed, f'Array({kind})')}")
    for bound, value in ((">=", f.value_min), ("<=", f.value_max)):
        if value is not None:
            sql.append(f"s.value {bound} {params.add(float(value), 'Float64')}")
    if f.after is not None:
        at, after_id = params.add(to_us(f.after[0]), "Int64"), params.add(f.after[1], "String")
        sql.append(
            f"({_US}(s.timestamp) < {at} OR ({_US}(s.timestamp) = {at} AND s.id > {after_id}))"
        )
    return " AND ".join(sql)


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    values = list(row)
    for i in (3, 4, 5):
        values[i] = utc(values[i])
    return _score(tuple(values))


def _uses_trace(f: ScoreFilter) -> bool:
    return f.user_id is not None or bool(f.trace_tags)


def list_scores(
    client: Client, project_id: str, f: ScoreFilter, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's matching scores, newest first, and their total."""
    params = Params(project_id)
    where = _where(f, params)
    join = _JOIN if _uses_trace(f) else ""
    rows = client.query(
        f"SELECT count() FROM {_SCORES} AS s{join} WHERE {where}",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    total = int(rows[0][0]) if rows else 0
    return _page(client, params, join, where, limit, (page - 1) * limit), total


def scan_scores(
    client: Client, project_id: str, f: ScoreFilter, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` matching scores after ``f.after``, newest first (no total)."""
    params = Params(project_id)
    where = _where(f, params)
    return _page(client, params, _JOIN if _uses_trace(f) else "", where, limit, 0)


def _page(
    client: Client, params: Params, join: str, where: str, limit: int, skip: int
) -> list[dict[str, Any]]:
    rows = client.query(
        f"WITH page AS (SELECT s.* FROM {_SCORES} AS s{join} WHERE {where} "
        f"ORDER BY s.timestamp DESC, s.id LIMIT {int(limit)} OFFSET {int(skip)}) "
        f"SELECT {_COLUMNS} FROM page AS s{_JOIN} ORDER BY s.timestamp DESC, s.id",
        parameters=params.values,
        settings=_SETTINGS,
    ).result_rows
    return [_item(r) for r in rows]


def get_score(client: Client, project_id: str, score_id: str) -> dict[str, Any] | None:
    rows = client.query(
        f"SELECT {_COLUMNS} FROM {_SCORES} AS s{_JOIN} WHERE s.id = {{id:String}}",
        parameters={"project": project_id, "id": score_id},
        settings=_SETTINGS,
    ).result_rows
    return _item(rows[0]) if rows else None


def delete_score(client: Client, project_id: str, score_id: str) -> bool:
    """Delete one of the project's scores (every stored version of it); False when it has
    none of that id."""
    parameters = {"project": project_id, "id": score_id}
    rows = client.query(
        "SELECT count() FROM scores WHERE project_id = {project:String} AND id = {id:String}",
        parameters=parameters,
    ).result_rows
    if not rows or not rows[0][0]:
        return False
    client.command(
        "DELETE FROM scores WHERE project_id = {project:String} AND id = {id:String}",
        parameters=parameters,
    )
    return True


def scores_by(
    client: Client, project_id: str, column: str, ids: list[str], per_target: int
) -> dict[str, list[dict[str, Any]]]:
    """The newest ``per_target`` scores of each of ``ids`` (``column`` is one of
    :data:`heron.store.scores.SCORED_BY`), newest first, in the v2 item shape."""
    if column not in SCORED_BY:
        raise ValueError(f"scores_by: cannot group on {column!r}")
    if not ids:
        return {}
    rows = client.query(
        f"WITH ranked AS (SELECT s.*, row_number() OVER (PARTITION BY s.{column} "
        f"ORDER BY s.timestamp DESC, s.id) AS n FROM {_SCORES} AS s "
        f"WHERE s.{column} IN {{ids:Array(String)}}) "
        f"SELECT {_COLUMNS} FROM ranked AS s{_JOIN} WHERE s.n <= {int(per_target)} "
        "ORDER BY s.timestamp DESC, s.id",
        parameters={"project": project_id, "ids": list(ids)},
        settings=_SETTINGS,
    ).result_rows
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        item = _item(row)
        key = item["traceId"] if column == "trace_id" else item["datasetRunId"]
        out.setdefault(key, []).append(item)
    return out
