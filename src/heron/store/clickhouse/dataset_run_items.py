"""Dataset run items on ClickHouse: which trace ran a dataset item in an experiment run.

The runs themselves (named, renamed, described, deleted) are control data in PostgreSQL
(``dataset_runs``); their items are events, one row per (run, item) in
``dataset_run_items`` (migration 6), as Langfuse v3 keeps them. A run item written again is
a newer version of the same key (``row_version`` past the stored one); a deleted run's
items get a newer version with ``is_deleted`` (``FINAL`` then hides them from every read),
so a run re-created under the same name (the same id) starts empty. Reads joining the items
with their run (its name) or with dataset items are composed by
:mod:`heron.store.cluster_datasets`; the read-modify-writes run there under the project's
dataset lock in PostgreSQL, so two replicas never version one item from the same stored row.

Also here: the events an experiment's results read (traces' figures and outputs, the
scores of the traces and of the runs, root observations) and the runs' item windows of
``/api/public/experiments``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from heron.query import TRACES, View
from heron.query.clickhouse import Params, compile_filters, to_us
from heron.query.filters import Column, Filter
from heron.store.arrow import TS
from heron.store.clickhouse.reads import _trace_view, utc
from heron.store.clickhouse.time_limit import NO_LIMIT, TimeLimit
from heron.store.clickhouse.writes import above

_US = "toUnixTimestamp64Micro"
_SETTINGS = {"join_use_nulls": 1}
_ITEM_COLUMNS = (
    f"project_id, run_id, dataset_item_id, id, {_US}(dataset_item_version), trace_id, "
    f"observation_id, output, {_US}(created_at), {_US}(updated_at)"
)
_LIVE = "FROM dataset_run_items FINAL WHERE project_id = {project:String} AND is_deleted = 0"

# The runs (from PostgreSQL) as a ClickHouse table ``r``: bound arrays, zipped.
_RUNS = (
    "(SELECT tupleElement(x, 1) AS id, tupleElement(x, 2) AS name, "
    "tupleElement(x, 3) AS dataset_id FROM (SELECT arrayJoin(arrayZip("
    "{run_ids:Array(String)}, {run_names:Array(String)}, {run_datasets:Array(String)})) AS x))"
)
_DATASET = "nullIf(r.dataset_id, '')"
# heron.store.experiment_reads' filter views, on that table
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


@dataclass(slots=True, frozen=True)
class RunItemRow:
    """One run item as stored (``output`` is JSON text)."""

    project_id: str
    run_id: str
    dataset_item_id: str
    id: str
    dataset_item_version: datetime | None
    trace_id: str | None
    observation_id: str | None
    output: str | None
    created_at: datetime
    updated_at: datetime


def _row(r: Sequence[Any]) -> RunItemRow:
    project, run, item, xid, version, trace, obs, output, created, updated = r
    return RunItemRow(
        project, run, item, xid, utc(version), trace, obs, output, utc(created), utc(updated)
    )  # type: ignore[arg-type]


@dataclass(slots=True)
class RunWindow:
    """A run's items whose traces started in a window: first start, last end, count."""

    run_id: str
    start: datetime
    end: datetime
    count: int


