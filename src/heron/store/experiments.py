"""Experiment runs from spans: Langfuse SDK experiment spans become dataset runs and run items.

The Langfuse SDK (v3's and v4's ``run_experiment``, v5's always) marks every span of an
experiment item with ``langfuse.experiment.*`` attributes; ingest keeps them in the
observation's metadata under their attribute keys (``docs/conventions.md``). Here, in the
transaction that stores a batch (:meth:`heron.store.EmbeddedStore.write_batch`), the spans
carrying them become a run (``dataset_runs``) and one run item per (run, item)
(``dataset_run_items``) linking the item to its trace and root observation with the item
version it ran against, so what is acknowledged is always applied, replays included.

- The run: the run with the span's experiment id if the project has one (v3/v4 spans carry
  the id ``POST /api/public/dataset-run-items`` answered), else the dataset's run of that
  name, else a new run whose id is the experiment id (v5 derives it as
  :func:`heron.store.dataset_runs.experiment_run_id` does, and so runs made by
  ``POST /dataset-run-items`` have that id too). A run's empty description and metadata are
  filled from later spans.
- An experiment on local data (``run_experiment(data=[...])``: no dataset) is a run whose
  ``dataset_id`` is :data:`NO_DATASET`, found by its experiment id only (Langfuse does not
  group such experiments by name); its items' ``dataset_item_id`` is the SDK's experiment
  item id (a hash of the input).
- The item version: the dataset item's row valid at the span's
  ``langfuse.experiment.item.version`` (v5, when the dataset was read at a version), else at
  the span's start, else its current row.

Functions taking the writer's cursor; the caller holds the store's admin lock (run names
are unique per dataset, checked as the dataset API checks them). Runs and run items are
written here rather than with :func:`~heron.store.dataset_runs.ensure_run` and
:func:`~heron.store.dataset_runs.put_run_item` because spans differ from API requests: a
run is found by its experiment id first, may have no dataset (or one the project does not
have), an unknown item is never an error (a refused span would be quarantined), and a span
only fills what a run item lacks (it keeps the ``output`` a client reported with it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from heron.errors import BadRequest, NotFound
from heron.query.filters import FilterError, parse_time
from heron.store import dataset_runs as rundb

NO_DATASET = ""  # dataset_runs.dataset_id of an experiment on local data
PREFIX = "langfuse.experiment."
MARK = "langfuse.experiment.item.root_observation_id"  # on every span of an experiment item
MAX_ID = 200
MAX_NAME = 1000
MAX_DESCRIPTION = 10_000
_EPOCH = datetime(1970, 1, 1)


@dataclass(slots=True)
class ItemRun:
    """What the spans of one experiment item (one trace) say about it."""

    project_id: str
    experiment_id: str
    run_name: str
    dataset_id: str  # NO_DATASET for local data
    item_id: str
    trace_id: str
    observation_id: str
    start: datetime
    version_at: datetime | None = None  # langfuse.experiment.item.version
    description: str | None = None
    metadata: dict[str, Any] | None = None


# -- spans -> item runs ------------------------------------------------------------------------


def item_runs(observations: pa.Table) -> list[ItemRun]:
    """The experiment items a batch of observations (OBSERVATION_COLUMNS) speaks of, one per
    (project, experiment, item, trace); empty, cheaply, when no span carries the attributes."""
    if observations.num_rows == 0 or "metadata" not in observations.column_names:
        return []
    metadata = observations.column("metadata")
    if not _mentions(metadata, MARK.encode()):
        return []
    marked = pc.match_substring(metadata, MARK)
    rows = observations.filter(pc.fill_null(marked, False)).select(
        ["project_id", "trace_id", "start_time", "metadata"]
    )
    found: dict[tuple[str, str, str, str], ItemRun] = {}
    for row in rows.to_pylist():
        try:
            meta = orjson.loads(row["metadata"])
        except orjson.JSONDecodeError:
            continue
        run = _item_run(row, meta) if isinstance(meta, dict) else None
        if run is None:
            continue
        key = (run.project_id, run.experiment_id, run.item_id, run.trace_id)
        seen = found.get(key)
        found[key] = run if seen is None else _merged(seen, run)
    return list(found.values())


def _mentions(column: pa.ChunkedArray, text: bytes) -> bool:
    """Whether ``text`` occurs in the string column's data buffers: a scan of the raw bytes,
    several times faster than ``match_substring`` (0.3 ms for a batch of 1,000 spans with
    1 KB of metadata each), so batches without experiment spans pay next to nothing. A hit
    may be outside a sliced chunk: the rows are checked again."""
    for chunk in column.chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True  # not text (never written so): the exact check decides
        data = chunk.buffers()[2]
        if data is not None and text in data.to_pybytes():
            return True
    return False


def _item_run(row: dict[str, Any], meta: dict[str, Any]) -> ItemRun | None:
    experiment_id = _text(meta.get(PREFIX + "id"), MAX_ID)
    item_id = _text(meta.get(PREFIX + "item.id"), MAX_ID)
    root = _text(meta.get(MARK), MAX_ID)
    if not (experiment_id and item_id and root):
        return None
    start = row["start_time"]
    if not isinstance(start, datetime):
        start = _EPOCH + timedelta(microseconds=int(start))
    version_at = None
    raw_version = meta.get(PREFIX + "item.version")
    if isinstance(raw_version, str) and raw_version:
        try:
            version_at = parse_time(raw_version, "version")
        except FilterError:
            version_at = None
    return ItemRun(
        project_id=row["project_id"],
        experiment_id=experiment_id,
        run_name=_text(meta.get(PREFIX + "name"), MAX_NAME) or experiment_id,
        dataset_id=_text(meta.get(PREFIX + "dataset.id"), MAX_ID) or NO_DATASET,
        item_id=item_id,
        trace_id=row["trace_id"],
        observation_id=root,
        start=start.replace(tzinfo=None),
        version_at=version_at,
        description=_text(meta.get(PREFIX + "description"), MAX_DESCRIPTION),
        metadata=attribute_object(meta, PREFIX + "metadata"),
    )


def _merged(a: ItemRun, b: ItemRun) -> ItemRun:
    a.start = min(a.start, b.start)
    a.version_at = a.version_at or b.version_at
    a.description = a.description or b.description
    a.metadata = a.metadata or b.metadata
    if a.dataset_id == NO_DATASET:
        a.dataset_id = b.dataset_id
    return a


def _text(value: Any, limit: int) -> str | None:
    """A non-empty string attribute of at most ``limit`` characters, else ``None``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= limit else None


