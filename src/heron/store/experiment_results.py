"""What experiment runs produced, read for comparing them (:mod:`heron.experiments`).

An item's result in a run is its run item (``dataset_run_items``; the latest one if a run
has several for one item) and that run item's trace: the trace's latency, cost and tokens,
and every score on the trace, those on its observations included (so the scores of the
observation a run item names count, as do an evaluator's scores on the trace). Several
values of one score name on one item are averaged (a categorical score's labels are listed).
Run-level scores are the scores whose ``dataset_run_id`` is the run's id.

Every query is parameterised and scoped to the project; a run costs two queries (its items
with their trace figures, their scores), whatever its number of items.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson

from heron.errors import NotFound
from heron.store.reads import _maybe_json

# The run's items, one per dataset item, numbered in item id order (``pos``).
_RUN_ITEMS = """
WITH latest AS (
    SELECT dataset_item_id, trace_id, dataset_item_version
    FROM dataset_run_items
    WHERE project_id = ? AND run_id = ?
    QUALIFY row_number() OVER (
        PARTITION BY dataset_item_id ORDER BY updated_at DESC, created_at DESC, id DESC) = 1
), items AS (
    SELECT *, (row_number() OVER (ORDER BY dataset_item_id) - 1)::INTEGER AS pos FROM latest
)
"""
_ITEM_FIGURES = f"""{_RUN_ITEMS}
SELECT i.dataset_item_id, i.trace_id, i.dataset_item_version,
    t.latency_ms::DOUBLE AS latency, t.total_cost::DOUBLE AS cost,
    t.total_tokens::DOUBLE AS tokens
FROM items i LEFT JOIN traces t ON t.project_id = ? AND t.id = i.trace_id
ORDER BY i.pos
"""
_ITEM_SCORES = f"""{_RUN_ITEMS}
SELECT i.pos, s.name, s.data_type, avg(s.value)::DOUBLE AS value,
    string_agg(DISTINCT s.string_value, ', ' ORDER BY s.string_value)
        FILTER (WHERE s.data_type = 'CATEGORICAL') AS label
FROM items i JOIN scores s ON s.project_id = ? AND s.trace_id = i.trace_id
WHERE s.data_type <> 'TEXT'
GROUP BY i.pos, s.name, s.data_type
ORDER BY s.name, s.data_type, i.pos
"""


@dataclass
class ScoreColumn:
    """One score of a run, aligned with the run's items (NaN / None: the item has none)."""

    name: str
    data_type: str  # NUMERIC | BOOLEAN | CATEGORICAL
    values: np.ndarray  # the item's mean value (booleans 0/1); NaN for categorical labels
    labels: list[str | None] | None = None  # categorical: the item's labels, joined


@dataclass
class RunResults:
    """One run's results, one entry per dataset item, in item id order."""

    id: str
    name: str
    created_at: datetime
    item_ids: np.ndarray  # str
    trace_ids: list[str | None]
    versions: list[datetime | None]  # the item version each ran against
    latency: np.ndarray  # ms; NaN: unknown (no trace, or no end)
    cost: np.ndarray  # USD
    tokens: np.ndarray
    scores: dict[tuple[str, str], ScoreColumn] = field(default_factory=dict)


