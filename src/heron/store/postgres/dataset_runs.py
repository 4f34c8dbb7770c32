"""Dataset runs on PostgreSQL: the named, mutable half of experiment runs (their items are
events in ClickHouse, :mod:`heron.store.clickhouse.dataset_run_items`; what needs both is
:mod:`heron.store.cluster_datasets`).

Every run write of a project runs under the project's dataset lock (the advisory lock the
dataset writes take, :mod:`.datasets`), so two replicas creating one run by name never both
insert it; :mod:`.schema_dataset_runs` makes the database refuse a second run of one name in a
dataset anyway (runs of experiments on local data, dataset id ``''``, are found by id only
and may share a name, as on DuckDB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from heron.store import dataset_runs as rundb
from heron.store.postgres.cursor import PgCursor
from heron.store.postgres.transactions import Transactions


class DatasetRuns(Transactions):
    """Dataset runs (a part of ``PostgresControl``)."""

    def ensure_dataset_run(
        self,
        project_id: str,
        dataset_id: str,
        name: str,
        description: str | None = None,
        metadata: Any = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """The dataset's run ``name``, created when missing (see :func:`rundb.ensure_run`)."""
        with self.dataset_writes([project_id]) as cur:
            return rundb.ensure_run(
                cur, project_id, dataset_id, name, description, metadata, experiment_id
            )

    def get_dataset_run_by_id(self, project_id: str, run_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return rundb.run_by_id(cur, project_id, run_id)

    @contextmanager
    def dataset_reads(self) -> Iterator[PgCursor]:
        """A read cursor (what the cluster's composed dataset reads use)."""
        with self._read() as cur:
            yield cur

    @contextmanager
    def dataset_writes(self, project_ids: Iterable[str]) -> Iterator[PgCursor]:
        """One write transaction holding the dataset lock of each project (in one order on
        every replica): while it runs, no other dataset, item, run or run item write of those
        projects does."""
        with self._admin() as cur:
            for key in sorted({dataset_lock(p) for p in project_ids}):
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])
            yield cur


def dataset_lock(project_id: str) -> str:
    """The serial key of a project's dataset writes (the one :mod:`.datasets` takes)."""
    return f"datasets:{project_id}"
