"""What annotation, alignment and error analysis read of the events on ClickHouse, shaped as
:mod:`heron.store.annotation_reads`, :func:`heron.store.alignment.human_labels`,
:func:`heron.store.analysis.read_notes` and :func:`heron.store.annotation.fill_traces`
(whose queue half, the traces already queued, PostgreSQL gives: see
:mod:`heron.store.cluster_annotation`).

Every query reads ``FINAL`` and is scoped by ``{project:String}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from heron.query import TRACES, Filter
from heron.query.clickhouse import Params, compile_filters, to_us
from heron.store.alignment import MAX_LABELS
from heron.store.analysis import NoteQuery
from heron.store.annotation import STRATA
from heron.store.annotation_reads import MAX_QUEUE_SCORES
from heron.store.clickhouse.comments import LIVE
from heron.store.clickhouse.reads import _trace_view

_SCORES = "(SELECT * FROM scores FINAL WHERE project_id = {project:String})"
_US_START = "toUnixTimestamp64Micro(t.start_time)"
_TRACE_IDS = "(SELECT id FROM traces FINAL WHERE project_id = {project:String})"


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return client.query(sql, parameters=params, settings={"join_use_nulls": 1}).result_rows


def observation_trace(client: Client, project_id: str, observation_id: str) -> str | None:
    """The trace an observation belongs to, or None when there is no such observation."""
    rows = _rows(
        client,
        "SELECT trace_id FROM observations FINAL WHERE project_id = {project:String} "
        "AND id = {id:String} LIMIT 1",
        {"project": project_id, "id": observation_id},
    )
    return rows[0][0] if rows else None


def scores_by_ids(client: Client, project_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{id: {config_id, value, string_value, data_type}}`` of the project's scores with
    these ids."""
    if not ids:
        return {}
    rows = _rows(
        client,
        f"SELECT id, config_id, value, string_value, data_type FROM {_SCORES} "
        "WHERE id IN {ids:Array(String)}",
        {"project": project_id, "ids": list(ids)},
    )
    return {
        i: {"config_id": c, "value": v, "string_value": s, "data_type": d} for i, c, v, s, d in rows
    }