def dataset_id(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> str:
    """The id of the project's dataset ``name`` (404 naming it otherwise)."""
    row = cur.execute(
        "SELECT id FROM datasets WHERE project_id = ? AND name = ? ORDER BY created_at LIMIT 1",
        [project_id, name],
    ).fetchall()
    if not row:
        raise NotFound(f"dataset {name[:200]!r} not found in this project")
    return row[0][0]


def runs_by_name(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset: str, names: Sequence[str]
) -> list[tuple[str, str, datetime]]:
    """(id, name, created_at) of each named run of the dataset ``dataset``, in the order
    given (404 naming the runs the dataset does not have)."""
    ds = dataset_id(cur, project_id, dataset)
    rows = cur.execute(
        "SELECT name, id, created_at FROM dataset_runs "
        "WHERE project_id = ? AND dataset_id = ? AND list_contains(?, name)",
        [project_id, ds, list(names)],
    ).fetchall()
    found = {name: (run_id, name, created) for name, run_id, created in rows}
    missing = [n for n in names if n not in found]
    if missing:
        listed = ", ".join(repr(n[:200]) for n in missing[:5])
        raise NotFound(f"dataset {dataset[:200]!r} has no run {listed}")
    return [found[n] for n in names]


def _floats(column: Any) -> np.ndarray:
    if isinstance(column, np.ma.MaskedArray):
        return np.ma.filled(column.astype(np.float64), np.nan)
    return np.asarray(column, dtype=np.float64)


def run_results(
    cur: duckdb.DuckDBPyConnection, project_id: str, run: tuple[str, str, datetime]
) -> RunResults:
    """Every item of ``run`` (from :func:`runs_by_name`) with its figures and scores, in
    item id order."""
    run_id = run[0]
    figures = cur.execute(_ITEM_FIGURES, [project_id, run_id, project_id]).fetchnumpy()
    raw = cur.execute(_ITEM_SCORES, [project_id, run_id, project_id]).fetchnumpy()
    return assemble(run, figures, raw)


def assemble(
    run: tuple[str, str, datetime], figures: dict[str, Any], raw: dict[str, Any]
) -> RunResults:
    """A run's results from its items' columns (``figures``: ``dataset_item_id``,
    ``trace_id``, ``dataset_item_version``, ``latency``, ``cost``, ``tokens``, one entry per
    item) and its score rows (``raw``: ``pos`` (the item's index in ``figures``), ``name``,
    ``data_type``, ``value``, ``label``, ordered by name, data type, then pos); columns are
    arrays or lists, None or masked entries for missing values."""
    run_id, name, created = run
    item_ids = np.asarray(figures["dataset_item_id"], dtype=object).astype(str)
    # in numpy's order (the pairing searches it), whatever the database's collation
    order = np.argsort(item_ids, kind="stable")
    moved_to = np.empty_like(order)
    moved_to[order] = np.arange(len(order))
    traces = _objects(figures["trace_id"])
    versions = _times(figures["dataset_item_version"])
    results = RunResults(
        run_id,
        name,
        created,
        item_ids[order],
        [None if traces[i] is None else str(traces[i]) for i in order],
        [versions[i] for i in order],
        _floats(figures["latency"])[order],
        _floats(figures["cost"])[order],
        _floats(figures["tokens"])[order],
    )
    pos = moved_to[np.asarray(raw["pos"], dtype=np.int64)]
    names = np.asarray(raw["name"], dtype=object)
    types = np.asarray(raw["data_type"], dtype=object)
    values, labels = _floats(raw["value"]), _objects(raw["label"])
    # rows come grouped by (name, data type): a group starts where either changes
    starts = np.flatnonzero((names[1:] != names[:-1]) | (types[1:] != types[:-1])) + 1
    bounds = [0, *starts.tolist(), len(pos)] if len(pos) else []
    for start, end in itertools.pairwise(bounds):
        key = (str(names[start]), str(types[start]))
        column = ScoreColumn(*key, np.full(len(item_ids), np.nan))
        if key[1] == "CATEGORICAL":
            column.labels = [None] * len(item_ids)
            for p, label in zip(pos[start:end], labels[start:end], strict=True):
                column.labels[p] = label
        else:
            column.values[pos[start:end]] = values[start:end]
        results.scores[key] = column
    return results


def _times(column: Any) -> list[datetime | None]:
    if isinstance(column, np.ma.MaskedArray):
        column = np.ma.filled(column.astype("datetime64[us]"), np.datetime64("NaT"))
    return np.asarray(column).astype("datetime64[us]").tolist()


def _objects(column: Any) -> list[Any]:
    if isinstance(column, np.ma.MaskedArray):
        return [None if m else v for v, m in zip(column.data, column.mask, strict=True)]
    return list(column)


def run_scores(
    cur: duckdb.DuckDBPyConnection, project_id: str, run_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Run-level scores (``scores.dataset_run_id``) of each run, by run id."""
    rows = cur.execute(
        "SELECT dataset_run_id, name, data_type, value, string_value, comment, timestamp "
        "FROM scores WHERE project_id = ? AND list_contains(?, dataset_run_id) "
        "ORDER BY name, timestamp",
        [project_id, list(run_ids)],
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in run_ids}
    for run_id, name, data_type, value, string_value, comment, when in rows:
        out[run_id].append(
            {"name": name, "data_type": data_type, "value": value,
             "string_value": string_value, "comment": comment, "timestamp": when}
        )  # fmt: skip
    return out


def item_details(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dataset: str,
    run_ids: Sequence[str],
    item_ids: Sequence[str],
) -> dict[str, Any]:
    """Inputs, expected outputs and each run's output of some items (one page of them):
    ``{"items": {item_id: [version rows]}, "outputs": {(run_id, item_id): {...}}}``.

    A run item's output is the one its client reported, else its trace's output."""
    ds = dataset_id(cur, project_id, dataset)
    versions = cur.execute(
        "SELECT id, valid_from, valid_to, status, input, expected_output, metadata "
        "FROM dataset_items WHERE project_id = ? AND dataset_id = ? AND list_contains(?, id) "
        "ORDER BY valid_from",
        [project_id, ds, list(item_ids)],
    ).fetchall()
    items: dict[str, list[dict[str, Any]]] = {}
    for item_id, valid_from, valid_to, status, inp, expected, metadata in versions:
        items.setdefault(item_id, []).append(
            {"valid_from": valid_from, "valid_to": valid_to, "status": status,
             "input": _json(inp), "expected_output": _json(expected),
             "metadata": _json(metadata)}
        )  # fmt: skip
    rows = cur.execute(
        "SELECT ri.run_id, ri.dataset_item_id, ri.observation_id, ri.output, t.output "
        "FROM dataset_run_items ri "
        "LEFT JOIN traces t ON t.project_id = ri.project_id AND t.id = ri.trace_id "
        "WHERE ri.project_id = ? AND list_contains(?, ri.run_id) "
        "AND list_contains(?, ri.dataset_item_id) "
        "QUALIFY row_number() OVER (PARTITION BY ri.run_id, ri.dataset_item_id "
        "ORDER BY ri.updated_at DESC, ri.created_at DESC, ri.id DESC) = 1",
        [project_id, list(run_ids), list(item_ids)],
    ).fetchall()
    outputs = {
        (run_id, item_id): {
            "observation_id": observation,
            "output": _json(own) if own is not None else _maybe_json(traced),
        }
        for run_id, item_id, observation, own, traced in rows
    }
    return {"items": items, "outputs": outputs}


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)
