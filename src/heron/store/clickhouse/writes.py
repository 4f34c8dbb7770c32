"""The write path on ClickHouse: EmbeddedStore's ``write_batch`` semantics, insert-only.

A span whose id is already stored is read back (``FINAL``: its latest version), merged field
by field with the new one exactly as in DuckDB (:func:`heron.store.writes.merge_observation`:
later non-empty values win, maps merge by key, a merged generation is priced again) and
inserted again with a higher ``row_version``; the ReplacingMergeTree keeps that one. A
trace's own attributes (name, user, session, tags, metadata, input, output, ...) are merged
the same way (:func:`heron.store.writes._trace_attributes`) into a new trace row, which
also holds the trace's aggregates (start, end, latency, cost, tokens, counts, highest level,
models, root), as DuckDB's does.

The aggregates are recomputed at every batch touching the trace, after the batch's spans are
inserted: one grouped read of the touched traces' spans (``observations FINAL WHERE
project_id = .. AND trace_id IN ..``, a range of the sorting key), joined to their stored
rows (whose attributes the batch's trace updates merge into), so they are those of all
the trace's spans whatever their order of arrival, re-sends or batches. A trace without spans
has its own time as its start (as DuckDB). The read relies on the batch's insert being
visible once it returned: ClickHouse's default (synchronous inserts; with ``async_insert``,
as long as ``wait_for_async_insert`` keeps its default, 1).

Both full reads are skipped where key-only reads (no ``FINAL``, the sorting key's columns)
show what they would find: before the insert, the ids of the touched traces' stored spans
(any version) say which of the batch's spans are re-sent (only those are read in full and
merged) and which traces had no spans; after it, a count of each such trace's stored rows
says whether the batch's spans are all there is (no trace row, no other writer's span, no
other version). Those traces get the aggregates of the batch's spans, computed as DuckDB's
writer computes them (:func:`heron.store.writes._aggregates`): the count is a read after
the insert like the grouped read, so they are exact in the same cases.

A new row's version is the writer's clock in µs, or one past the stored row's when that is
ahead (a replica whose clock runs fast), so a later write always replaces an earlier one.
Two replicas merging two versions of the same span at the same instant would each read the
stored row before the other's insert, and one whole version would win (a field only the
other carried lost; never two rows). ``ClickHouseEvents``'s ``trace_lock`` (PostgreSQL's
advisory lock per trace) serialises them, and with it the trace rows' merge: with it the
stored aggregates are always exact.

Without the lock (two replicas writing spans of one trace at the same instant), each trace
row is versioned by a clock reading taken after its batch's spans were inserted and before
its aggregates are read (or past the version of the stored row that read finds). The highest
version is then that of the last reading, and the read after it saw every writer's spans
(each took its own reading after its insert, so before that last one): the winning
aggregates are exact, but for clock skew between the replicas (a replica whose clock is
ahead by more than the gap between the two writes can win with a read that missed the
other's spans) and ties in the same µs. Such a stale aggregate heals at the next write
touching the trace (any span or update of it, by any replica: it recomputes from all the
spans). The trace attributes keep the race described above: a trace row built from stored
attributes read before another writer's trace row was inserted can replace it, losing an
attribute only that one carried (this does not heal; the lock prevents it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from heron.model import ObservationRecord, TraceUpdate
from heron.model.preview import preview
from heron.store.arrow import OBSERVATION_COLUMNS, TS, observations_table
from heron.store.clickhouse.retention import Days, tagged
from heron.store.clickhouse.schema import SPAN_AGGREGATES
from heron.store.writes import (
    WriteResult,
    _aggregates,
    _fill_missing_starts,
    _key_columns,
    _merge_in_batch,
    _reprice,
    _Summary,
    _summary_at,
    _trace_attributes,
    merge_observation,
    record_from_row,
    records_from_table,
)

Price = Callable[[ObservationRecord], "dict[str, float] | None"]
_CHUNK = 1000

_TRACE_ROW_COLUMNS = (
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
    "input",
    "output",
    "input_preview",
    "public",
    "explicit",
    "own_time",
    "updated_at",
    "row_version",
    "start_time",
    "end_time",
    "latency_ms",
    "total_cost",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "observation_count",
    "error_count",
    "level",
    "models",
    "root_observation_id",
)
_TRACE_TYPES: dict[str, pa.DataType] = {
    "tags": pa.list_(pa.string()),
    "explicit": pa.list_(pa.string()),
    "public": pa.bool_(),
    "own_time": TS,
    "updated_at": TS,
    "row_version": pa.uint64(),
    "start_time": TS,
    "end_time": TS,
    "latency_ms": pa.float64(),
    "total_cost": pa.float64(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "total_tokens": pa.int64(),
    "observation_count": pa.uint64(),
    "error_count": pa.uint64(),
    "models": pa.list_(pa.string()),
}


def write_batch(
    client: Client,
    observations: pa.Table,
    trace_updates: Sequence[TraceUpdate],
    now_us: int,
    price: Price | None = None,
    clock: Callable[[], int] | None = None,
    days: Days | None = None,
) -> WriteResult:
    """Merge one batch (an Arrow table of OBSERVATION_COLUMNS) into the events tables.

    ``now_us`` versions the spans and stamps the rows; ``clock`` (µs, default: ``now_us``)
    is read once the spans are inserted, to version the trace rows (see the module's
    docstring: without a lock, the row of the latest aggregates' read wins). ``days`` tags
    the rows with their project's retention (:mod:`heron.store.clickhouse.retention`)."""
    table = observations
    keys = _keys(table)
    if len(set(keys)) < len(keys):  # the same span twice in one batch: merge in order
        table = _merge_in_batch(table, keys, now_us, price)
        keys = _keys(table)

    trace_keys = {(p, t) for p, t, _ in keys}
    trace_keys.update((u.project_id, u.trace_id) for u in trace_updates)
    result = WriteResult(trace_ids=trace_keys)
    if not trace_keys:
        return result

    # Which of the touched traces' spans are stored (any version; keys only, no FINAL): most
    # batches bring new spans of new traces, and then nothing needs reading in full.
    before = _stored_span_ids(client, trace_keys, keys)
    resent = [key for key in keys if key[2] in before.get(key[:2], ())]
    stored = _stored_observations(client, resent) if resent else {}
    if stored:
        again = [i for i, key in enumerate(keys) if key in stored]
        news = records_from_table(table.take(pa.array(again, pa.int64())))
        merged = [_reprice(merge_observation(stored[_key(r)][0], r), price) for r in news]
        rest = [i for i in range(table.num_rows) if keys[i] not in stored]
        table = pa.concat_tables(
            [table.take(pa.array(rest, pa.int64())), observations_table(merged, now_us)]
        )
        result.merged = len(again)
    table = _fill_missing_starts(table)

    if table.num_rows:
        versions = [
            above(now_us, stored[key][1] if key in stored else None) for key in _keys(table)
        ]
        client.insert_arrow("observations", tagged(_for_insert(table, versions), days))
    # The spans are in: the trace rows' attributes and aggregates are read from now on.
    version_us = clock() if clock is not None else now_us
    alone = _batch_only(client, trace_keys - before.keys(), table)
    rows = _trace_rows(client, trace_keys, trace_updates, now_us, version_us, alone)
    if rows:
        client.insert_arrow("traces", tagged(_traces_table(rows), days))
    result.observations = table.num_rows
    result.traces = len(trace_keys)
    return result


def _key(r: ObservationRecord) -> tuple[str, str, str]:
    return (r.project_id, r.trace_id, r.id)


def _keys(table: pa.Table) -> list[tuple[str, str, str]]:
    return list(
        zip(
            table.column("project_id").to_pylist(),
            table.column("trace_id").to_pylist(),
            table.column("id").to_pylist(),
            strict=True,
        )
    )


def above(now_us: int, stored: int | None) -> int:
    """A row's new version: the writer's clock, or past the stored row's version when that
    is ahead (another replica's clock runs fast), so the new row always replaces it."""
    return now_us if stored is None or stored < now_us else stored + 1


def _for_insert(table: pa.Table, versions: list[int]) -> pa.Table:
    """The batch as the observations table takes it: maps never NULL, row versions."""
    table = table.select(list(OBSERVATION_COLUMNS))
    for name in ("usage", "cost"):
        column = table.column(name)
        empty = pa.array([[]] * table.num_rows, column.type)
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.if_else(pc.is_null(column), empty, column))
    return table.append_column("row_version", pa.array(versions, pa.uint64()))


