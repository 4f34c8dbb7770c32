"""Experiments and their items in the shape of Langfuse's ``/api/public/experiments`` and
``/api/public/experiment-items`` (what the Langfuse SDK v4 and v5 read).

An experiment is a run (``dataset_runs``: made by ``POST /api/public/dataset-run-items`` or
from experiment spans, :mod:`heron.store.experiments`), an experiment item one of its run
items. An item's time is its trace's: ``fromStartTime`` / ``toStartTime`` select items by
their trace's start, and an experiment shows the items in that window (its ``startTime`` the
earliest, ``endTime`` the latest end, ``itemCount`` how many). An item's ``level`` is its
root observation's (the task span: ERROR when the task failed), else its trace's.

Functions taking a read cursor; every query is parameterised and scoped to one project.
Pages are keyset pages: experiments by latest activity (``endTime``) descending, items by
start descending, each with its id as the tie-break.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import duckdb
import orjson

from heron.query import Filter, View, compile_filters
from heron.query.filters import Column
from heron.store.experiments import NO_DATASET, PREFIX, attribute_object
from heron.store.reads import iso
from heron.store.scores import scores_by

# (column, ids, per target) -> {id: newest scores}, as heron.store.scores.scores_by
ScoresBy = Callable[[str, list[str], int], dict[str, list[dict[str, Any]]]]

EXPERIMENT_FIELDS = ("core", "metadata", "scores")
ITEM_FIELDS = ("core", "dataset", "io", "metadata", "itemMetadata", "experimentMetadata", "scores")

_DATASET = "nullif(r.dataset_id, '')"
EXPERIMENTS = View(
    "experiments",
    "r",
    {
        "id": Column("id", "r.id", "string"),
        "name": Column("name", "r.name", "string"),
        "dataset_id": Column("dataset_id", _DATASET, "string"),
    },
)
EXPERIMENT_ITEMS = View(
    "experiment_items",
    "ri",
    {
        "experiment_id": Column("experiment_id", "r.id", "string"),
        "experiment_name": Column("experiment_name", "r.name", "string"),
        "experiment_item_id": Column("experiment_item_id", "ri.dataset_item_id", "string"),
        "dataset_id": Column("dataset_id", _DATASET, "string"),
    },
)


@dataclass(slots=True)
class ExperimentQuery:
    """One page of ``/api/public/experiments`` or ``/experiment-items`` (checked values)."""

    from_start: datetime  # items whose trace started at or after it
    to_start: datetime | None = None  # ... and before it
    filters: list[Filter] = field(default_factory=list)  # on EXPERIMENTS / EXPERIMENT_ITEMS
    after: tuple[datetime, str] | None = None  # rows after this (time, id) in list order
    limit: int = 50
    fields: frozenset[str] = frozenset({"core"})
    score_limit: int = 50


def _window(q: ExperimentQuery) -> tuple[str, list[Any]]:
    sql, args = "t.start_time >= ?", [q.from_start]
    if q.to_start is not None:
        sql += " AND t.start_time < ?"
        args.append(q.to_start)
    return sql, args


def list_experiments(
    cur: duckdb.DuckDBPyConnection, project_id: str, q: ExperimentQuery
) -> list[dict[str, Any]]:
    """Up to ``q.limit + 1`` experiments with items in the window (the extra one says that a
    next page exists); each with ``_after``, its position for the next page's cursor."""
    where, args = compile_filters(q.filters, EXPERIMENTS)
    window, window_args = _window(q)
    after, after_args = "", []
    if q.after is not None:
        after = "AND (a.end_time < ? OR (a.end_time = ? AND r.id < ?))"
        after_args = [q.after[0], q.after[0], q.after[1]]
    rows = cur.execute(
        "WITH r AS (SELECT * FROM dataset_runs r WHERE r.project_id = ? AND " + where + "), "
        "a AS (SELECT ri.run_id, min(t.start_time) AS start_time, "
        "max(coalesce(t.end_time, t.start_time)) AS end_time, count(*) AS item_count "
        "FROM dataset_run_items ri JOIN r ON r.id = ri.run_id "
        "JOIN traces t ON t.project_id = ri.project_id AND t.id = ri.trace_id "
        f"WHERE ri.project_id = ? AND {window} GROUP BY ri.run_id) "
        "SELECT r.id, r.name, r.description, nullif(r.dataset_id, ''), r.metadata, "
        "r.experiment_id, a.start_time, a.end_time, a.item_count "
        f"FROM a JOIN r ON r.id = a.run_id WHERE TRUE {after} "
        "ORDER BY a.end_time DESC, r.id DESC LIMIT ?",
        [project_id, *args, project_id, *window_args, *after_args, q.limit + 1],
    ).fetchall()
    return experiments_of(rows, q, partial(scores_by, cur, project_id))


