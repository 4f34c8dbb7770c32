"""The write path: merge a batch of observations and trace updates into the store.

Runs on the writer thread only, inside one transaction per batch. Spans may arrive in any
order and more than once: an observation whose id is already stored is merged field by field
(later non-empty values win), and every trace touched by the batch has its aggregates
(time span, cost, tokens, counts, highest level) recomputed from all of its observations, so
the trace table is always exact and list queries never aggregate at read time. Each
observation row also holds its trace's scalar attributes (name, user, session, release,
version, environment: ``TRACE_ATTRIBUTES``), kept in step here: when a batch changes a
trace's attributes (typically its root span arriving after its children), its stored
observations are updated too, so queries of observations by those attributes need no join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from heron.model import LEVEL_RANK, ObservationRecord, TraceUpdate
from heron.model.preview import preview
from heron.store.arrow import (
    OBSERVATION_COLUMNS,
    TRACE_ATTRIBUTES,
    TRACE_COLUMNS,
    dumps,
    observations_table,
    traces_table,
)
from heron.store.timeutil import to_us

_CHUNK = 1000
Price = Callable[[ObservationRecord], "dict[str, float] | None"]
_DEFAULT_LEVEL = "DEFAULT"


@dataclass(slots=True)
class _Summary:
    """What trace aggregates need of one observation."""

    id: str
    parent_id: str | None
    start_us: int
    end_us: int | None
    level: str
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    total_cost: float | None
    model: str | None


@dataclass(slots=True)
class WriteResult:
    observations: int = 0
    merged: int = 0
    traces: int = 0
    trace_ids: set[tuple[str, str]] = field(default_factory=set)


def merge_observation(old: ObservationRecord, new: ObservationRecord) -> ObservationRecord:
    """A later version of a span: its non-empty fields win, maps are merged key by key."""
    out = ObservationRecord(**{f.name: getattr(old, f.name) for f in fields(ObservationRecord)})
    for name in (
        "parent_id",
        "end_us",
        "completion_start_us",
        "model",
        "input",
        "output",
        "status_message",
        "prompt_name",
        "prompt_version",
        "model_parameters",
    ):
        value = getattr(new, name)
        if value is not None:
            setattr(out, name, value)
    out.name = new.name or old.name
    out.start_us = new.start_us or old.start_us
    if new.type != "span":
        out.type = new.type
    if LEVEL_RANK.get(new.level, 1) != LEVEL_RANK[_DEFAULT_LEVEL]:
        out.level = new.level
    out.metadata = {**old.metadata, **new.metadata}
    out.usage = {**old.usage, **new.usage}
    if new.usage and "total" not in new.usage and ("input" in new.usage or "output" in new.usage):
        out.usage["total"] = out.usage.get("input", 0) + out.usage.get("output", 0)
    if new.cost:
        out.cost = dict(new.cost)
        out.cost_from_client = new.cost_from_client
    return out


def write_batch(
    con: duckdb.DuckDBPyConnection,
    observations: pa.Table,
    trace_updates: Sequence[TraceUpdate],
    now_us: int,
    may_exist: Callable[[str], bool] = lambda _: True,
    change_seq: int = 0,
    price: Price | None = None,
) -> WriteResult:
    """Merge one batch (observations as an Arrow table of OBSERVATION_COLUMNS) into the store.

    ``may_exist(trace_id)`` false means the trace is certainly not stored yet, so it is not
    looked up. Every trace written gets ``change_seq``, the store's change marker for this
    batch (see :mod:`heron.runner`). ``price`` costs a merged observation whose client sent
    no cost (its versions may bring the model and the usage apart). The caller owns the
    transaction.
    """
    table = observations
    cols = _key_columns(table)
    keys = list(zip(cols["project_id"], cols["trace_id"], cols["id"], strict=True))

    # The same span twice in one batch (re-sent quickly): merge the versions in order.
    if len(set(keys)) < len(keys):
        table = _merge_in_batch(table, keys, now_us, price)
        cols = _key_columns(table)
        keys = list(zip(cols["project_id"], cols["trace_id"], cols["id"], strict=True))

    trace_keys = set(zip(cols["project_id"], cols["trace_id"], strict=True))
    trace_keys.update((u.project_id, u.trace_id) for u in trace_updates)
    result = WriteResult(trace_ids=trace_keys)
    if not trace_keys:
        return result
    trace_ids = sorted({t for _, t in trace_keys})
    stored_ids = [t for t in trace_ids if may_exist(t)]

    # Existing observations of the touched traces (the trace_id index makes this a look-up).
    existing: dict[tuple[str, str], dict[str, _Summary]] = {}
    stored_rowid: dict[tuple[str, str, str], int] = {}
    for chunk in _chunks(stored_ids):
        rows = con.execute(
            "SELECT rowid, project_id, trace_id, id, parent_id, epoch_us(start_time), "
            "epoch_us(end_time), level, input_tokens, output_tokens, total_tokens, total_cost, "
            f"model FROM observations WHERE trace_id IN ({_marks(chunk)})",
            chunk,
        ).fetchall()
        for rowid, project, trace, oid, *rest in rows:
            if (project, trace) not in trace_keys:
                continue
            existing.setdefault((project, trace), {})[oid] = _Summary(oid, *rest)
            stored_rowid[(project, trace, oid)] = rowid

    # Observations sent again: read the stored row in full, merge, replace it.
    again = [i for i, key in enumerate(keys) if key in stored_rowid]
    resent = {keys[i] for i in again}
    if again:
        table, cols = _merge_with_stored(con, table, keys, again, stored_rowid, now_us, price)
        result.merged = len(again)
    filled = _fill_missing_starts(table)
    if filled is not table:
        table, cols = filled, _key_columns(filled)

    for i in range(table.num_rows):
        s = _summary_at(cols, i)
        existing.setdefault((cols["project_id"][i], cols["trace_id"][i]), {})[s.id] = s
    attributes, changed = _write_traces(
        con, trace_keys, stored_ids, existing, trace_updates, now_us, change_seq
    )
    result.traces = len(trace_keys)
    if table.num_rows:
        table = _with_trace_attributes(table, cols, attributes)
        con.register("heron_batch_observations", table)
        try:
            con.execute(
                f"INSERT INTO observations ({_OBS_INSERT}) "
                f"SELECT {_OBS_INSERT} FROM heron_batch_observations"
            )
        finally:
            con.unregister("heron_batch_observations")
    result.observations = table.num_rows
    stale = {
        rowid: attributes[(project, trace)]
        for (project, trace, oid), rowid in stored_rowid.items()
        if (project, trace) in changed and (project, trace, oid) not in resent
    }
    _update_trace_attributes(con, stale)
    return result


# Named, not positional, so a column added by a later migration cannot shift the others.
_OBS_INSERT = ", ".join([*OBSERVATION_COLUMNS, *TRACE_ATTRIBUTES])
_TRACE_ATTRIBUTE_SOURCES = tuple(TRACE_ATTRIBUTES.values())
_TRACE_INSERT = ", ".join(TRACE_COLUMNS)

_KEY_COLUMNS = (
    "project_id",
    "id",
    "trace_id",
    "parent_id",
    "start_time",
    "end_time",
    "level",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "total_cost",
    "model",
)


def _with_trace_attributes(
    table: pa.Table,
    cols: dict[str, list[Any]],
    attributes: dict[tuple[str, str], tuple[Any, ...]],
) -> pa.Table:
    """The batch's observations with their traces' attributes as extra columns."""
    rows = [attributes[key] for key in zip(cols["project_id"], cols["trace_id"], strict=True)]
    for j, column in enumerate(TRACE_ATTRIBUTES):
        table = table.append_column(column, pa.array([r[j] for r in rows], pa.string()))
    return table


_UPDATES_ONE_BY_ONE = 8  # distinct attribute values a batch updates statement by statement


def _update_trace_attributes(
    con: duckdb.DuckDBPyConnection, stale: dict[int, tuple[Any, ...]]
) -> None:
    """Give stored observations (by rowid) their trace's new attributes.

    The rows are mostly recent, so the rowid range lets DuckDB skip the older row groups: the
    cost follows the rows updated, not the table's size. A batch usually changes one or two
    traces: a statement per trace with the rowids as constants is then the cheapest (about
    1 ms each; joining a registered table costs 3 ms). Many traces go in one joined statement.
    """
    if not stale:
        return
    columns = list(TRACE_ATTRIBUTES)
    by_value: dict[tuple[Any, ...], list[int]] = {}
    for rowid, value in stale.items():
        by_value.setdefault(value, []).append(rowid)
    if len(by_value) <= _UPDATES_ONE_BY_ONE:
        sets = ", ".join(f"{c} = ?" for c in columns)
        for value, rowids in by_value.items():
            for chunk in _chunks(rowids):
                con.execute(
                    f"UPDATE observations SET {sets} WHERE rowid IN ({_marks(chunk)})",
                    [*value, *chunk],
                )
        return
    data = {"rid": pa.array(list(stale), pa.int64())}
    for j, column in enumerate(columns):
        data[column] = pa.array([v[j] for v in stale.values()], pa.string())
    con.register("heron_trace_attributes", pa.table(data))
    try:
        con.execute(
            f"UPDATE observations SET {', '.join(f'{c} = u.{c}' for c in columns)} "
            "FROM heron_trace_attributes u WHERE observations.rowid = u.rid"
        )
    finally:
        con.unregister("heron_trace_attributes")


def _fill_missing_starts(table: pa.Table) -> pa.Table:
    """Observations never given a start (0: a Langfuse update event whose create has not come)
    start at their end, else when they were received; a later create's start replaces it."""
    start = table.column("start_time")
    missing = pc.equal(start.cast(pa.int64()), 0)
    if not pc.any(missing).as_py():
        return table
    fill = pc.coalesce(table.column("end_time"), table.column("updated_at"))
    index = table.schema.get_field_index("start_time")
    return table.set_column(index, "start_time", pc.if_else(missing, fill, start))