_FULL_COLUMNS = (
    "project_id, id, trace_id, parent_id, type, name, toUnixTimestamp64Micro(start_time), "
    "toUnixTimestamp64Micro(end_time), toUnixTimestamp64Micro(completion_start_time), model, "
    "model_parameters, input, output, metadata, level, status_message, usage, cost, "
    "cost_source, prompt_name, prompt_version, row_version"
)


def _stored_observations(
    client: Client, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[ObservationRecord, int]]:
    """The stored latest version of each of the batch's spans that is stored, with its
    row version."""
    out: dict[tuple[str, str, str], tuple[ObservationRecord, int]] = {}
    by_project: dict[str, list[tuple[str, str]]] = {}
    for project, trace, oid in set(keys):
        by_project.setdefault(project, []).append((trace, oid))
    for project, pairs in by_project.items():
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i : i + _CHUNK]
            rows = client.query(
                f"SELECT {_FULL_COLUMNS} FROM observations FINAL "
                "WHERE project_id = {project:String} AND trace_id IN {traces:Array(String)} "
                "AND id IN {ids:Array(String)}",
                parameters={
                    "project": project,
                    "traces": sorted({t for t, _ in chunk}),
                    "ids": sorted({o for _, o in chunk}),
                },
            ).result_rows
            wanted = set(chunk)
            for row in rows:
                record = record_from_row(row[:-1])
                if (record.trace_id, record.id) in wanted:
                    out[_key(record)] = (record, row[-1])
    return out


