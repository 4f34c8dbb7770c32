"""Datasets and their versioned items (control data, Langfuse's shape); the tables are
:mod:`heron.store.schema_datasets` (runs and run items: :mod:`heron.store.dataset_runs`).

Functions taking a cursor, every query parameterised and scoped to one project; writes are
meant to run in one transaction under the store's admin lock (``EmbeddedStore._admin``),
which is what keeps dataset names unique per project and item versions in order.

Versions: writing an item (create, upsert by id, archive) closes its current row
(``valid_to``) and adds a row valid from the write's time; deleting only closes it. An
item's ``version`` is its row's ``valid_from``; writes of one item get strictly increasing
versions (a write in the same microsecond as the last is moved one microsecond on). Items
"as of" a time ``t`` are the rows with ``valid_from <= t < valid_to``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

from heron.datasets.from_traces import Selection, item_from_observation, item_from_trace
from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.datasets.validation import check_items, check_schema
from heron.errors import Conflict, NotFound
from heron.query import TRACES, compile_filters
from heron.store.reads import _maybe_json, iso

_DATASET_COLUMNS = (
    "id, name, description, metadata, input_schema, expected_output_schema, created_at, updated_at"
)
_ITEM_COLUMNS = (
    "i.id, i.status, i.input, i.expected_output, i.metadata, i.source_trace_id, "
    "i.source_observation_id, i.dataset_id, d.name, i.created_at, i.valid_from"
)
_ITEM_FROM = (
    "FROM dataset_items i JOIN datasets d ON d.project_id = i.project_id AND d.id = i.dataset_id"
)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """What a list of items is narrowed to (every field optional, all must hold); ``version``
    reads the items as of that time (naive UTC) instead of the current ones."""

    dataset_id: str | None = None
    source_trace_id: str | None = None
    source_observation_id: str | None = None
    status: str | None = None
    version: datetime | None = None


_VERSIONED = ("input", "expected_output", "metadata", "source_trace_id", "source_observation_id")


def now() -> datetime:
    """The time writes are stamped with: naive UTC, as every timestamp column."""
    return datetime.now(UTC).replace(tzinfo=None)


def from_json(text: str | None) -> Any:
    """A JSON column's text as its value."""
    return None if text is None else orjson.loads(text)


def to_json(value: Any) -> str | None:
    """A value as JSON text for a JSON column (``None`` stays NULL)."""
    return None if value is None else orjson.dumps(value).decode()


# -- datasets ---------------------------------------------------------------------------------


def _dataset(row: tuple[Any, ...], project_id: str) -> dict[str, Any]:
    did, name, description, metadata, input_schema, output_schema, created, updated = row
    return {
        "id": did,
        "name": name,
        "description": description,
        "metadata": from_json(metadata),
        "inputSchema": from_json(input_schema),
        "expectedOutputSchema": from_json(output_schema),
        "projectId": project_id,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
    }


def get_dataset(
    cur: duckdb.DuckDBPyConnection, project_id: str, name: str
) -> dict[str, Any] | None:
    """The project's dataset of this name, or None."""
    rows = cur.execute(
        f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE project_id = ? AND name = ?",
        [project_id, name],
    ).fetchall()
    return _dataset(rows[0], project_id) if rows else None


def dataset_by_id(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset_id: str
) -> dict[str, Any] | None:
    rows = cur.execute(
        f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE project_id = ? AND id = ?",
        [project_id, dataset_id],
    ).fetchall()
    return _dataset(rows[0], project_id) if rows else None


