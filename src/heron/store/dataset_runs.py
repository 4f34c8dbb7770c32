"""Dataset runs and their run items (Langfuse's "dataset runs"); the tables are
:mod:`heron.store.schema_datasets`.

Functions taking a cursor, every query parameterised and scoped to one project, writes
meant to run in one transaction under the store's admin lock. :func:`ensure_run` gets or
creates a run by (dataset, name); :func:`put_run_item` records which trace ran an item in a
run and against which version of the item (one run item per (run, item), replaced when
sent again). Both are what experiments write too.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import duckdb
import orjson

from heron.datasets.spec import RunItemSpec
from heron.errors import BadRequest, NotFound
from heron.store.datasets import from_json, item_dataset, now, to_json
from heron.store.reads import iso

_RUN_COLUMNS = (
    "r.id, r.name, r.description, r.metadata, r.dataset_id, d.name, r.created_at, "
    "r.updated_at, r.experiment_id"
)
_RUN_FROM = (
    "FROM dataset_runs r JOIN datasets d ON d.project_id = r.project_id AND d.id = r.dataset_id"
)
_RUN_ITEM_COLUMNS = (
    "x.id, x.run_id, r.name, x.dataset_item_id, x.trace_id, x.observation_id, x.created_at, "
    "x.updated_at, x.dataset_item_version, x.output"
)
_RUN_ITEM_FROM = (
    "FROM dataset_run_items x JOIN dataset_runs r ON r.project_id = x.project_id "
    "AND r.id = x.run_id"
)

# -- runs -------------------------------------------------------------------------------------


def experiment_run_id(project_id: str, dataset_id: str, run_name: str) -> str:
    """A dataset run's id, as the Langfuse SDK v5 derives an experiment's (so the id its spans
    and run-level scores carry is the run's): the first 16 hex digits of the SHA-256 of the
    JSON array ``["langfuse-experiment-v1", project, dataset, run name]``."""
    payload = orjson.dumps(["langfuse-experiment-v1", project_id, dataset_id, run_name])
    return hashlib.sha256(payload).hexdigest()[:16]


def _run(row: tuple[Any, ...]) -> dict[str, Any]:
    rid, name, description, metadata, did, dname, created, updated, experiment = row
    return {
        "id": rid,
        "name": name,
        "description": description,
        "metadata": from_json(metadata),
        "datasetId": did,
        "datasetName": dname,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "experimentId": experiment,  # heron: the SDK's experiment id (v5), else the run's id
    }


def _run_row(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset_id: str, name: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.project_id = ? AND r.dataset_id = ? "
        "AND r.name = ?",
        [project_id, dataset_id, name],
    ).fetchall()
    return _run(rows[0]) if rows else None


def ensure_run(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dataset_id: str,
    name: str,
    description: str | None = None,
    metadata: Any = None,
    experiment_id: str | None = None,
) -> dict[str, Any]:
    """The run ``name`` of the dataset, created when missing (its ``experiment_id`` then
    ``experiment_id``, or its own id); ``description`` and ``metadata``, when given, replace
    the run's (Langfuse: "if the run exists, its description is updated"). A new run's id is
    :func:`experiment_run_id`, the id the Langfuse SDK v5 gives the same experiment."""
    found = _run_row(cur, project_id, dataset_id, name)
    at = now()
    if found is None:
        run_id = experiment_run_id(project_id, dataset_id, name)
        cur.execute(
            "INSERT INTO dataset_runs (project_id, id, dataset_id, name, description, metadata, "
            "experiment_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [project_id, run_id, dataset_id, name, description, to_json(metadata),
             experiment_id or run_id, at, at],
        )  # fmt: skip
    elif description is not None or metadata is not None:
        cur.execute(
            "UPDATE dataset_runs SET description = coalesce(?, description), "
            "metadata = coalesce(?, metadata), updated_at = ? WHERE project_id = ? AND id = ?",
            [description, to_json(metadata), at, project_id, found["id"]],
        )
    else:
        return found
    made = _run_row(cur, project_id, dataset_id, name)
    assert made is not None
    return made


def run_by_id(
    cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.project_id = ? AND r.id = ?",
        [project_id, run_id],
    ).fetchall()
    return _run(rows[0]) if rows else None


def get_run(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset_id: str, name: str
) -> dict[str, Any] | None:
    """The run with all its run items (``datasetRunItems``, oldest first), or None."""
    run = _run_row(cur, project_id, dataset_id, name)
    if run is not None:
        rows = cur.execute(
            f"SELECT {_RUN_ITEM_COLUMNS} {_RUN_ITEM_FROM} WHERE x.project_id = ? AND x.run_id = ? "
            "ORDER BY x.created_at, x.id",
            [project_id, run["id"]],
        ).fetchall()
        run["datasetRunItems"] = [_run_item(r) for r in rows]
    return run


def list_runs(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset_id: str, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the dataset's runs, newest first, each with ``runItemCount`` (heron), and
    how many runs there are."""
    (total,) = cur.execute(
        "SELECT count(*) FROM dataset_runs WHERE project_id = ? AND dataset_id = ?",
        [project_id, dataset_id],
    ).fetchall()[0]
    rows = cur.execute(
        f"SELECT {_RUN_COLUMNS}, (SELECT count(*) FROM dataset_run_items x WHERE "
        "x.project_id = r.project_id AND x.run_id = r.id) "
        f"{_RUN_FROM} WHERE r.project_id = ? AND r.dataset_id = ? "
        "ORDER BY r.created_at DESC, r.id LIMIT ? OFFSET ?",
        [project_id, dataset_id, limit, (page - 1) * limit],
    ).fetchall()
    return [{**_run(r[:-1]), "runItemCount": int(r[-1])} for r in rows], int(total)


def delete_run(cur: duckdb.DuckDBPyConnection, project_id: str, dataset_id: str, name: str) -> bool:
    """Delete the run and its run items (the traces and their scores stay)."""
    run = _run_row(cur, project_id, dataset_id, name)
    if run is None:
        return False
    cur.execute(
        "DELETE FROM dataset_run_items WHERE project_id = ? AND run_id = ?", [project_id, run["id"]]
    )
    cur.execute("DELETE FROM dataset_runs WHERE project_id = ? AND id = ?", [project_id, run["id"]])
    return True


# -- run items --------------------------------------------------------------------------------


def _run_item(row: tuple[Any, ...]) -> dict[str, Any]:
    xid, rid, rname, item, trace, obs, created, updated, version, output = row
    return {
        "id": xid,
        "datasetRunId": rid,
        "datasetRunName": rname,
        "datasetItemId": item,
        "traceId": trace,
        "observationId": obs,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "datasetItemVersion": iso(version),  # heron: the item version it ran against
        "output": from_json(output),  # heron: the output a client reported beside the trace
    }


def item_version(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dataset_id: str,
    item_id: str,
    at: datetime | None = None,
) -> datetime:
    """The version of the dataset's item that is current (or was, at ``at``): its row's
    ``valid_from``. A 404 when the dataset has no such item; a 400 when it had no version
    at ``at``."""
    base = "SELECT valid_from FROM dataset_items WHERE id = ? AND project_id = ? AND dataset_id = ?"
    if at is None:
        rows = cur.execute(f"{base} AND valid_to IS NULL", [item_id, project_id, dataset_id])
    else:
        rows = cur.execute(
            f"{base} AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
            [item_id, project_id, dataset_id, at, at],
        )
    found = rows.fetchall()
    if found:
        return found[0][0]
    if at is None:
        raise NotFound(f"dataset item {item_id[:100]!r} not found in this dataset")
    raise BadRequest(f"datasetVersion: item {item_id[:100]!r} had no version at {iso(at)}")


def put_run_item(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    run: dict[str, Any],
    item_id: str,
    trace_id: str | None,
    observation_id: str | None = None,
    version: datetime | None = None,
    output: Any = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Record that ``trace_id`` (and ``observation_id``) ran item ``item_id`` in ``run`` (as
    :func:`ensure_run` returns it): one run item per (run, item), replaced when sent again.
    It records the item's version current now or, with ``version`` (a time, e.g. the
    ``datasetVersion`` an experiment read its items at, or an item's exact version), the
    version valid then. ``output`` is optional (heron); ``created_at`` defaults to now."""
    stamp = item_version(cur, project_id, run["datasetId"], item_id, version)
    at = now()
    updated = cur.execute(
        "UPDATE dataset_run_items SET trace_id = ?, observation_id = ?, "
        "dataset_item_version = ?, output = ?, updated_at = ?, "
        "created_at = coalesce(?, created_at) WHERE project_id = ? AND run_id = ? "
        "AND dataset_item_id = ? RETURNING id",
        [trace_id, observation_id, stamp, to_json(output), at, created_at, project_id, run["id"],
         item_id],
    ).fetchall()  # fmt: skip
    run_item_id = updated[0][0] if updated else str(uuid.uuid4())
    if not updated:
        cur.execute(
            "INSERT INTO dataset_run_items (project_id, id, run_id, dataset_item_id, "
            "dataset_item_version, trace_id, observation_id, output, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [project_id, run_item_id, run["id"], item_id, stamp, trace_id, observation_id,
             to_json(output), created_at or at, at],
        )  # fmt: skip
    rows = cur.execute(
        f"SELECT {_RUN_ITEM_COLUMNS} {_RUN_ITEM_FROM} WHERE x.project_id = ? AND x.id = ?",
        [project_id, run_item_id],
    ).fetchall()
    return _run_item(rows[0])


def list_run_items(
    cur: duckdb.DuckDBPyConnection, project_id: str, run_id: str, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of a run's items, newest first, and how many there are."""
    (total,) = cur.execute(
        "SELECT count(*) FROM dataset_run_items WHERE project_id = ? AND run_id = ?",
        [project_id, run_id],
    ).fetchall()[0]
    rows = cur.execute(
        f"SELECT {_RUN_ITEM_COLUMNS} {_RUN_ITEM_FROM} WHERE x.project_id = ? AND x.run_id = ? "
        "ORDER BY x.created_at DESC, x.id LIMIT ? OFFSET ?",
        [project_id, run_id, limit, (page - 1) * limit],
    ).fetchall()
    return [_run_item(r) for r in rows], int(total)


def record_run_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, spec: RunItemSpec, trace_id: str | None
) -> dict[str, Any]:
    """``POST /api/public/dataset-run-items``: the run ``spec.run_name`` of the item's dataset
    (created when missing, its description and metadata replaced when given), and the run
    item of ``trace_id`` in it. An item deleted since may still be recorded at a
    ``datasetVersion`` when it existed."""
    dataset = item_dataset(
        cur, project_id, spec.dataset_item_id, current=spec.dataset_version is None
    )
    run = ensure_run(
        cur, project_id, dataset["id"], spec.run_name, spec.run_description, spec.metadata
    )
    return put_run_item(
        cur, project_id, run, spec.dataset_item_id, trace_id, spec.observation_id,
        spec.dataset_version, spec.output, spec.created_at,
    )  # fmt: skip


def expected_outputs(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_ids: list[str]
) -> dict[str, Any]:
    """``{trace_id: expected output}`` for the traces that are run items: the expected
    output of the item's version the run item recorded (the latest run item of a trace
    wins). Traces that ran no item are left out."""
    if not trace_ids:
        return {}
    rows = cur.execute(
        "SELECT trace_id, expected_output FROM (SELECT x.trace_id, i.expected_output, "
        "row_number() OVER (PARTITION BY x.trace_id ORDER BY x.updated_at DESC, x.id DESC) "
        "AS latest FROM dataset_run_items x "
        "JOIN dataset_items i ON i.project_id = x.project_id AND i.id = x.dataset_item_id "
        "AND i.valid_from = x.dataset_item_version "
        "WHERE x.project_id = ? AND x.trace_id IN (SELECT unnest(?::VARCHAR[]))) x "
        "WHERE latest = 1",
        [project_id, trace_ids],
    ).fetchall()
    return {trace: from_json(expected) for trace, expected in rows}