_SPAN_IDS = (
    "SELECT trace_id, groupUniqArrayIf(id, has({spans:Array(String)}, id)) FROM observations "
    "WHERE project_id = {project:String} AND trace_id IN {ids:Array(String)} GROUP BY trace_id"
)


def _stored_span_ids(
    client: Client, trace_keys: set[tuple[str, str]], keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str], set[str]]:
    """The traces that have stored spans, each with those of the batch's spans (``keys``)
    that are stored (any version: no FINAL, key columns only). A span of the batch not among
    them has never been stored, so it has nothing to merge with."""
    spans: dict[tuple[str, str], list[str]] = {}
    for project, trace, oid in keys:
        spans.setdefault((project, trace), []).append(oid)
    out: dict[tuple[str, str], set[str]] = {}
    for project, ids in _by_project(trace_keys):
        wanted = sorted({o for t in ids for o in spans.get((project, t), ())})
        rows = client.query(
            _SPAN_IDS, parameters={"project": project, "ids": ids, "spans": wanted}
        ).result_rows
        for trace, stored in rows:
            out[(project, trace)] = set(stored)
    return out


# Per trace: its stored rows in each table, every version counted (keys only, no FINAL).
_ROW_COUNTS = (
    "SELECT 'o', trace_id, count() FROM observations WHERE project_id = {project:String} "
    "AND trace_id IN {ids:Array(String)} GROUP BY trace_id UNION ALL "
    "SELECT 't', id, count() FROM traces WHERE project_id = {project:String} "
    "AND id IN {ids:Array(String)} GROUP BY id"
)


def _batch_only(
    client: Client, fresh: set[tuple[str, str]], table: pa.Table
) -> dict[tuple[str, str], dict[str, Any] | None]:
    """Of the ``fresh`` traces (no spans stored before the batch), those whose only stored
    rows, read after the batch's insert, are the batch's spans (no trace row, no span of
    another writer, no other version), with their aggregates computed from the batch as
    DuckDB's writer computes them (None: no spans). For these the grouped ``FINAL`` read
    would see exactly the batch's spans and no stored row, so it is skipped; a trace another
    writer wrote to meanwhile is read as before."""
    if not fresh:
        return {}
    cols = _key_columns(table)
    mine: dict[tuple[str, str], dict[str, _Summary]] = {}
    for i, (project, trace) in enumerate(zip(cols["project_id"], cols["trace_id"], strict=True)):
        if (project, trace) not in fresh:
            continue
        s = _summary_at(cols, i)
        mine.setdefault((project, trace), {})[s.id] = s
    others: set[tuple[str, str]] = set()
    for project, ids in _by_project(fresh):
        rows = client.query(_ROW_COUNTS, parameters={"project": project, "ids": ids}).result_rows
        for table_name, trace, n in rows:
            key = (project, trace)
            if table_name == "t" or n != len(mine.get(key, ())):
                others.add(key)
    return {key: _aggregates(mine[key]) if key in mine else None for key in fresh - others}


_STORED_TRACE = (
    "project_id, id, name, user_id, session_id, release, version, environment, tags, "
    "metadata, public, explicit, input, output, input_preview, toUnixTimestamp64Micro(own_time), "
    "row_version"
)
_STORED_NAMES = (
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
    "input",
    "output",
    "input_preview",
    "own_us",
    "row_version",
)