def require_dataset(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> dict[str, Any]:
    """The dataset of this name; a 404 naming it when the project has none."""
    found = get_dataset(cur, project_id, name)
    if found is None:
        raise NotFound(f"dataset {name[:100]!r} not found in this project")
    return found


def list_datasets(
    cur: duckdb.DuckDBPyConnection, project_id: str, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's datasets, newest first, and how many there are."""
    (total,) = cur.execute(
        "SELECT count(*) FROM datasets WHERE project_id = ?", [project_id]
    ).fetchall()[0]
    rows = cur.execute(
        f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE project_id = ? "
        "ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        [project_id, limit, (page - 1) * limit],
    ).fetchall()
    return [_dataset(r, project_id) for r in rows], int(total)


def put_dataset(
    cur: duckdb.DuckDBPyConnection, project_id: str, spec: DatasetSpec
) -> dict[str, Any]:
    """Create the dataset ``spec.name``, or change the fields ``spec`` gives of the existing
    one (as Langfuse's create does). Schemas are checked (400 with each problem's path); a
    changed schema must accept every current item of the dataset (400 naming the first
    that it rejects). ``{}`` as a schema removes it."""
    check_schema(spec.input_schema, "inputSchema")
    check_schema(spec.expected_output_schema, "expectedOutputSchema")
    at = now()
    existing = get_dataset(cur, project_id, spec.name)
    if existing is None:
        cur.execute(
            f"INSERT INTO datasets (project_id, {_DATASET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            [project_id, str(uuid.uuid4()), spec.name, spec.description, to_json(spec.metadata),
             to_json(spec.input_schema or None), to_json(spec.expected_output_schema or None),
             at, at],
        )  # fmt: skip
        found = get_dataset(cur, project_id, spec.name)
        assert found is not None
        return found
    schemas = {
        "inputSchema": existing["inputSchema"] if spec.input_schema is None
        else spec.input_schema or None,
        "expectedOutputSchema": existing["expectedOutputSchema"]
        if spec.expected_output_schema is None else spec.expected_output_schema or None,
    }  # fmt: skip
    if schemas["inputSchema"] != existing["inputSchema"] or (
        schemas["expectedOutputSchema"] != existing["expectedOutputSchema"]
    ):
        rows = cur.execute(
            "SELECT id, input, expected_output FROM dataset_items WHERE project_id = ? "
            "AND dataset_id = ? AND valid_to IS NULL ORDER BY created_at, id",
            [project_id, existing["id"]],
        ).fetchall()
        check_items(
            schemas,
            (
                (f"item {i}: ", {"input": from_json(a), "expectedOutput": from_json(b)})
                for i, a, b in rows
            ),
            "the new schema rejects current items; ",
        )
    cur.execute(
        "UPDATE datasets SET description = coalesce(?, description), "
        "metadata = coalesce(?, metadata), input_schema = ?, expected_output_schema = ?, "
        "updated_at = ? WHERE project_id = ? AND id = ?",
        [spec.description, to_json(spec.metadata), to_json(schemas["inputSchema"]),
         to_json(schemas["expectedOutputSchema"]), at, project_id, existing["id"]],
    )  # fmt: skip
    found = get_dataset(cur, project_id, spec.name)
    assert found is not None
    return found


# -- items ------------------------------------------------------------------------------------


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    iid, status, inp, expected, metadata, trace, obs, did, dname, created, valid_from = row
    return {
        "id": iid,
        "status": status,
        "input": from_json(inp),
        "expectedOutput": from_json(expected),
        "metadata": from_json(metadata),
        "sourceTraceId": trace,
        "sourceObservationId": obs,
        "datasetId": did,
        "datasetName": dname,
        "createdAt": iso(created),
        "updatedAt": iso(valid_from),
        "version": iso(valid_from),
        "mediaReferences": [],  # heron stores no media
    }


def get_item(
    cur: duckdb.DuckDBPyConnection, project_id: str, item_id: str
) -> dict[str, Any] | None:
    """The item's current version (archived included), or None (never written, or deleted)."""
    rows = cur.execute(
        f"SELECT {_ITEM_COLUMNS} {_ITEM_FROM} WHERE i.id = ? AND i.project_id = ? "
        "AND i.valid_to IS NULL",
        [item_id, project_id],
    ).fetchall()
    return _item(rows[0]) if rows else None


def list_items(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    f: ItemFilter,
    page: int,
    limit: int,
    oldest_first: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of the project's items matching ``f`` (current, or as of
    ``f.version``), newest first (or oldest first), and how many match."""
    where, params = ["i.project_id = ?"], [project_id]
    for column, value in (
        ("i.dataset_id", f.dataset_id),
        ("i.source_trace_id", f.source_trace_id),
        ("i.source_observation_id", f.source_observation_id),
        ("i.status", f.status),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.version is None:
        where.append("i.valid_to IS NULL")
    else:
        where.append("i.valid_from <= ? AND (i.valid_to IS NULL OR i.valid_to > ?)")
        params += [f.version, f.version]
    cond = " AND ".join(where)
    (total,) = cur.execute(f"SELECT count(*) {_ITEM_FROM} WHERE {cond}", params).fetchall()[0]
    order = "ASC" if oldest_first else "DESC"
    rows = cur.execute(
        f"SELECT {_ITEM_COLUMNS} {_ITEM_FROM} WHERE {cond} "
        f"ORDER BY i.created_at {order}, i.id LIMIT ? OFFSET ?",
        [*params, limit, (page - 1) * limit],
    ).fetchall()
    return [_item(r) for r in rows], int(total)


_KEPT = ("status", "input", "expected_output", "metadata", "source_trace_id",
         "source_observation_id", "created_at", "valid_from")  # fmt: skip


def put_items(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dataset: dict[str, Any],
    items: Sequence[ItemSpec],
    at: datetime | None = None,
) -> tuple[list[str], int]:
    """Write ``items`` into ``dataset`` (as :func:`get_dataset` returns it) in one go: an item
    without an id is created (a new UUID), one with an id is upserted (a new version of it,
    fields it leaves ``None`` kept from the current version). Every item is validated against
    the dataset's schemas first, so either all are written or none (400 listing problems).
    An id already used in another dataset of the project is a 409. Returns the ids written,
    in order, and how many items are new."""
    if not items:
        return [], 0
    at = at or now()
    given = list(dict.fromkeys(i.id for i in items if i.id is not None))
    current: dict[str, dict[str, Any]] = {}
    if given:
        owners = cur.execute(
            "SELECT DISTINCT i.id, d.name FROM dataset_items i JOIN datasets d ON "
            "d.project_id = i.project_id AND d.id = i.dataset_id WHERE i.project_id = ? "
            "AND i.id IN (SELECT unnest(?::VARCHAR[])) AND i.dataset_id <> ?",
            [project_id, given, dataset["id"]],
        ).fetchall()
        if owners:
            iid, other = owners[0]
            raise Conflict(
                f"id: item {iid[:100]!r} belongs to dataset {other[:100]!r}; an item's id is "
                "unique in the project and is not reused across datasets"
            )
        rows = cur.execute(
            f"SELECT id, {', '.join(_KEPT)} FROM dataset_items WHERE project_id = ? "
            "AND dataset_id = ? AND valid_to IS NULL AND id IN (SELECT unnest(?::VARCHAR[]))",
            [project_id, dataset["id"], given],
        ).fetchall()
        current = {r[0]: dict(zip(_KEPT, r[1:], strict=True)) for r in rows}
        latest = max((c["valid_from"] for c in current.values()), default=None)
        if latest is not None and latest >= at:
            at = latest + _TICK
    merged: dict[str, dict[str, Any]] = {}  # id -> the new version (JSON as text)
    wheres: dict[str, str] = {}
    order: list[str] = []
    for spec in items:
        iid = spec.id or str(uuid.uuid4())
        base = merged.get(iid) or current.get(iid) or {"status": "ACTIVE", "created_at": at}
        row = dict(base)
        for key, value in (
            ("input", spec.input),
            ("expected_output", spec.expected_output),
            ("metadata", spec.metadata),
        ):
            if value is not None:
                row[key] = to_json(value)
        for key, value in (
            ("source_trace_id", spec.source_trace_id),
            ("source_observation_id", spec.source_observation_id),
            ("status", spec.status),
        ):
            if value is not None:
                row[key] = value
        merged[iid] = row
        wheres[iid] = spec.where
        order.append(iid)
    check_items(
        dataset,
        (
            (wheres[iid], {"input": from_json(r.get("input")),
                           "expectedOutput": from_json(r.get("expected_output"))})
            for iid, r in merged.items()
        ),
    )  # fmt: skip
    if current:
        cur.execute(
            "UPDATE dataset_items SET valid_to = ? WHERE project_id = ? AND dataset_id = ? "
            "AND valid_to IS NULL AND id IN (SELECT unnest(?::VARCHAR[]))",
            [at, project_id, dataset["id"], list(current)],
        )
    ids = list(merged)
    rows_in = [merged[i] for i in ids]
    # one statement for all rows: a list parameter per column, zipped by unnest (portable:
    # DuckDB and PostgreSQL)
    cur.execute(
        "INSERT INTO dataset_items (project_id, id, dataset_id, valid_from, valid_to, status, "
        "input, expected_output, metadata, source_trace_id, source_observation_id, created_at) "
        "SELECT ?, unnest(?::VARCHAR[]), ?, ?, NULL, unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[])::JSON, unnest(?::VARCHAR[])::JSON, unnest(?::VARCHAR[])::JSON, "
        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::TIMESTAMP[])",
        [
            project_id, ids, dataset["id"], at, [r["status"] for r in rows_in],
            *([r.get(key) for r in rows_in] for key in _VERSIONED),
            [r["created_at"] for r in rows_in],
        ],
    )  # fmt: skip
    return list(dict.fromkeys(order)), sum(1 for i in ids if i not in current)


def item_dataset(
    cur: duckdb.DuckDBPyConnection, project_id: str, item_id: str, current: bool = True
) -> dict[str, Any]:
    """The dataset of the item (an id belongs to one dataset); a 404 naming the item when it
    has no current version (or, ``current=False``, was never written)."""
    rows = cur.execute(
        "SELECT dataset_id FROM dataset_items WHERE id = ? AND project_id = ?"
        + (" AND valid_to IS NULL" if current else "")
        + " LIMIT 1",
        [item_id, project_id],
    ).fetchall()
    dataset = dataset_by_id(cur, project_id, rows[0][0]) if rows else None
    if dataset is None:
        raise NotFound(f"dataset item {item_id[:100]!r} not found in this project")
    return dataset


def set_item_status(
    cur: duckdb.DuckDBPyConnection, project_id: str, item_id: str, status: str
) -> dict[str, Any]:
    """Archive (``ARCHIVED``) or restore (``ACTIVE``) an item: a new version of it."""
    dataset = item_dataset(cur, project_id, item_id)
    put_items(cur, project_id, dataset, [ItemSpec(id=item_id, status=status)])
    found = get_item(cur, project_id, item_id)
    assert found is not None
    return found


def delete_item(cur: duckdb.DuckDBPyConnection, project_id: str, item_id: str) -> bool:
    """Close the item's current version: it is gone from the current items, still there as
    of earlier times, and run items that ran it keep pointing at their version."""
    rows = cur.execute(
        "UPDATE dataset_items SET valid_to = greatest(?, valid_from) WHERE id = ? "
        "AND project_id = ? AND valid_to IS NULL RETURNING id",
        [now(), item_id, project_id],
    ).fetchall()
    return bool(rows)


# -- items from traces ------------------------------------------------------------------------


def add_from_traces(
    cur: duckdb.DuckDBPyConnection, project_id: str, dataset: dict[str, Any], sel: Selection
) -> dict[str, int]:
    """Copy the selected traces (or observations) into ``dataset`` as new items (see
    :mod:`heron.datasets.from_traces`): ``{created, skipped}``, ``skipped`` counting the
    selected sources that already are the source of a current item of the dataset. Traces
    or observations named by id must all exist (404 naming the first missing)."""
    if sel.observation_ids is not None:
        rows = cur.execute(
            "SELECT o.id, o.trace_id, o.input, o.output, o.metadata, EXISTS (SELECT 1 FROM "
            "dataset_items i WHERE i.project_id = o.project_id AND i.dataset_id = ? "
            "AND i.valid_to IS NULL AND i.source_observation_id = o.id) FROM observations o "
            "WHERE o.project_id = ? AND o.id IN (SELECT unnest(?::VARCHAR[])) ORDER BY o.id",
            [dataset["id"], project_id, sel.observation_ids],
        ).fetchall()
        _require_all(sel.observation_ids, {r[0] for r in rows}, "observation")
        fresh = {r[0]: r for r in rows if not r[-1]}  # one per id (span ids of two traces)
        items = [
            item_from_observation(oid, tid, _maybe_json(i), _maybe_json(o), from_json(m))
            for oid, tid, i, o, m, _ in fresh.values()
        ]
        skipped = len(sel.observation_ids) - len(fresh)
    else:
        in_dataset = (
            "EXISTS (SELECT 1 FROM dataset_items i WHERE i.project_id = t.project_id "
            "AND i.dataset_id = ? AND i.valid_to IS NULL AND i.source_trace_id = t.id "
            "AND i.source_observation_id IS NULL)"
        )
        if sel.trace_ids is not None:
            where, params = "t.id IN (SELECT unnest(?::VARCHAR[]))", [sel.trace_ids]
            known = cur.execute(
                f"SELECT t.id FROM traces t WHERE t.project_id = ? AND {where}",
                [project_id, *params],
            ).fetchall()
            _require_all(sel.trace_ids, {r[0] for r in known}, "trace")
        else:
            where, params = compile_filters(sel.filters, TRACES)
        columns = "t.id, t.input, t.output, t.metadata"
        rows = cur.execute(
            f"SELECT {columns} FROM traces t WHERE t.project_id = ? AND {where} "
            f"AND NOT {in_dataset} ORDER BY t.start_time DESC, t.id LIMIT ?",
            [project_id, *params, dataset["id"], sel.limit],
        ).fetchall()
        (skipped,) = cur.execute(
            f"SELECT count(*) FROM traces t WHERE t.project_id = ? AND {where} AND {in_dataset}",
            [project_id, *params, dataset["id"]],
        ).fetchall()[0]
        items = [
            item_from_trace(tid, _maybe_json(i), _maybe_json(o), from_json(m))
            for tid, i, o, m in rows
        ]
    put_items(cur, project_id, dataset, items)
    return {"created": len(items), "skipped": int(skipped)}


def _require_all(wanted: list[str], found: set[str], kind: str) -> None:
    missing = next((i for i in wanted if i not in found), None)
    if missing is not None:
        raise NotFound(f"{kind} {missing[:100]!r} not found in this project")