def attribute_object(meta: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A JSON-object attribute as the SDKs send it: one JSON text under ``key`` (v3, v5) or
    one attribute per entry, ``key.<name>``, each value JSON text (v4)."""
    out: dict[str, Any] = {}
    whole = _decoded(meta.get(key))
    if isinstance(whole, dict):
        out.update(whole)
    elif whole is not None:
        out["value"] = whole
    head = key + "."
    for k, v in meta.items():
        if k.startswith(head):
            out[k[len(head) :]] = _decoded(v)
    return out or None


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


# -- item runs -> runs and run items -----------------------------------------------------------


def record(cur: duckdb.DuckDBPyConnection, runs: Sequence[ItemRun], now_us: int) -> None:
    """Store what the spans say: each item run's run (found or created) and its run item."""
    now = _EPOCH + timedelta(microseconds=now_us)
    run_ids: dict[tuple[str, str, str], str] = {}
    for r in runs:
        key = (r.project_id, r.experiment_id, r.dataset_id)
        run_id = run_ids.get(key)
        if run_id is None:
            run_id = run_ids[key] = _run(cur, r, now)
        version = item_version(cur, r.project_id, r.dataset_id, r.item_id, r.version_at, r.start)
        _run_item(cur, r, run_id, version, now)


def _run(cur: duckdb.DuckDBPyConnection, r: ItemRun, now: datetime) -> str:
    rows = cur.execute(
        "SELECT project_id, id, description, metadata FROM dataset_runs WHERE id = ?",
        [r.experiment_id],
    ).fetchall()
    found = next((row for row in rows if row[0] == r.project_id), None)
    if found is None and r.dataset_id != NO_DATASET:
        found = cur.execute(
            "SELECT project_id, id, description, metadata FROM dataset_runs "
            "WHERE project_id = ? AND dataset_id = ? AND name = ? ORDER BY created_at LIMIT 1",
            [r.project_id, r.dataset_id, r.run_name],
        ).fetchone()
    metadata = _dumps(r.metadata)
    if found is None:
        cur.execute(
            "INSERT INTO dataset_runs (project_id, id, dataset_id, name, description, metadata, "
            "experiment_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                r.project_id,
                r.experiment_id,
                r.dataset_id,
                r.run_name,
                r.description,
                metadata,
                r.experiment_id,
                now,
                now,
            ],
        )
        return r.experiment_id
    _, run_id, description, stored_metadata = found
    fill_description = description is None and r.description is not None
    fill_metadata = stored_metadata is None and metadata is not None
    if fill_description or fill_metadata:
        cur.execute(
            "UPDATE dataset_runs SET description = coalesce(description, ?), "
            "metadata = coalesce(metadata, ?), updated_at = ? WHERE project_id = ? AND id = ?",
            [r.description, metadata, now, r.project_id, run_id],
        )
    return str(run_id)