def _reprice(r: ObservationRecord, price: Price | None) -> ObservationRecord:
    """A merged observation's computed cost, again (the client's cost is kept)."""
    if price is not None and not r.cost_from_client and r.model and r.usage:
        r.cost = price(r) or {}
    return r


def _take(table: pa.Table, rows: list[int]) -> pa.Table:
    return table.take(pa.array(rows, pa.int64()))


def _key_columns(table: pa.Table) -> dict[str, list[Any]]:
    """The columns trace aggregates need, as Python lists (times as µs integers)."""
    out = {}
    for name in _KEY_COLUMNS:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        out[name] = column.to_pylist()
    return out


def _summary_at(cols: dict[str, list[Any]], i: int) -> _Summary:
    """Row ``i`` of :func:`_key_columns`'s lists, as trace aggregates need it."""
    return _Summary(
        cols["id"][i],
        cols["parent_id"][i],
        cols["start_time"][i],
        cols["end_time"][i],
        cols["level"][i],
        cols["input_tokens"][i],
        cols["output_tokens"][i],
        cols["total_tokens"][i],
        cols["total_cost"][i],
        cols["model"][i],
    )


def _merge_in_batch(
    table: pa.Table, keys: list[tuple[str, str, str]], now_us: int, price: Price | None
) -> pa.Table:
    first: dict[tuple[str, str, str], int] = {}
    dup_rows = []
    for i, key in enumerate(keys):
        if key in first:
            dup_rows.append(i)
        else:
            first[key] = i
    involved = sorted({first[keys[i]] for i in dup_rows} | set(dup_rows))
    records = records_from_table(_take(table, involved))
    merged: dict[tuple[str, str, str], ObservationRecord] = {}
    for r in records:  # in arrival order: later versions merge into earlier ones
        key = (r.project_id, r.trace_id, r.id)
        merged[key] = merge_observation(merged[key], r) if key in merged else r
    for r in merged.values():
        _reprice(r, price)
    keep = [i for i in range(table.num_rows) if i not in set(involved)]
    return pa.concat_tables([_take(table, keep), observations_table(list(merged.values()), now_us)])