class DatasetRunItems:
    """Run items and the experiment reads' events (a part of ``ClickHouseEvents``)."""

    client: Client
    _lock: threading.Lock  # ClickHouseEvents' writer lock and clock
    _version: Callable[[], int]

    # -- run items ---------------------------------------------------------------------------

    def run_items(
        self,
        project_id: str,
        *,
        run_ids: Sequence[str] | None = None,
        item_ids: Sequence[str] | None = None,
        trace_ids: Sequence[str] | None = None,
        limit: TimeLimit = NO_LIMIT,
    ) -> list[RunItemRow]:
        """The project's live run items of these runs / items / traces (each given list
        narrows), in no particular order, read within ``limit``."""
        params = Params(project_id)
        where = ""
        for column, values in (
            ("run_id", run_ids),
            ("dataset_item_id", item_ids),
            ("trace_id", trace_ids),
        ):
            if values is not None:
                where += f" AND {column} IN {params.add(list(values), 'Array(String)')}"
        rows = limit.query(
            self.client, f"SELECT {_ITEM_COLUMNS} {_LIVE}{where}", params.values
        ).result_rows
        return [_row(r) for r in rows]

    def run_item_page(
        self, project_id: str, run_id: str, page: int, limit: int
    ) -> tuple[list[RunItemRow], int]:
        """One page of a run's items, newest first (then by id), and how many there are."""
        parameters = {"project": project_id, "run": run_id}
        total = self.client.query(
            f"SELECT count() {_LIVE} AND run_id = {{run:String}}", parameters=parameters
        ).result_rows[0][0]
        rows = self.client.query(
            f"SELECT {_ITEM_COLUMNS} {_LIVE} AND run_id = {{run:String}} "
            f"ORDER BY created_at DESC, id LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
            parameters=parameters,
        ).result_rows
        return [_row(r) for r in rows], int(total)

    def run_item_counts(self, project_id: str, run_ids: Sequence[str]) -> dict[str, int]:
        """How many live items each run has (runs without any are left out)."""
        if not run_ids:
            return {}
        rows = self.client.query(
            f"SELECT run_id, count() {_LIVE} AND run_id IN {{runs:Array(String)}} GROUP BY run_id",
            parameters={"project": project_id, "runs": list(run_ids)},
        ).result_rows
        return {r: int(n) for r, n in rows}

    def put_run_items(self, rows: Sequence[RunItemRow]) -> None:
        """Store these run items (a stored (run, item) is replaced: a newer version)."""
        self._insert_run_items(rows, deleted=False)

    def delete_run_items(self, project_id: str, run_id: str) -> None:
        """Delete every item of the run (newer versions marked deleted)."""
        self._insert_run_items(self.run_items(project_id, run_ids=[run_id]), deleted=True)

    def _insert_run_items(self, rows: Sequence[RunItemRow], *, deleted: bool) -> None:
        if not rows:
            return
        with self._lock:
            stored: dict[tuple[str, str, str], int] = {}
            for project_id in sorted({r.project_id for r in rows}):
                mine = [r for r in rows if r.project_id == project_id]
                found = self.client.query(
                    "SELECT run_id, dataset_item_id, row_version FROM dataset_run_items FINAL "
                    "WHERE project_id = {project:String} AND run_id IN {runs:Array(String)} "
                    "AND dataset_item_id IN {items:Array(String)}",
                    parameters={
                        "project": project_id,
                        "runs": sorted({r.run_id for r in mine}),
                        "items": sorted({r.dataset_item_id for r in mine}),
                    },
                ).result_rows
                stored.update({(project_id, run, item): v for run, item, v in found})
            version = self._version()
            string = pa.string()

            def column(name: str, kind: pa.DataType = string) -> pa.Array:
                return pa.array([getattr(r, name) for r in rows], kind)

            table = pa.table(
                {
                    "project_id": column("project_id"),
                    "run_id": column("run_id"),
                    "dataset_item_id": column("dataset_item_id"),
                    "id": column("id"),
                    "dataset_item_version": column("dataset_item_version", TS),
                    "trace_id": column("trace_id"),
                    "observation_id": column("observation_id"),
                    "output": column("output"),
                    "created_at": column("created_at", TS),
                    "updated_at": column("updated_at", TS),
                    "is_deleted": pa.array([int(deleted)] * len(rows), pa.uint8()),
                    "row_version": pa.array(
                        [
                            above(version, stored.get((r.project_id, r.run_id, r.dataset_item_id)))
                            for r in rows
                        ],
                        pa.uint64(),
                    ),
                }
            )
            self.client.insert_arrow("dataset_run_items", table)

    # -- what experiment results read ----------------------------------------------------------

    def trace_starts(self, project_id: str, trace_ids: Sequence[str]) -> dict[str, datetime]:
        """The start of each of the project's traces named (those stored)."""
        if not trace_ids:
            return {}
        rows = self.client.query(
            f"SELECT id, {_US}(start_time) FROM traces FINAL WHERE project_id = {{project:String}} "
            "AND id IN {ids:Array(String)} AND start_time IS NOT NULL",
            parameters={"project": project_id, "ids": list(trace_ids)},
        ).result_rows
        return {t: utc(us) for t, us in rows}  # type: ignore[misc]

    def trace_figures(
        self, project_id: str, trace_ids: Sequence[str], limit: TimeLimit = NO_LIMIT
    ) -> dict[str, tuple[float | None, float | None, float | None, str | None]]:
        """``{trace: (latency ms, cost, tokens, output text)}`` of the traces stored."""
        if not trace_ids:
            return {}
        rows = limit.query(
            self.client,
            "SELECT id, toFloat64(latency_ms), toFloat64(total_cost), toFloat64(total_tokens), "
            "output FROM traces FINAL WHERE project_id = {project:String} "
            "AND id IN {ids:Array(String)}",
            {"project": project_id, "ids": list(trace_ids)},
        ).result_rows
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def trace_score_groups(
        self, project_id: str, trace_ids: Sequence[str], limit: TimeLimit = NO_LIMIT
    ) -> list[tuple[str, str, str, float | None, str | None]]:
        """Per (trace, score name, data type) of the traces' scores (those on their
        observations included; TEXT scores left out): the mean value and, for categorical
        scores, the distinct labels sorted and joined with ", " (None: no label)."""
        if not trace_ids:
            return []
        rows = limit.query(
            self.client,
            "SELECT trace_id, name, data_type, avg(value), "
            "arrayStringConcat(arraySort(groupUniqArrayIf(assumeNotNull(string_value), "
            "data_type = 'CATEGORICAL' AND string_value IS NOT NULL)), ', ') "
            "FROM scores FINAL WHERE project_id = {project:String} "
            "AND trace_id IN {ids:Array(String)} AND data_type != 'TEXT' "
            "GROUP BY trace_id, name, data_type",
            {"project": project_id, "ids": list(trace_ids)},
        ).result_rows
        out = []
        for trace, name, data_type, value, labels in rows:
            label = labels if data_type == "CATEGORICAL" and labels else None
            mean = None if value is None or value != value else float(value)
            out.append((trace, name, data_type, mean, label))
        return out

    def experiment_run_scores(
        self, project_id: str, run_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Run-level scores (``scores.dataset_run_id``) of each run, by run id (as
        :func:`heron.store.experiment_results.run_scores`)."""
        out: dict[str, list[dict[str, Any]]] = {r: [] for r in run_ids}
        if not run_ids:
            return out
        rows = self.client.query(
            "SELECT dataset_run_id, name, data_type, value, string_value, comment, "
            f"{_US}(timestamp) FROM scores FINAL WHERE project_id = {{project:String}} "
            "AND dataset_run_id IN {runs:Array(String)} ORDER BY name, timestamp",
            parameters={"project": project_id, "runs": list(run_ids)},
        ).result_rows
        for run_id, name, data_type, value, string_value, comment, when in rows:
            out[run_id].append(
                {"name": name, "data_type": data_type, "value": value,
                 "string_value": string_value, "comment": comment, "timestamp": utc(when)}
            )  # fmt: skip
        return out

    def root_observations(
        self, project_id: str, wanted: set[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """``{(trace, observation): {level, input, output, metadata}}`` of those stored."""
        if not wanted:
            return {}
        rows = self.client.query(
            "SELECT trace_id, id, level, input, output, metadata FROM observations FINAL "
            "WHERE project_id = {project:String} AND trace_id IN {traces:Array(String)} "
            "AND id IN {ids:Array(String)}",
            parameters={
                "project": project_id,
                "traces": sorted({t for t, _ in wanted}),
                "ids": sorted({o for _, o in wanted}),
            },
        ).result_rows
        return {
            (t, o): {"level": lvl, "input": i, "output": out, "metadata": m}
            for t, o, lvl, i, out, m in rows
            if (t, o) in wanted
        }

    def experiment_windows(
        self,
        project_id: str,
        runs: Sequence[tuple[str, str, str]],
        filters: Sequence[Filter],
        from_start: datetime,
        to_start: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[RunWindow]:
        """Up to ``limit`` of ``runs`` (id, name, dataset id) matching ``filters``
        (:data:`EXPERIMENTS`) with items whose traces started in the window, by latest end
        descending, then id descending; after ``after`` (end, id) when given."""
        if not runs:
            return []
        params = _runs_params(project_id, runs)
        where = compile_filters(filters, EXPERIMENTS, params)
        window = _window(params, from_start, to_start)
        keyset = "1"
        if after is not None:
            at, rid = params.add(to_us(after[0]), "Int64"), params.add(after[1], "String")
            keyset = f"(a.end_us < {at} OR (a.end_us = {at} AND r.id < {rid}))"
        rows = self.client.query(
            f"WITH r AS (SELECT * FROM {_RUNS} AS r WHERE {where}), "
            "a AS (SELECT ri.run_id AS run_id, "
            f"min({_US}(t.start_time)) AS start_us, "
            f"max({_US}(coalesce(t.end_time, t.start_time))) AS end_us, count() AS n "
            f"FROM (SELECT run_id, trace_id {_LIVE}) AS ri "
            "JOIN (SELECT id, start_time, end_time FROM traces FINAL "
            "WHERE project_id = {project:String} AND start_time IS NOT NULL) AS t "
            f"ON t.id = ri.trace_id WHERE ri.run_id IN (SELECT id FROM r) AND {window} "
            "GROUP BY ri.run_id) "
            f"SELECT r.id, a.start_us, a.end_us, a.n FROM a JOIN r ON r.id = a.run_id "
            f"WHERE {keyset} ORDER BY a.end_us DESC, r.id DESC LIMIT {int(limit)}",
            parameters=params.values,
        ).result_rows
        return [RunWindow(r, utc(s), utc(e), int(n)) for r, s, e, n in rows]  # type: ignore[arg-type]

    def experiment_item_rows(
        self,
        project_id: str,
        runs: Sequence[tuple[str, str, str]],
        filters: Sequence[Filter],
        from_start: datetime,
        to_start: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Up to ``limit`` run items of ``runs`` matching ``filters``
        (:data:`EXPERIMENT_ITEMS`) whose traces started in the window, newest first: ``(id,
        trace, observation, item, version, run id, start, end, level, environment, input,
        output, metadata)``, the trace's columns from ``start`` on."""
        if not runs:
            return []
        params = _runs_params(project_id, runs)
        where = compile_filters(filters, EXPERIMENT_ITEMS, params)
        window = _window(params, from_start, to_start)
        keyset = "1"
        if after is not None:
            at, rid = params.add(to_us(after[0]), "Int64"), params.add(after[1], "String")
            keyset = (
                f"({_US}(t.start_time) < {at} OR ({_US}(t.start_time) = {at} AND ri.id < {rid}))"
            )
        rows = self.client.query(
            f"SELECT ri.id, ri.trace_id, ri.observation_id, ri.dataset_item_id, "
            f"{_US}(ri.dataset_item_version), r.id, {_US}(t.start_time), {_US}(t.end_time), "
            "t.level, t.environment, t.input, t.output, t.metadata "
            f"FROM (SELECT * {_LIVE}) AS ri JOIN {_RUNS} AS r ON r.id = ri.run_id "
            "JOIN (SELECT * FROM traces FINAL WHERE project_id = {project:String} "
            "AND start_time IS NOT NULL) AS t ON t.id = ri.trace_id "
            f"WHERE {window} AND {where} AND {keyset} "
            f"ORDER BY t.start_time DESC, ri.id DESC LIMIT {int(limit)}",
            parameters=params.values,
            settings=_SETTINGS,
        ).result_rows
        return [(*r[:4], utc(r[4]), r[5], utc(r[6]), utc(r[7]), *r[8:]) for r in rows]

    # -- dataset items from traces ---------------------------------------------------------------

    def source_traces(
        self,
        project_id: str,
        filters: Sequence[Filter] | None,
        trace_ids: Sequence[str] | None,
        in_dataset: Sequence[str],
        limit: int,
    ) -> tuple[list[tuple[str, str | None, str | None, str | None]], int]:
        """The traces selected (by ``filters``, or ``trace_ids``) that are not in
        ``in_dataset``, newest first (then by id), up to ``limit``, as ``(id, input, output,
        metadata)``; and how many selected ones are in ``in_dataset``."""
        params = Params(project_id)
        if trace_ids is not None:
            where = f"t.id IN {params.add(list(trace_ids), 'Array(String)')}"
        else:
            where = compile_filters(filters or [], TRACES, params)
        excluded = params.add(list(in_dataset), "Array(String)")
        view = f"({_trace_view()}) AS t"
        rows = self.client.query(
            f"SELECT t.id, t.input, t.output, t.metadata FROM {view} WHERE {where} "
            f"AND t.id NOT IN {excluded} ORDER BY t.start_time DESC, t.id LIMIT {int(limit)}",
            parameters=params.values,
            settings=_SETTINGS,
        ).result_rows
        skipped = self.client.query(
            f"SELECT count() FROM {view} WHERE {where} AND t.id IN {excluded}",
            parameters=params.values,
            settings=_SETTINGS,
        ).result_rows[0][0]
        return [tuple(r) for r in rows], int(skipped)  # type: ignore[misc]

    def stored_trace_ids(self, project_id: str, trace_ids: Sequence[str]) -> set[str]:
        """Which of the ids are the project's traces."""
        rows = self.client.query(
            f"SELECT t.id FROM ({_trace_view()}) AS t WHERE t.id IN {{ids:Array(String)}}",
            parameters={"project": project_id, "ids": list(trace_ids)},
        ).result_rows
        return {r[0] for r in rows}

    def source_observations(
        self, project_id: str, observation_ids: Sequence[str]
    ) -> list[tuple[str, str, str | None, str | None, str | None]]:
        """``(id, trace, input, output, metadata)`` of the project's observations of these
        ids (an id may be a span of several traces), by id."""
        rows = self.client.query(
            "SELECT id, trace_id, input, output, metadata FROM observations FINAL "
            "WHERE project_id = {project:String} AND id IN {ids:Array(String)} ORDER BY id",
            parameters={"project": project_id, "ids": list(observation_ids)},
        ).result_rows
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _runs_params(project_id: str, runs: Sequence[tuple[str, str, str]]) -> Params:
    params = Params(project_id)
    params.values["run_ids"] = [r[0] for r in runs]
    params.values["run_names"] = [r[1] for r in runs]
    params.values["run_datasets"] = [r[2] for r in runs]
    return params


def _window(params: Params, from_start: datetime, to_start: datetime | None) -> str:
    sql = f"{_US}(t.start_time) >= {params.add(to_us(from_start), 'Int64')}"
    if to_start is not None:
        sql += f" AND {_US}(t.start_time) < {params.add(to_us(to_start), 'Int64')}"
    return sql