def _by_project(trace_keys: set[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    """The traces' ids by project, in chunks."""
    by_project: dict[str, list[str]] = {}
    for project, trace in sorted(trace_keys):
        by_project.setdefault(project, []).append(trace)
    for project, ids in by_project.items():
        for i in range(0, len(ids), _CHUNK):
            yield project, ids[i : i + _CHUNK]


_SPAN_AGGREGATES = (
    "SELECT trace_id, toUnixTimestamp64Micro(min_start), toUnixTimestamp64Micro(max_end), cost, "
    "tokens_in, tokens_out, tokens, n, errors, top_level, model_names, root FROM ("
    f"SELECT trace_id, {SPAN_AGGREGATES} FROM observations FINAL "
    "WHERE project_id = {project:String} AND trace_id IN {ids:Array(String)} GROUP BY trace_id)"
)
# The traces' stored rows beside their spans' aggregates, in one read (one snapshot).
_STORED_AND_SPANS = (
    f"SELECT t.*, a.* FROM (SELECT {_STORED_TRACE} FROM traces FINAL "
    "WHERE project_id = {project:String} AND id IN {ids:Array(String)}) AS t "
    f"FULL OUTER JOIN ({_SPAN_AGGREGATES}) AS a ON a.trace_id = t.id"
)
_JOIN_NULLS = {"join_use_nulls": 1}


# The aggregates of a trace without spans (its start is its own time).
_NO_SPANS: dict[str, Any] = {
    "end_time": None,
    "latency_ms": None,
    "total_cost": None,
    "input_tokens": None,
    "output_tokens": None,
    "total_tokens": None,
    "observation_count": 0,
    "error_count": 0,
    "level": "DEFAULT",
    "models": [],
    "root_observation_id": None,
}


def _stored_and_spans(
    client: Client, trace_keys: set[tuple[str, str]]
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """The traces' stored rows, and the aggregates of each of them that has spans, from all
    its stored spans, as DuckDB stores them (:func:`heron.store.writes._aggregates`)."""
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    n = len(_STORED_NAMES)
    for project, ids in _by_project(trace_keys):
        rows = client.query(
            _STORED_AND_SPANS,
            parameters={"project": project, "ids": ids},
            settings=_JOIN_NULLS,
        ).result_rows
        for row in rows:
            if row[0] is not None:
                stored[(row[0], row[1])] = dict(zip(_STORED_NAMES, row[:n], strict=True))
            (trace, start, end, cost, t_in, t_out, tokens, count, errors, level, models, root) = (
                row[n:]
            )
            if trace is None:
                continue
            if end is not None and end < start:
                end = start
            spans[(project, trace)] = {
                "start_time": start,
                "end_time": end,
                "latency_ms": (end - start) / 1000 if end is not None else None,
                "total_cost": cost,
                "input_tokens": t_in,
                "output_tokens": t_out,
                "total_tokens": tokens,
                "observation_count": count,
                "error_count": errors,
                "level": level,
                "models": list(models),
                "root_observation_id": root,
            }
    return stored, spans


def _trace_rows(
    client: Client,
    trace_keys: set[tuple[str, str]],
    trace_updates: Sequence[TraceUpdate],
    now_us: int,
    version_us: int,
    alone: dict[tuple[str, str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """New rows for the touched traces: their attributes merged, their aggregates
    recomputed from all their spans (stored, the batch's included); ``alone``: the traces
    whose only stored rows are the batch's, with their aggregates (see :func:`_batch_only`)."""
    stored, spans = _stored_and_spans(client, trace_keys - alone.keys())
    spans.update({key: a for key, a in alone.items() if a is not None})
    updates: dict[tuple[str, str], list[TraceUpdate]] = {}
    for u in trace_updates:
        updates.setdefault((u.project_id, u.trace_id), []).append(u)
    out = []
    for key in sorted(trace_keys):
        old = stored.get(key)
        mine = updates.get(key, ())
        stamps = [u.timestamp_us for u in mine if u.timestamp_us]
        if old is not None and old["own_us"] is not None:
            stamps.append(old["own_us"])
        if old is None and key not in spans and not stamps:
            continue  # only trace-level updates without a time: nothing to show yet (as DuckDB)
        row = _trace_attributes(key, old, mine)
        row["input_preview"] = preview(row["input"])
        if old is not None:
            if row["input"] is None:
                row["input"], row["input_preview"] = old["input"], old["input_preview"]
            if row["output"] is None:
                row["output"] = old["output"]
        row["own_time"] = min(stamps) if stamps else None
        row.update(spans.get(key) or {**_NO_SPANS, "start_time": row["own_time"]})
        row["updated_at"] = now_us
        row["row_version"] = above(version_us, old["row_version"] if old else None)
        out.append(row)
    return out


def _traces_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            c: pa.array([r[c] for r in rows], _TRACE_TYPES.get(c, pa.string()))
            for c in _TRACE_ROW_COLUMNS
        }
    )
