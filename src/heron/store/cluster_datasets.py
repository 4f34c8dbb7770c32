"""Dataset runs, their items and experiment results on the cluster backend: the methods
that need both halves (a mixin of :class:`~heron.store.cluster.ClusterStore`).

The split, as Langfuse v3 makes it: a run (named, described, renamed by its SDK calls,
deleted) is control data in PostgreSQL (``dataset_runs``, :mod:`.postgres.dataset_runs`);
its items, one per (run, item) and written as fast as experiments produce traces, are events
in ClickHouse (``dataset_run_items``, :mod:`.clickhouse.dataset_run_items`), beside the
traces and scores that experiment results join them with. Dataset items (their versions)
are in PostgreSQL. Every method here has EmbeddedStore's name, arguments and return shape
and runs the DuckDB topic modules' logic (:mod:`.dataset_runs`, :mod:`.experiments`,
:mod:`.experiment_reads`, :mod:`.experiment_results`) over the two halves.

Writes of a project's runs and run items (the API's, and the runs and run items made from
Langfuse experiment spans by :meth:`ClusterDatasets.record_experiment_runs`, which
``ClusterStore.write_batch`` calls after storing a batch) run in one PostgreSQL transaction
holding the project's dataset lock, so replicas do them one at a time: each reads the stored
run item and writes its next version. The run item is inserted into ClickHouse inside that
transaction, before it commits; if the commit then fails, a run item of a run that was not
created may remain, which no read shows (reads go from the runs in PostgreSQL to their
items). Re-sent experiment spans change nothing (the same trace only fills what its run item
lacks), so a journal replay is harmless.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from heron.datasets.from_traces import Selection, item_from_observation, item_from_trace
from heron.datasets.spec import RunItemSpec
from heron.errors import NotFound
from heron.store import dataset_runs as rundb
from heron.store import datasets as datasetdb
from heron.store import experiment_reads as expreads
from heron.store import experiment_results as results
from heron.store import experiments as spans
from heron.store.clickhouse.dataset_run_items import RunItemRow
from heron.store.clickhouse.score_reads import scores_by
from heron.store.clickhouse.time_limit import TimeLimit
from heron.store.datasets import from_json, now, to_json
from heron.store.experiment_reads import ExperimentQuery
from heron.store.experiment_results import RunResults
from heron.store.postgres.cursor import PgCursor
from heron.store.reads import _maybe_json

if TYPE_CHECKING:
    from heron.store.clickhouse import ClickHouseEvents
    from heron.store.postgres import PostgresControl

_EPOCH = datetime(1970, 1, 1)


@contextmanager
def _reachable() -> Iterator[None]:
    """An unreachable backend as BackendUnavailable (503), as for ClusterStore's own."""
    from heron.store.cluster import _unavailable_as_oserror  # cluster.py imports this module

    with _unavailable_as_oserror():
        yield