def experiments_of(
    rows: Sequence[tuple[Any, ...]], q: ExperimentQuery, scores: ScoresBy
) -> list[dict[str, Any]]:
    """The page's experiments from their rows ``(id, name, description, dataset id or None,
    metadata text, experiment id, start, end, item count)``; ``scores(column, ids,
    per_target)`` reads scores as :func:`heron.store.scores.scores_by` does."""
    out = []
    for run_id, name, description, dataset_id, metadata, exp_id, start, end, count in rows:
        item: dict[str, Any] = {
            "id": run_id,
            "name": name,
            "description": description,
            "startTime": iso(start),
            "endTime": iso(end),
            "itemCount": count,
            "datasetId": dataset_id,
            "_after": (end, run_id),
            "_ids": sorted({run_id, exp_id or run_id}),
        }
        if "metadata" in q.fields:
            item["metadata"] = _object(metadata)
        out.append(item)
    if "scores" in q.fields and out:
        ids = sorted({i for item in out for i in item["_ids"]})
        found = scores("dataset_run_id", ids, q.score_limit)
        for item in out:
            scores_ = [s for i in item["_ids"] for s in found.get(i, [])]
            scores_.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)
            item["scores"] = scores_[: q.score_limit]
    for item in out:
        del item["_ids"]
    return out


def list_experiment_items(
    cur: duckdb.DuckDBPyConnection, project_id: str, q: ExperimentQuery
) -> list[dict[str, Any]]:
    """Up to ``q.limit + 1`` experiment items started in the window, newest first; each with
    ``_after`` (see :func:`list_experiments`)."""
    where, args = compile_filters(q.filters, EXPERIMENT_ITEMS)
    window, window_args = _window(q)
    after, after_args = "", []
    if q.after is not None:
        after = "AND (t.start_time < ? OR (t.start_time = ? AND ri.id < ?))"
        after_args = [q.after[0], q.after[0], q.after[1]]
    rows = cur.execute(
        "SELECT ri.id, ri.trace_id, ri.observation_id, ri.dataset_item_id, "
        "ri.dataset_item_version, r.id, r.name, nullif(r.dataset_id, ''), r.description, "
        "r.metadata, t.start_time, t.end_time, t.level, t.environment, t.input, t.output, "
        "t.metadata FROM dataset_run_items ri "
        "JOIN dataset_runs r ON r.project_id = ri.project_id AND r.id = ri.run_id "
        "JOIN traces t ON t.project_id = ri.project_id AND t.id = ri.trace_id "
        f"WHERE ri.project_id = ? AND {window} AND {where} {after} "
        "ORDER BY t.start_time DESC, ri.id DESC LIMIT ?",
        [project_id, *window_args, *args, *after_args, q.limit + 1],
    ).fetchall()
    roots = _root_observations(cur, project_id, rows)
    dataset_items = _dataset_items(cur, project_id, rows)
    return experiment_items_of(rows, roots, dataset_items, q, partial(scores_by, cur, project_id))


