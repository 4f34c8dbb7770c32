"""Datasets, items, runs and run items written with plain SQL, until the datasets store
(``store/datasets.py``) lands: then each function becomes a call of its store function."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from heron.store import EmbeddedStore


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def add_dataset(store: EmbeddedStore, project_id: str, name: str) -> str:
    dataset_id = uuid.uuid4().hex
    with store._admin() as cur:
        cur.execute(
            "INSERT INTO datasets (project_id, id, name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [project_id, dataset_id, name, _now(), _now()],
        )
    return dataset_id


def add_items(
    store: EmbeddedStore, project_id: str, dataset_id: str, items: Sequence[tuple[str, Any, Any]]
) -> datetime:
    """(id, input, expected output) per item, as one new version of each; its time."""
    version = _now()
    with store._admin() as cur:
        cur.execute(
            "UPDATE dataset_items SET valid_to = ? WHERE project_id = ? AND dataset_id = ? "
            "AND valid_to IS NULL AND list_contains(?, id)",
            [version, project_id, dataset_id, [i for i, _, _ in items]],
        )
        cur.executemany(
            "INSERT INTO dataset_items (project_id, id, dataset_id, valid_from, status, input, "
            "expected_output, created_at) VALUES (?, ?, ?, ?, 'ACTIVE', ?, ?, ?)",
            [[project_id, i, dataset_id, version, _json(x), _json(y), version]
             for i, x, y in items],
        )  # fmt: skip
    return version


def add_run(store: EmbeddedStore, project_id: str, dataset_id: str, name: str) -> str:
    run_id = uuid.uuid4().hex
    with store._admin() as cur:
        cur.execute(
            "INSERT INTO dataset_runs (project_id, id, dataset_id, name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [project_id, run_id, dataset_id, name, _now(), _now()],
        )
    return run_id


def add_run_items(
    store: EmbeddedStore,
    project_id: str,
    run_id: str,
    rows: Sequence[tuple[str, str | None, Any, datetime | None]],
) -> None:
    """(dataset item id, trace id, the run item's own output or None, item version)."""
    now = _now()
    with store._admin() as cur:
        cur.executemany(
            "INSERT INTO dataset_run_items (project_id, id, run_id, dataset_item_id, "
            "dataset_item_version, trace_id, output, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[project_id, uuid.uuid4().hex, run_id, item, version, trace, _json(output), now, now]
             for item, trace, output, version in rows],
        )  # fmt: skip


def add_run_score(
    store: EmbeddedStore, project_id: str, run_id: str, name: str, value: float
) -> None:
    """A run-level score (``dataset_run_id``): the score path does not write one yet."""
    with store._admin() as cur:
        cur.execute(
            "INSERT INTO scores (project_id, id, name, value, data_type, source, timestamp, "
            "dataset_run_id) VALUES (?, ?, ?, ?, 'NUMERIC', 'API', ?, ?)",
            [project_id, uuid.uuid4().hex, name, value, _now(), run_id],
        )