class ClusterDatasets:
    """Dataset runs, run items and experiment reads over both halves."""

    events: ClickHouseEvents
    control: PostgresControl

    # -- run items --------------------------------------------------------------------------

    def create_dataset_run_item(
        self, project_id: str, spec: RunItemSpec, trace_id: str | None
    ) -> dict[str, Any]:
        """The run item (and its run, when new) as ``POST /api/public/dataset-run-items``
        makes them (see :func:`rundb.record_run_item`)."""
        with _reachable(), self.control.dataset_writes([project_id]) as cur:
            dataset = datasetdb.item_dataset(
                cur, project_id, spec.dataset_item_id, current=spec.dataset_version is None
            )
            run = rundb.ensure_run(
                cur, project_id, dataset["id"], spec.run_name, spec.run_description, spec.metadata
            )
            return self._put_run_item(
                cur, project_id, run, spec.dataset_item_id, trace_id, spec.observation_id,
                spec.dataset_version, spec.output, spec.created_at,
            )  # fmt: skip

    def put_dataset_run_item(
        self,
        project_id: str,
        run_id: str,
        item_id: str,
        trace_id: str | None,
        observation_id: str | None = None,
        version: datetime | None = None,
        output: Any = None,
    ) -> dict[str, Any]:
        """Record the trace that ran ``item_id`` in run ``run_id`` (see
        :func:`rundb.put_run_item`); a 404 when the project has no such run."""
        with _reachable(), self.control.dataset_writes([project_id]) as cur:
            run = rundb.run_by_id(cur, project_id, run_id)
            if run is None:
                raise NotFound(f"dataset run {run_id[:100]!r} not found in this project")
            return self._put_run_item(
                cur, project_id, run, item_id, trace_id, observation_id, version, output
            )

    def _put_run_item(
        self,
        cur: PgCursor,
        project_id: str,
        run: dict[str, Any],
        item_id: str,
        trace_id: str | None,
        observation_id: str | None,
        version: datetime | None,
        output: Any,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """:func:`rundb.put_run_item` with the item in ClickHouse."""
        stamp = rundb.item_version(cur, project_id, run["datasetId"], item_id, version)
        at = now()
        stored = self.events.run_items(project_id, run_ids=[run["id"]], item_ids=[item_id])
        row = RunItemRow(
            project_id=project_id,
            run_id=run["id"],
            dataset_item_id=item_id,
            id=stored[0].id if stored else str(uuid.uuid4()),
            dataset_item_version=stamp,
            trace_id=trace_id,
            observation_id=observation_id,
            output=to_json(output),
            created_at=_naive(created_at) or (stored[0].created_at if stored else at),
            updated_at=at,
        )
        self.events.put_run_items([row])
        return _run_item(row, run["name"])

    def list_dataset_run_items(
        self, project_id: str, run_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a run's items, newest first, and how many there are."""
        with _reachable():
            with self.control.dataset_reads() as cur:  # a run without a dataset included
                found = cur.execute(
                    "SELECT name FROM dataset_runs WHERE project_id = ? AND id = ?",
                    [project_id, run_id],
                ).fetchall()
            if not found:
                return [], 0
            rows, total = self.events.run_item_page(project_id, run_id, page, limit)
        return [_run_item(r, found[0][0]) for r in rows], total

    def run_item_expected_outputs(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> dict[str, Any]:
        """``{trace_id: expected output}`` of the traces that ran a dataset item (see
        :func:`rundb.expected_outputs`: the latest run item of a trace whose recorded item
        version exists wins)."""
        if not trace_ids:
            return {}
        with _reachable():
            items = self.events.run_items(project_id, trace_ids=list(trace_ids))
            if not items:
                return {}
            with self.control.dataset_reads() as cur:
                found = cur.execute(
                    "SELECT id, valid_from, expected_output FROM dataset_items "
                    "WHERE project_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
                    [project_id, sorted({i.dataset_item_id for i in items})],
                ).fetchall()
        expected = {(i, v): e for i, v, e in found}
        matched = [i for i in items if (i.dataset_item_id, i.dataset_item_version) in expected]
        matched.sort(key=lambda i: (i.updated_at, i.id), reverse=True)
        out: dict[str, Any] = {}
        for i in matched:
            if i.trace_id not in out:
                out[i.trace_id] = from_json(expected[(i.dataset_item_id, i.dataset_item_version)])
        return out

    # -- runs -------------------------------------------------------------------------------

    def get_dataset_run(self, project_id: str, dataset_id: str, name: str) -> dict[str, Any] | None:
        """The run with its run items (``datasetRunItems``, oldest first), or None."""
        with _reachable():
            with self.control.dataset_reads() as cur:
                run = rundb._run_row(cur, project_id, dataset_id, name)
            if run is None:
                return None
            rows = self.events.run_items(project_id, run_ids=[run["id"]])
        rows.sort(key=lambda r: (r.created_at, r.id))
        run["datasetRunItems"] = [_run_item(r, run["name"]) for r in rows]
        return run

    def list_dataset_runs(
        self, project_id: str, dataset_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the dataset's runs, newest first, each with ``runItemCount``, and how
        many runs there are."""
        with _reachable():
            with self.control.dataset_reads() as cur:
                (total,) = cur.execute(
                    "SELECT count(*) FROM dataset_runs WHERE project_id = ? AND dataset_id = ?",
                    [project_id, dataset_id],
                ).fetchall()[0]
                rows = cur.execute(
                    f"SELECT {rundb._RUN_COLUMNS} {rundb._RUN_FROM} WHERE r.project_id = ? "
                    "AND r.dataset_id = ? ORDER BY r.created_at DESC, r.id LIMIT ? OFFSET ?",
                    [project_id, dataset_id, limit, (page - 1) * limit],
                ).fetchall()
            runs = [rundb._run(r) for r in rows]
            counts = self.events.run_item_counts(project_id, [r["id"] for r in runs])
        return [{**r, "runItemCount": counts.get(r["id"], 0)} for r in runs], int(total)

    def delete_dataset_run(self, project_id: str, dataset_id: str, name: str) -> bool:
        """Delete the run and its run items (the traces and their scores stay)."""
        with _reachable(), self.control.dataset_writes([project_id]) as cur:
            run = rundb._run_row(cur, project_id, dataset_id, name)
            if run is None:
                return False
            cur.execute(
                "DELETE FROM dataset_runs WHERE project_id = ? AND id = ?", [project_id, run["id"]]
            )
            self.events.delete_run_items(project_id, run["id"])
            return True

    # -- Langfuse experiment spans ----------------------------------------------------------

    def record_experiment_runs(self, observations: pa.Table) -> None:
        """The runs and run items Langfuse experiment spans of a stored batch speak of (see
        :mod:`heron.store.experiments`); nothing, cheaply, when no span carries them."""
        item_runs = spans.item_runs(observations)
        if not item_runs:
            return
        for r in item_runs:  # PostgreSQL keeps no NUL in text (DuckDB does): never refuse a span
            for name in ("experiment_id", "run_name", "dataset_id", "item_id", "description"):
                value = getattr(r, name)
                if value is not None and "\x00" in value:
                    setattr(r, name, value.replace("\x00", ""))
        at = _EPOCH + timedelta(microseconds=time.time_ns() // 1000)
        with _reachable(), self.control.dataset_writes({r.project_id for r in item_runs}) as cur:
            run_ids: dict[tuple[str, str, str], str] = {}
            for r in item_runs:
                key = (r.project_id, r.experiment_id, r.dataset_id)
                if key not in run_ids:
                    run_ids[key] = spans._run(cur, r, at)  # type: ignore[arg-type]
            stored = {
                (i.project_id, i.run_id, i.dataset_item_id): i
                for project_id in {r.project_id for r in item_runs}
                for i in self.events.run_items(
                    project_id,
                    run_ids=sorted({v for k, v in run_ids.items() if k[0] == project_id}),
                    item_ids=sorted({r.item_id for r in item_runs if r.project_id == project_id}),
                )
            }
            changed: dict[tuple[str, str, str], RunItemRow] = {}
            for r in item_runs:
                run_id = run_ids[(r.project_id, r.experiment_id, r.dataset_id)]
                version = spans.item_version(
                    cur,  # type: ignore[arg-type]
                    r.project_id, r.dataset_id, r.item_id, r.version_at, r.start,
                )  # fmt: skip
                key = (r.project_id, run_id, r.item_id)
                row = self._span_run_item(stored.get(key), r, run_id, version, at)
                if row is not None:
                    stored[key] = changed[key] = row
            self.events.put_run_items(list(changed.values()))

    def _span_run_item(
        self,
        row: RunItemRow | None,
        r: spans.ItemRun,
        run_id: str,
        version: datetime | None,
        at: datetime,
    ) -> RunItemRow | None:
        """The run item's next version (as :func:`heron.store.experiments._run_item`
        decides it), or None when the spans bring nothing new."""
        if row is None:
            return RunItemRow(
                r.project_id, run_id, r.item_id, str(uuid.uuid4()), version, r.trace_id,
                r.observation_id, None, at, at,
            )  # fmt: skip
        observation_id = row.observation_id
        if row.trace_id == r.trace_id:
            known = row.dataset_item_version is not None or version is None
            if observation_id is not None and known:
                return None  # nothing new
            observation_id = observation_id or r.observation_id
            version = row.dataset_item_version or version
        elif row.trace_id is not None and self._started_after(r.project_id, row.trace_id, r.start):
            return None  # a late span of an earlier run of the item: the newer trace stays
        else:
            observation_id = r.observation_id
        return replace(
            row,
            trace_id=r.trace_id,
            observation_id=observation_id,
            dataset_item_version=version,
            updated_at=at,
        )

    def _started_after(self, project_id: str, trace_id: str, at: datetime) -> bool:
        start = self.events.trace_starts(project_id, [trace_id]).get(trace_id)
        return start is not None and start > at

    # -- dataset items from traces ----------------------------------------------------------

    def dataset_items_from_traces(
        self, project_id: str, dataset_name: str, selection: Selection
    ) -> dict[str, int]:
        """Copy selected traces or observations into the dataset: ``{created, skipped}`` (see
        :func:`heron.store.datasets.add_from_traces`)."""
        with _reachable(), self.control.dataset_writes([project_id]) as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            column = "source_observation_id" if selection.observation_ids else "source_trace_id"
            only_traces = "" if selection.observation_ids else " AND source_observation_id IS NULL"
            sources = {
                r[0]
                for r in cur.execute(
                    f"SELECT {column} FROM dataset_items WHERE project_id = ? AND dataset_id = ? "
                    f"AND valid_to IS NULL AND {column} IS NOT NULL{only_traces}",
                    [project_id, dataset["id"]],
                ).fetchall()
            }
            if selection.observation_ids is not None:
                rows = self.events.source_observations(project_id, selection.observation_ids)
                datasetdb._require_all(
                    selection.observation_ids, {r[0] for r in rows}, "observation"
                )
                fresh = {r[0]: r for r in rows if r[0] not in sources}
                items = [
                    item_from_observation(oid, tid, _maybe_json(i), _maybe_json(o), from_json(m))
                    for oid, tid, i, o, m in fresh.values()
                ]
                skipped = len(selection.observation_ids) - len(fresh)
            else:
                if selection.trace_ids is not None:
                    known = self.events.stored_trace_ids(project_id, selection.trace_ids)
                    datasetdb._require_all(selection.trace_ids, known, "trace")
                traces, skipped = self.events.source_traces(
                    project_id, selection.filters, selection.trace_ids, sorted(sources),
                    selection.limit,
                )  # fmt: skip
                items = [
                    item_from_trace(tid, _maybe_json(i), _maybe_json(o), from_json(m))
                    for tid, i, o, m in traces
                ]
            datasetdb.put_items(cur, project_id, dataset, items)
        return {"created": len(items), "skipped": int(skipped)}

    # -- experiment results -----------------------------------------------------------------

    def experiment_runs(
        self, project_id: str, dataset: str, run_names: Sequence[str]
    ) -> list[RunResults]:
        """The named runs of the dataset, each with its items' figures and scores (404
        naming a missing dataset or run); see :func:`results.run_results`. Within
        ``HERON_QUERY_TIMEOUT_S`` for all of the runs' ClickHouse reads, as on DuckDB."""
        limit = TimeLimit(self.events.query_timeout_s, "reading the experiment runs")
        with _reachable():
            with self.control.dataset_reads() as cur:
                runs = _runs_by_name(cur, project_id, dataset, run_names)
            return [self._run_results(project_id, run, limit) for run in runs]

    def _run_results(
        self, project_id: str, run: tuple[str, str, datetime], limit: TimeLimit
    ) -> RunResults:
        items = self.events.run_items(project_id, run_ids=[run[0]], limit=limit)
        items.sort(key=lambda i: i.dataset_item_id)
        traces = sorted({i.trace_id for i in items if i.trace_id is not None})
        figures = self.events.trace_figures(project_id, traces, limit)
        none = (None, None, None, None)
        columns = {
            "dataset_item_id": [i.dataset_item_id for i in items],
            "trace_id": [i.trace_id for i in items],
            "dataset_item_version": np.array(
                [i.dataset_item_version for i in items], dtype="datetime64[us]"
            ),
            "latency": [figures.get(i.trace_id or "", none)[0] for i in items],
            "cost": [figures.get(i.trace_id or "", none)[1] for i in items],
            "tokens": [figures.get(i.trace_id or "", none)[2] for i in items],
        }
        groups: dict[str, list[tuple[str, str, float | None, str | None]]] = {}
        for trace, name, data_type, value, label in self.events.trace_score_groups(
            project_id, traces, limit
        ):
            groups.setdefault(trace, []).append((name, data_type, value, label))
        raw = sorted(
            (name, data_type, pos, value, label)
            for pos, i in enumerate(items)
            for name, data_type, value, label in groups.get(i.trace_id or "", [])
        )
        scores = {
            "pos": [r[2] for r in raw],
            "name": [r[0] for r in raw],
            "data_type": [r[1] for r in raw],
            "value": [r[3] for r in raw],
            "label": [r[4] for r in raw],
        }
        return results.assemble(run, columns, scores)

    def experiment_items(
        self, project_id: str, dataset: str, run_ids: Sequence[str], item_ids: Sequence[str]
    ) -> dict[str, Any]:
        """Inputs, expected outputs and each run's output of some items (see
        :func:`results.item_details`)."""
        with _reachable():
            with self.control.dataset_reads() as cur:
                ds = results.dataset_id(cur, project_id, dataset)
                versions = cur.execute(
                    "SELECT id, valid_from, valid_to, status, input, expected_output, metadata "
                    "FROM dataset_items WHERE project_id = ? AND dataset_id = ? "
                    "AND id IN (SELECT unnest(?::VARCHAR[])) ORDER BY valid_from",
                    [project_id, ds, list(item_ids)],
                ).fetchall()
            found = (
                self.events.run_items(project_id, run_ids=list(run_ids), item_ids=list(item_ids))
                if run_ids and item_ids
                else []
            )
            traced = self.events.trace_figures(
                project_id, sorted({i.trace_id for i in found if i.trace_id is not None})
            )
        items: dict[str, list[dict[str, Any]]] = {}
        for item_id, valid_from, valid_to, status, inp, expected, metadata in versions:
            items.setdefault(item_id, []).append(
                {"valid_from": valid_from, "valid_to": valid_to, "status": status,
                 "input": from_json(inp), "expected_output": from_json(expected),
                 "metadata": from_json(metadata)}
            )  # fmt: skip
        outputs = {
            (i.run_id, i.dataset_item_id): {
                "observation_id": i.observation_id,
                "output": from_json(i.output)
                if i.output is not None
                else _maybe_json(traced.get(i.trace_id or "", (None,) * 4)[3]),
            }
            for i in found
        }
        return {"items": items, "outputs": outputs}

    # -- /api/public/experiments ------------------------------------------------------------

    def list_experiments(self, project_id: str, q: ExperimentQuery) -> list[dict[str, Any]]:
        """Up to ``q.limit + 1`` experiments with items in the window (see
        :func:`expreads.list_experiments`)."""
        with _reachable():
            runs = self._project_runs(project_id)
            windows = self.events.experiment_windows(
                project_id, [(r[0], r[1], r[3]) for r in runs.values()], q.filters,
                q.from_start, q.to_start, q.after, q.limit + 1,
            )  # fmt: skip
            rows = []
            for w in windows:
                run_id, name, description, dataset_id, metadata, exp_id = runs[w.run_id]
                rows.append(
                    (run_id, name, description, dataset_id or None, metadata, exp_id, w.start,
                     w.end, w.count)
                )  # fmt: skip
            return expreads.experiments_of(rows, q, self._scores_by(project_id))

    def list_experiment_items(self, project_id: str, q: ExperimentQuery) -> list[dict[str, Any]]:
        """Up to ``q.limit + 1`` experiment items started in the window, newest first (see
        :func:`expreads.list_experiment_items`)."""
        with _reachable():
            runs = self._project_runs(project_id)
            found = self.events.experiment_item_rows(
                project_id, [(r[0], r[1], r[3]) for r in runs.values()], q.filters,
                q.from_start, q.to_start, q.after, q.limit + 1,
            )  # fmt: skip
            rows = []
            for xid, trace, obs, item, version, run_id, *trace_columns in found:
                _, name, description, dataset_id, metadata, _ = runs[run_id]
                rows.append(
                    (xid, trace, obs, item, version, run_id, name, dataset_id or None,
                     description, metadata, *trace_columns)
                )  # fmt: skip
            roots = self.events.root_observations(
                project_id, {(r[1], r[2]) for r in rows if r[2] is not None}
            )
            with self.control.dataset_reads() as cur:
                dataset_items = expreads._dataset_items(cur, project_id, rows)  # type: ignore[arg-type]
            return expreads.experiment_items_of(
                rows, roots, dataset_items, q, self._scores_by(project_id)
            )

    def _project_runs(self, project_id: str) -> dict[str, tuple[Any, ...]]:
        """The project's runs by id: ``(id, name, description, dataset id, metadata text,
        experiment id)``."""
        with self.control.dataset_reads() as cur:
            rows = cur.execute(
                "SELECT id, name, description, dataset_id, metadata, experiment_id "
                "FROM dataset_runs WHERE project_id = ?",
                [project_id],
            ).fetchall()
        return {r[0]: tuple(r) for r in rows}

    def _scores_by(self, project_id: str) -> expreads.ScoresBy:
        def read(column: str, ids: list[str], per_target: int) -> dict[str, Any]:
            return scores_by(self.events.client, project_id, column, ids, per_target)

        return read


def _runs_by_name(
    cur: PgCursor, project_id: str, dataset: str, names: Sequence[str]
) -> list[tuple[str, str, datetime]]:
    """:func:`results.runs_by_name` in portable SQL."""
    ds = results.dataset_id(cur, project_id, dataset)  # type: ignore[arg-type]
    rows = cur.execute(
        "SELECT name, id, created_at FROM dataset_runs WHERE project_id = ? AND dataset_id = ? "
        "AND name IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, ds, list(names)],
    ).fetchall()
    found = {name: (run_id, name, created) for name, run_id, created in rows}
    missing = [n for n in names if n not in found]
    if missing:
        listed = ", ".join(repr(n[:200]) for n in missing[:5])
        raise NotFound(f"dataset {dataset[:200]!r} has no run {listed}")
    return [found[n] for n in names]


def _run_item(row: RunItemRow, run_name: str) -> dict[str, Any]:
    return rundb._run_item(
        (row.id, row.run_id, run_name, row.dataset_item_id, row.trace_id, row.observation_id,
         row.created_at, row.updated_at, row.dataset_item_version, row.output)
    )  # fmt: skip


def _naive(value: datetime | None) -> datetime | None:
    """A time as naive UTC (what the timestamp columns hold)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