def item_version(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dataset_id: str,
    item_id: str,
    version_at: datetime | None,
    start: datetime,
) -> datetime | None:
    """The version of the item (its row's ``valid_from``) valid at ``version_at``, else at
    ``start``, else its current one (:func:`heron.store.dataset_runs.item_version`); ``None``
    when the project's dataset has no such item (spans are never refused for it)."""
    if dataset_id == NO_DATASET:
        return None
    for at in (*(t for t in (version_at, start) if t is not None), None):
        try:
            return rundb.item_version(cur, project_id, dataset_id, item_id, at)
        except (BadRequest, NotFound):
            continue
    return None


def _run_item(
    cur: duckdb.DuckDBPyConnection,
    r: ItemRun,
    run_id: str,
    version: datetime | None,
    now: datetime,
) -> None:
    """Upsert the (run, item) row: a later trace replaces the old link (spans of an earlier
    trace arriving late do not); the same trace only fills what is missing."""
    row = cur.execute(
        "SELECT id, trace_id, observation_id, dataset_item_version FROM dataset_run_items "
        "WHERE project_id = ? AND run_id = ? AND dataset_item_id = ? "
        "ORDER BY updated_at DESC LIMIT 1",
        [r.project_id, run_id, r.item_id],
    ).fetchone()
    if row is None:
        cur.execute(
            "INSERT INTO dataset_run_items (project_id, id, run_id, dataset_item_id, "
            "dataset_item_version, trace_id, observation_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                r.project_id,
                str(uuid.uuid4()),
                run_id,
                r.item_id,
                version,
                r.trace_id,
                r.observation_id,
                now,
                now,
            ],
        )
        return
    item_id, trace_id, observation_id, stored_version = row
    if trace_id == r.trace_id:
        if observation_id is not None and (stored_version is not None or version is None):
            return  # nothing new
        observation_id = observation_id or r.observation_id
        version = stored_version or version
    elif _started_after(cur, r.project_id, trace_id, r.start):
        return  # a late span of an earlier run of the item: the newer trace stays linked
    else:
        observation_id = r.observation_id
    cur.execute(
        "UPDATE dataset_run_items SET trace_id = ?, observation_id = ?, "
        "dataset_item_version = ?, updated_at = ? WHERE project_id = ? AND id = ?",
        [r.trace_id, observation_id, version, now, r.project_id, item_id],
    )


def _started_after(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_id: str | None, at: datetime
) -> bool:
    """Whether the project's trace ``trace_id`` started after ``at``."""
    if trace_id is None:
        return False
    rows = cur.execute("SELECT project_id, start_time FROM traces WHERE id = ?", [trace_id])
    return any(pid == project_id and start > at for pid, start in rows.fetchall())


def _dumps(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
