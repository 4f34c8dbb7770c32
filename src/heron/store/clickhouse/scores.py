"""Score writes on ClickHouse: an upsert by ``(project_id, id)``, as
:func:`heron.store.scorewrites.upsert_scores` does in DuckDB.

A score written again is a new row with a higher ``row_version`` (the ReplacingMergeTree
keeps it; reads say ``FINAL``) that keeps when the score was first stored (``created_at``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.errors import Conflict
from heron.scores import ScoreRecord
from heron.store.arrow import TS
from heron.store.clickhouse.retention import Days, tagged
from heron.store.clickhouse.writes import above
from heron.store.scorewrites import _naive


def upsert_scores(
    client: Client,
    scores: Sequence[ScoreRecord],
    version: int,
    *,
    replace: bool = True,
    days: Days | None = None,
) -> None:
    """Store scores; an id stored in its project is replaced (``created_at`` kept), or with
    ``replace=False`` makes the whole call a 409 naming it (nothing written). ``days`` tags
    the rows with their project's retention (:mod:`heron.store.clickhouse.retention`)."""
    unique = list({(s.project_id, s.id): s for s in scores}.values())
    if not unique:
        return
    created: dict[tuple[str, str], int] = {}
    versions: dict[tuple[str, str], int] = {}
    for project_id in sorted({s.project_id for s in unique}):
        ids = [s.id for s in unique if s.project_id == project_id]
        stored = client.query(
            "SELECT id, toUnixTimestamp64Micro(created_at), row_version FROM scores FINAL "
            "WHERE project_id = {project:String} AND id IN {ids:Array(String)}",
            parameters={"project": project_id, "ids": ids},
        ).result_rows
        if stored and not replace:
            raise Conflict(
                f"score {stored[0][0]!r} already exists; this credential may only "
                "create scores, not replace them (send no id, or a new one)"
            )
        created.update({(project_id, i): c for i, c, _ in stored})
        versions.update({(project_id, i): v for i, _, v in stored})
    now_us = time.time_ns() // 1000
    string = pa.string()
    table = pa.table(
        {
            "project_id": pa.array([s.project_id for s in unique], string),
            "id": pa.array([s.id for s in unique], string),
            "trace_id": pa.array([s.trace_id for s in unique], string),
            "observation_id": pa.array([s.observation_id for s in unique], string),
            "session_id": pa.array([s.session_id for s in unique], string),
            "name": pa.array([s.name for s in unique], string),
            "value": pa.array([s.value for s in unique], pa.float64()),
            "string_value": pa.array([s.string_value for s in unique], string),
            "data_type": pa.array([s.data_type for s in unique], string),
            "source": pa.array([s.source for s in unique], string),
            "comment": pa.array([s.comment for s in unique], string),
            "author": pa.array([s.author for s in unique], string),
            "timestamp": pa.array([_naive(s.timestamp) for s in unique], TS),
            "metadata": pa.array(
                [None if s.metadata is None else orjson.dumps(s.metadata).decode() for s in unique],
                string,
            ),
            "environment": pa.array([s.environment for s in unique], string),
            "config_id": pa.array([s.config_id for s in unique], string),
            "queue_id": pa.array([s.queue_id for s in unique], string),
            "dataset_run_id": pa.array([s.dataset_run_id for s in unique], string),
            "created_at": pa.array([created.get((s.project_id, s.id), now_us) for s in unique], TS),
            "updated_at": pa.array([now_us] * len(unique), TS),
            "row_version": pa.array(
                [above(version, versions.get((s.project_id, s.id))) for s in unique], pa.uint64()
            ),
        }
    )
    client.insert_arrow("scores", tagged(table, days))