def _merge_with_stored(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    keys: list[tuple[str, str, str]],
    again: list[int],
    stored_rowid: dict[tuple[str, str, str], int],
    now_us: int,
    price: Price | None,
) -> tuple[pa.Table, dict[str, list[Any]]]:
    news = {(r.project_id, r.trace_id, r.id): r for r in records_from_table(_take(table, again))}
    rowids = [stored_rowid[keys[i]] for i in again]
    merged = []
    for chunk in _chunks(rowids):
        for old in _read_observations(con, chunk):
            new = news[(old.project_id, old.trace_id, old.id)]
            merged.append(_reprice(merge_observation(old, new), price))
        con.execute(f"DELETE FROM observations WHERE rowid IN ({_marks(chunk)})", chunk)
    drop = set(again)
    rest = _take(table, [i for i in range(table.num_rows) if i not in drop])
    table = pa.concat_tables([rest, observations_table(merged, now_us)])
    return table, _key_columns(table)


def _write_traces(
    con: duckdb.DuckDBPyConnection,
    trace_keys: set[tuple[str, str]],
    stored_ids: list[str],
    summaries: dict[tuple[str, str], dict[str, _Summary]],
    trace_updates: Sequence[TraceUpdate],
    now_us: int,
    change_seq: int,
) -> tuple[dict[tuple[str, str], tuple[Any, ...]], set[tuple[str, str]]]:
    """Rewrite the touched traces. Returns each written trace's attributes (in
    TRACE_ATTRIBUTES order) and the traces whose attributes differ from the stored ones."""
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in _chunks(stored_ids):
        cur = con.execute(
            "SELECT rowid, project_id, id, name, user_id, session_id, release, version, "
            "environment, tags, metadata, public, explicit, input IS NOT NULL, "
            f"output IS NOT NULL, epoch_us(start_time) FROM traces WHERE id IN ({_marks(chunk)})",
            chunk,
        )
        for row in cur.fetchall():
            if (row[1], row[2]) in trace_keys:
                stored[(row[1], row[2])] = dict(zip(_STORED_COLS, row, strict=True))

    updates: dict[tuple[str, str], list[TraceUpdate]] = {}
    for u in trace_updates:
        updates.setdefault((u.project_id, u.trace_id), []).append(u)

    rows: list[dict[str, Any]] = []
    keep_io: list[tuple[int, int, bool, bool]] = []  # (row index, stored rowid, input?, output?)
    attributes: dict[tuple[str, str], tuple[Any, ...]] = {}
    changed: set[tuple[str, str]] = set()
    for key in trace_keys:
        old = stored.get(key)
        row = _trace_attributes(key, old, updates.get(key, ()))
        row.update(_aggregates(summaries.get(key, {})))
        row["updated_at"] = now_us
        row["change_seq"] = change_seq
        if row["start_time"] is None:  # no observation (yet): the trace's own time, if any
            stamps = [u.timestamp_us for u in updates.get(key, ()) if u.timestamp_us]
            if old is not None and old["start_us"] is not None:
                stamps.append(old["start_us"])
            if not stamps:
                continue  # only trace-level updates without a time: nothing to show yet
            row["start_time"] = min(stamps)
        attributes[key] = tuple(row[c] for c in _TRACE_ATTRIBUTE_SOURCES)
        if old is None or attributes[key] != tuple(old[c] for c in _TRACE_ATTRIBUTE_SOURCES):
            changed.add(key)
        if old is not None:
            need_in = row["input"] is None and old["has_input"]
            need_out = row["output"] is None and old["has_output"]
            if need_in or need_out:
                keep_io.append((len(rows), old["rowid"], need_in, need_out))
        rows.append(row)

    for row in rows:
        row["input_preview"] = preview(row["input"])
    for index, rowid, need_in, need_out in keep_io:
        old_in, old_out, old_preview = con.execute(
            "SELECT input, output, input_preview FROM traces WHERE rowid = ?", [rowid]
        ).fetchone()  # type: ignore[misc]
        if need_in:
            rows[index]["input"] = old_in
            rows[index]["input_preview"] = old_preview
        if need_out:
            rows[index]["output"] = old_out

    old_rowids = [old["rowid"] for old in stored.values()]
    for chunk in _chunks(old_rowids):
        con.execute(f"DELETE FROM traces WHERE rowid IN ({_marks(chunk)})", chunk)
    if rows:
        con.register("heron_batch_traces", traces_table(rows))
        try:
            con.execute(
                f"INSERT INTO traces ({_TRACE_INSERT}) "
                f"SELECT {_TRACE_INSERT} FROM heron_batch_traces"
            )
        finally:
            con.unregister("heron_batch_traces")
    return attributes, changed


