"""Datasets and their versioned items on PostgreSQL (:mod:`heron.store.datasets`; items made
from traces, experiment runs and their items read the events' store and are not here).

A write reads the current versions, then closes them and adds the new ones; every dataset
write of a project runs under the project's advisory lock (``serial``), so two replicas
writing one item never both close the same version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.store import datasets as datasetdb
from heron.store import evaluators as evaldb
from heron.store.postgres.transactions import Transactions


class Datasets(Transactions):
    """Datasets and dataset items (a part of ``PostgresControl``)."""

    def create_dataset(self, project_id: str, spec: DatasetSpec) -> dict[str, Any]:
        """Create the dataset ``spec.name``, or update the fields ``spec`` gives of the existing
        one (schemas checked, and a changed schema checked against the current items)."""
        with self._admin(_datasets(project_id)) as cur:
            evaldb.require_project(cur, project_id)
            return datasetdb.put_dataset(cur, project_id, spec)

    def get_dataset(self, project_id: str, name: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return datasetdb.get_dataset(cur, project_id, name)

    def get_dataset_by_id(self, project_id: str, dataset_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return datasetdb.dataset_by_id(cur, project_id, dataset_id)

    def list_datasets(
        self, project_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as cur:
            return datasetdb.list_datasets(cur, project_id, page, limit)

    def put_dataset_items(
        self, project_id: str, dataset_name: str, items: Sequence[ItemSpec]
    ) -> tuple[list[str], int]:
        """Write items into the dataset, all or none (see :func:`datasetdb.put_items`):
        the ids written and how many are new."""
        with self._admin(_datasets(project_id)) as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            return datasetdb.put_items(cur, project_id, dataset, items)

    def put_dataset_item(
        self, project_id: str, dataset_name: str, item: ItemSpec
    ) -> dict[str, Any]:
        """Create or upsert one item; returns its new current version."""
        with self._admin(_datasets(project_id)) as cur:
            dataset = datasetdb.require_dataset(cur, project_id, dataset_name)
            (item_id,), _ = datasetdb.put_items(cur, project_id, dataset, [item])
            found = datasetdb.get_item(cur, project_id, item_id)
            assert found is not None
            return found

    def set_dataset_item_status(self, project_id: str, item_id: str, status: str) -> dict[str, Any]:
        """Archive (``ARCHIVED``) or restore (``ACTIVE``) an item: a new version of it."""
        with self._admin(_datasets(project_id)) as cur:
            return datasetdb.set_item_status(cur, project_id, item_id, status)

    def delete_dataset_item(self, project_id: str, item_id: str) -> bool:
        with self._admin(_datasets(project_id)) as cur:
            return datasetdb.delete_item(cur, project_id, item_id)

    def get_dataset_item(self, project_id: str, item_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return datasetdb.get_item(cur, project_id, item_id)

    def list_dataset_items(
        self,
        project_id: str,
        f: datasetdb.ItemFilter,
        page: int,
        limit: int,
        oldest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as cur:
            return datasetdb.list_items(cur, project_id, f, page, limit, oldest_first)


def _datasets(project_id: str) -> str:
    """The serial key of a project's dataset writes (see ``Transactions._admin``)."""
    return f"datasets:{project_id}"