def experiment_items_of(
    rows: Sequence[tuple[Any, ...]],
    roots: dict[tuple[str, str], dict[str, Any]],
    dataset_items: dict[tuple[str, datetime | None], tuple[Any, Any]],
    q: ExperimentQuery,
    scores: ScoresBy,
) -> list[dict[str, Any]]:
    """The page's experiment items from their rows (the columns
    :func:`list_experiment_items` selects), their root observations by (trace, id), their
    dataset items' (expected output, metadata) texts by (id, version) and (id, None) for the
    current one; ``scores`` as in :func:`experiments_of`."""
    out = []
    for row in rows:
        (item_id, trace_id, obs_id, ds_item_id, version, run_id, run_name, dataset_id,
         description, run_metadata, start, end, level, environment, t_in, t_out,
         t_meta) = row  # fmt: skip
        root = roots.get((trace_id, obs_id))
        meta = _object(root["metadata"] if root else t_meta) or {}
        ds_item = dataset_items.get((ds_item_id, version)) or dataset_items.get((ds_item_id, None))
        item: dict[str, Any] = {
            "id": item_id,
            "traceId": trace_id,
            "startTime": iso(start),
            "endTime": iso(end),
            "level": (root["level"] if root else level) or "DEFAULT",
            "environment": environment or "default",
            "experimentId": run_id,
            "experimentName": run_name,
            "experimentItemId": ds_item_id,
            "_after": (start, item_id),
        }
        if "dataset" in q.fields:
            item["experimentDatasetId"] = dataset_id
            item["experimentItemVersion"] = iso(version)
        if "io" in q.fields:
            item["input"] = _payload(root["input"] if root else t_in)
            item["output"] = _payload(root["output"] if root else t_out)
            expected = meta.get(PREFIX + "item.expected_output")
            item["expectedOutput"] = _json(ds_item[0]) if ds_item else _payload(expected)
        if "metadata" in q.fields:
            item["metadata"] = {k: v for k, v in meta.items() if not k.startswith(PREFIX)}
        if "itemMetadata" in q.fields:
            item["experimentItemMetadata"] = (
                _object(ds_item[1]) if ds_item else attribute_object(meta, PREFIX + "item.metadata")
            )
        if "experimentMetadata" in q.fields:
            item["experimentMetadata"] = _object(run_metadata)
            item["experimentDescription"] = description
        out.append(item)
    if "scores" in q.fields and out:
        found = scores("trace_id", [i["traceId"] for i in out], q.score_limit)
        for item in out:
            item["scores"] = found.get(item["traceId"], [])
    return out


def _root_observations(
    cur: duckdb.DuckDBPyConnection, project_id: str, rows: Sequence[tuple[Any, ...]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The page's root observations by (trace, id), read by the trace_id index."""
    wanted = {(r[1], r[2]) for r in rows if r[2] is not None}
    if not wanted:
        return {}
    traces = sorted({t for t, _ in wanted})
    found = cur.execute(
        "SELECT trace_id, id, level, input, output, metadata FROM observations "
        f"WHERE trace_id IN ({', '.join('?' * len(traces))}) AND project_id = ?",
        [*traces, project_id],
    ).fetchall()
    return {
        (t, o): {"level": lvl, "input": i, "output": out, "metadata": m}
        for t, o, lvl, i, out, m in found
        if (t, o) in wanted
    }


def _dataset_items(
    cur: duckdb.DuckDBPyConnection, project_id: str, rows: Sequence[tuple[Any, ...]]
) -> dict[tuple[str, datetime | None], tuple[Any, Any]]:
    """(expected output, metadata) of the page's dataset items, by (id, version) and, for
    the current row, (id, None)."""
    ids = sorted({r[3] for r in rows if r[7] not in (None, NO_DATASET)})
    if not ids:
        return {}
    found = cur.execute(
        "SELECT id, valid_from, valid_to, expected_output, metadata FROM dataset_items "
        "WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, ids],
    ).fetchall()
    out: dict[tuple[str, datetime | None], tuple[Any, Any]] = {}
    for item_id, valid_from, valid_to, expected, metadata in found:
        out[(item_id, valid_from)] = (expected, metadata)
        if valid_to is None:
            out[(item_id, None)] = (expected, metadata)
    return out


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _object(text: str | None) -> dict[str, Any] | None:
    value = _json(text)
    return value if isinstance(value, dict) or value is None else {"value": value}


def _payload(value: Any) -> Any:
    """Stored input/output text (or an attribute's JSON text) as the JSON it holds, else as
    the text itself."""
    if not isinstance(value, str) or not value:
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