_STORED_COLS = (
    "rowid",
    "project_id",
    "id",
    "name",
    "user_id",
    "session_id",
    "release",
    "version",
    "environment",
    "tags",
    "metadata",
    "public",
    "explicit",
    "has_input",
    "has_output",
    "start_us",
)


def _trace_attributes(
    key: tuple[str, str], old: dict[str, Any] | None, updates: Iterable[TraceUpdate]
) -> dict[str, Any]:
    project_id, trace_id = key
    explicit: set[str] = set(old["explicit"] or ()) if old else set()
    row: dict[str, Any] = {
        "project_id": project_id,
        "id": trace_id,
        "input": None,
        "output": None,
    }
    for name in ("name", "user_id", "session_id", "release", "version", "environment", "public"):
        row[name] = old[name] if old else None
    tags: list[str] = list(old["tags"] or ()) if old else []
    metadata: dict[str, Any] = orjson.loads(old["metadata"]) if old and old["metadata"] else {}
    for u in updates:
        for name in ("user_id", "session_id", "release", "version", "environment", "public"):
            value = getattr(u, name)
            if value is not None:
                row[name] = value
        for name in ("name", "input", "output"):
            value = getattr(u, name)
            if value is None:
                continue
            # A root span supplies defaults; explicit trace attributes are never overridden by it.
            if not u.is_root:
                explicit.add(name)
                row[name] = value
            elif name not in explicit:
                row[name] = value
        if u.tags:
            tags.extend(t for t in u.tags if t not in tags)
        if u.metadata:
            metadata.update(u.metadata)
    row["tags"] = tags
    row["metadata"] = dumps(metadata) if metadata else None
    row["explicit"] = sorted(explicit)
    return row