def queue_scores(
    client: Client, project_id: str, queue_id: str, config_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The ANNOTATION scores of a queue under these configs (for agreement), oldest update
    first: ``{config_id, author, value, string_value, item}``."""
    rows = _rows(
        client,
        "SELECT config_id, author, value, string_value, trace_id, observation_id, session_id "
        f"FROM {_SCORES} WHERE queue_id = {{queue:String}} AND source = 'ANNOTATION' "
        "AND config_id IN {configs:Array(String)} ORDER BY updated_at, id "
        f"LIMIT {MAX_QUEUE_SCORES}",
        {"project": project_id, "queue": queue_id, "configs": list(config_ids)},
    )
    return [
        {"config_id": c, "author": a, "value": v, "string_value": s, "item": (t, o, ss)}
        for c, a, v, s, t, o, ss in rows
    ]


def human_labels(client: Client, project_id: str, name: str, source: str) -> list[dict[str, Any]]:
    """The latest trace-level score ``name`` of ``source`` on each existing trace, by trace
    id (at most :data:`~heron.store.alignment.MAX_LABELS`)."""
    rows = _rows(
        client,
        "SELECT trace_id, l.1, l.2, l.3, l.4 FROM (SELECT assumeNotNull(trace_id) AS trace_id, "
        "argMax((data_type, value, string_value, comment), (timestamp, id)) AS l "
        f"FROM {_SCORES} WHERE name = {{name:String}} AND source = {{source:String}} "
        f"AND observation_id IS NULL AND trace_id IN {_TRACE_IDS} GROUP BY trace_id) "
        f"ORDER BY trace_id LIMIT {MAX_LABELS}",
        {"project": project_id, "name": name, "source": source},
    )
    keys = ("trace_id", "data_type", "value", "string_value", "comment")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def read_notes(
    client: Client, project_id: str, q: NoteQuery, limit: int
) -> list[tuple[str, str, str]]:
    """Up to ``limit`` notes ``(note id, trace id, text)`` on the project's traces matching
    ``q``, oldest first (comments on a trace or its observations, or TEXT scores)."""
    params = Params(project_id)
    conditions = [compile_filters(q.filters, TRACES, params)]
    if q.start is not None:
        conditions.append(f"{_US_START} >= {params.add(to_us(q.start), 'Int64')}")
    if q.end is not None:
        conditions.append(f"{_US_START} < {params.add(to_us(q.end), 'Int64')}")
    traces = f"(SELECT t.id FROM ({_trace_view()}) AS t WHERE {' AND '.join(conditions)})"
    if q.source == "comments":
        sql = (
            f"SELECT n.id, n.trace_id, n.content FROM {LIVE} AS n "
            "WHERE trimBoth(n.content) != '' ORDER BY n.created_at, n.id"
        )
    else:
        named = ""
        if q.score_name is not None:
            named = f" AND n.name = {params.add(q.score_name, 'String')}"
        sql = (
            f"SELECT n.id, n.trace_id, n.string_value FROM {_SCORES} AS n "
            f"WHERE n.data_type = 'TEXT' AND trimBoth(coalesce(n.string_value, '')) != ''{named} "
            "ORDER BY n.timestamp, n.id"
        )
    where, order = sql.split(" ORDER BY ")
    rows = _rows(
        client,
        f"{where} AND n.trace_id IN {traces} ORDER BY {order} LIMIT {int(limit)}",
        params.values,
    )
    return [(i, t, c) for i, t, c in rows]


def fill_traces(
    client: Client,
    project_id: str,
    queued: Sequence[str],
    filters: Sequence[Filter],
    limit: int,
    sample: str = "newest",
    seed: int = 0,
    by: str | None = None,
    score: str | None = None,
) -> tuple[list[str], int]:
    """The traces a fill would add, in the order they would be annotated, and how many
    candidates there are: traces matching ``filters`` not among ``queued`` (the queue's
    traces), sampled as :func:`heron.store.annotation.fill_traces` samples them (the same
    seed picks the same traces on both backends: both shuffle by the MD5 of id and seed)."""
    params = Params(project_id)
    where = compile_filters(filters, TRACES, params)
    out = params.add(list(queued), "Array(String)")
    stratum = f"coalesce(toString({STRATA[by or '']}), '')" if sample == "stratified" else "''"
    shuffle = f"lower(hex(MD5(concat(t.id, {params.add(str(seed), 'String')}))))"
    candidates = (
        f"SELECT t.id AS id, {_US_START} AS start_us, {shuffle} AS h, {stratum} AS stratum "
        f"FROM ({_trace_view()}) AS t WHERE {where} AND NOT has({out}, t.id)"
    )
    source = f"({candidates}) AS c"
    if sample == "lowest_scores":
        named = params.add(score, "String")
        source += (
            " INNER JOIN (SELECT trace_id, avg(value) AS mean FROM scores FINAL "
            f"WHERE project_id = {{project:String}} AND name = {named} AND value IS NOT NULL "
            "GROUP BY trace_id) AS s ON s.trace_id = c.id"
        )
    ((total,),) = _rows(client, f"SELECT count() FROM {source}", params.values)
    if sample == "random":
        sql = f"SELECT c.id FROM {source} ORDER BY c.h, c.id"
    elif sample == "stratified":
        sql = (
            "SELECT id FROM (SELECT c.id AS id, c.h AS h, row_number() OVER (PARTITION BY "
            f"c.stratum ORDER BY c.h, c.id) AS turn FROM {source}) ORDER BY turn, h, id"
        )
    elif sample == "lowest_scores":
        sql = f"SELECT c.id FROM {source} ORDER BY s.mean, c.start_us DESC, c.id"
    else:
        sql = f"SELECT c.id FROM {source} ORDER BY c.start_us DESC, c.id"
    rows = _rows(client, f"{sql} LIMIT {int(limit)}", params.values)
    return [r[0] for r in rows], int(total)


class AnnotationReads:
    """Annotation, alignment and error-analysis reads (a part of ``ClickHouseEvents``)."""

    client: Client

    def observation_trace_id(self, project_id: str, observation_id: str) -> str | None:
        return observation_trace(self.client, project_id, observation_id)

    def scores_by_ids(self, project_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return scores_by_ids(self.client, project_id, ids)

    def queue_scores(
        self, project_id: str, queue_id: str, config_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        return queue_scores(self.client, project_id, queue_id, config_ids)

    def human_labels(self, project_id: str, name: str, source: str) -> list[dict[str, Any]]:
        """The latest trace-level score ``name`` of ``source`` on each trace, by trace id."""
        return human_labels(self.client, project_id, name, source)

    def analysis_notes(
        self, project_id: str, q: NoteQuery, limit: int
    ) -> list[tuple[str, str, str]]:
        """Notes ``(id, trace id, text)`` an error analysis reads (oldest first)."""
        return read_notes(self.client, project_id, q, limit)