def _aggregates(observations: dict[str, _Summary]) -> dict[str, Any]:
    start = end = None
    cost = None
    tokens: dict[str, int | None] = {
        "input_tokens": None,
        "output_tokens": None,
        "total_tokens": None,
    }
    errors = 0
    level_rank = 0
    models: set[str] = set()
    root: _Summary | None = None
    for s in observations.values():
        if start is None or s.start_us < start:
            start = s.start_us
        if s.end_us is not None and (end is None or s.end_us > end):
            end = s.end_us
        if s.total_cost is not None:
            cost = (cost or 0.0) + s.total_cost
        for name in tokens:
            value = getattr(s, name)
            if value is not None:
                tokens[name] = (tokens[name] or 0) + value
        rank = LEVEL_RANK.get(s.level, 1)
        level_rank = max(level_rank, rank)
        if rank == LEVEL_RANK["ERROR"]:
            errors += 1
        if s.model:
            models.add(s.model)
        if s.parent_id is None and (root is None or s.start_us < root.start_us):
            root = s
    if start is not None and end is not None and end < start:
        end = start
    level = next((k for k, v in LEVEL_RANK.items() if v == level_rank), _DEFAULT_LEVEL)
    return {
        "start_time": start,
        "end_time": end,
        "latency_ms": (end - start) / 1000 if start is not None and end is not None else None,
        "total_cost": cost,
        **tokens,
        "observation_count": len(observations),
        "error_count": errors,
        "level": level if observations else _DEFAULT_LEVEL,
        "models": sorted(models),
        "root_observation_id": root.id if root else None,
    }


_FULL_COLUMNS = (
    "project_id, id, trace_id, parent_id, type, name, epoch_us(start_time), epoch_us(end_time), "
    "epoch_us(completion_start_time), model, model_parameters, input, output, metadata, level, "
    "status_message, usage, cost, cost_source, prompt_name, prompt_version"
)


def _read_observations(
    con: duckdb.DuckDBPyConnection, rowids: list[int]
) -> list[ObservationRecord]:
    rows = con.execute(
        f"SELECT {_FULL_COLUMNS} FROM observations WHERE rowid IN ({_marks(rowids)})", rowids
    ).fetchall()
    return [record_from_row(row) for row in rows]


def record_from_row(row: Sequence[Any]) -> ObservationRecord:
    """A stored observation read back as a record: ``row`` holds the columns of
    :data:`_FULL_COLUMNS`, in that order (times as µs, JSON as text)."""
    (
        project,
        oid,
        trace,
        parent,
        typ,
        name,
        start,
        end,
        cstart,
        model,
        params,
        inp,
        outp,
        meta,
        level,
        status,
        usage,
        cost,
        cost_source,
        pname,
        pversion,
    ) = row
    return ObservationRecord(
        project_id=project,
        id=oid,
        trace_id=trace,
        parent_id=parent,
        type=typ,
        name=name,
        start_us=start,
        end_us=end,
        completion_start_us=cstart,
        model=model,
        model_parameters=orjson.loads(params) if params else None,
        input=inp,
        output=outp,
        metadata=orjson.loads(meta) if meta else {},
        level=level,
        status_message=status,
        usage=dict(usage or {}),
        cost=dict(cost or {}),
        cost_from_client=cost_source == "client",
        prompt_name=pname,
        prompt_version=pversion,
    )


def records_from_table(table: pa.Table) -> list[ObservationRecord]:
    """Rows of an observations table as records (for the rare merge paths)."""
    out = []
    for row in table.to_pylist():
        cost = dict(row["cost"] or [])
        out.append(
            ObservationRecord(
                project_id=row["project_id"],
                id=row["id"],
                trace_id=row["trace_id"],
                parent_id=row["parent_id"],
                type=row["type"],
                name=row["name"],
                start_us=_us(row["start_time"]),
                end_us=_us(row["end_time"]),
                completion_start_us=_us(row["completion_start_time"]),
                model=row["model"],
                model_parameters=_loads(row["model_parameters"]),
                input=row["input"],
                output=row["output"],
                metadata=_loads(row["metadata"]) or {},
                level=row["level"],
                status_message=row["status_message"],
                usage=dict(row["usage"] or []),
                cost=cost,
                cost_from_client=row["cost_source"] == "client",
                prompt_name=row["prompt_name"],
                prompt_version=row["prompt_version"],
            )
        )
    return out


def _us(value: Any) -> int | None:
    return None if value is None else to_us(value)


def _loads(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def _chunks(items: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))
