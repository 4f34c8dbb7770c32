"""The dataset store on a real DuckDB file: versions stay ordered within one microsecond,
one batch naming an item twice writes one version, as-of reads see deleted items, and runs
and run items as the experiments write them (``ensure_run``, ``put_run_item``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from heron.datasets.spec import DatasetSpec, ItemSpec
from heron.datasets.validation import Invalid
from heron.errors import NotFound
from heron.query.filters import parse_time
from heron.store import EmbeddedStore
from heron.store import datasets as datasetdb
from heron.store.datasets import ItemFilter


@pytest.fixture
def project(store: EmbeddedStore) -> str:
    pid = store.create_project("p")["id"]
    store.create_dataset(pid, DatasetSpec("d"))
    return pid


def versions(store: EmbeddedStore, item_id: str) -> list[tuple[datetime, datetime | None]]:
    rows = store.cursor().execute(
        "SELECT valid_from, valid_to FROM dataset_items WHERE id = ? ORDER BY valid_from",
        [item_id],
    )
    return rows.fetchall()


def test_writes_in_the_same_microsecond_still_make_ordered_versions(
    store: EmbeddedStore, project: str
) -> None:
    at = datetime(2026, 1, 1, 12, 0, 0)
    with store._admin() as cur:
        dataset = datasetdb.require_dataset(cur, project, "d")
        for text in ("one", "two", "three"):
            datasetdb.put_items(cur, project, dataset, [ItemSpec(id="x", input=text)], at=at)
    rows = versions(store, "x")
    assert [r[0] for r in rows] == [
        at,
        at + timedelta(microseconds=1),
        at + timedelta(microseconds=2),
    ]
    assert [r[1] for r in rows] == [rows[1][0], rows[2][0], None]  # each closed by the next
    f = ItemFilter(dataset_id=dataset["id"], version=at + timedelta(microseconds=1))
    (middle,), _ = store.list_dataset_items(project, f, 1, 10)
    assert middle["input"] == "two"


def test_one_batch_naming_an_item_twice_writes_one_version(
    store: EmbeddedStore, project: str
) -> None:
    ids, created = store.put_dataset_items(
        project,
        "d",
        [
            ItemSpec(id="y", input="first", metadata={"a": 1}),
            ItemSpec(id="y", expected_output="second"),
            ItemSpec(input="no id"),
        ],
    )
    assert created == 2 and ids[0] == "y" and len(ids) == 2
    assert len(versions(store, "y")) == 1
    got = store.get_dataset_item(project, "y")
    assert (got["input"], got["expectedOutput"], got["metadata"]) == ("first", "second", {"a": 1})


def test_a_batch_with_one_invalid_item_writes_nothing(store: EmbeddedStore, project: str) -> None:
    store.create_dataset(project, DatasetSpec("d", input_schema={"type": "integer"}))
    with pytest.raises(Invalid) as refused:
        store.put_dataset_items(
            project,
            "d",
            [ItemSpec(input=1, where="line 1: "), ItemSpec(input="x", where="line 2: ")],
        )
    assert refused.value.problems[0][0] == "line 2: input"
    assert store.list_dataset_items(project, ItemFilter(), 1, 10) == ([], 0)


def test_deleted_items_are_read_as_of_earlier_times(store: EmbeddedStore, project: str) -> None:
    made = store.put_dataset_item(project, "d", ItemSpec(id="z", input="kept in history"))
    assert store.delete_dataset_item(project, "z")
    assert store.get_dataset_item(project, "z") is None
    assert not store.delete_dataset_item(project, "z")
    then = ItemFilter(version=parse_time(made["version"], "v"))
    (old,), total = store.list_dataset_items(project, then, 1, 10)
    assert total == 1 and old["input"] == "kept in history"
    # the id comes back as a new item (a new creation time)
    again = store.put_dataset_item(project, "d", ItemSpec(id="z", input="back"))
    assert again["createdAt"] > made["createdAt"] and len(versions(store, "z")) == 2


def test_runs_and_run_items_as_experiments_write_them(store: EmbeddedStore, project: str) -> None:
    dataset = store.get_dataset(project, "d")
    v1 = store.put_dataset_item(project, "d", ItemSpec(id="q", input="v1"))
    v2 = store.put_dataset_item(project, "d", ItemSpec(id="q", input="v2"))
    run = store.ensure_dataset_run(project, dataset["id"], "exp 1", experiment_id="exp-abc")
    assert run["experimentId"] == "exp-abc"
    same = store.ensure_dataset_run(project, dataset["id"], "exp 1", experiment_id="other")
    assert same["id"] == run["id"] and same["experimentId"] == "exp-abc"
    current = store.put_dataset_run_item(project, run["id"], "q", "trace-1", output={"a": 1})
    assert current["datasetItemVersion"] == v2["version"] and current["output"] == {"a": 1}
    # the exact version an experiment ran (langfuse.experiment.item.version)
    pinned = store.put_dataset_run_item(
        project, run["id"], "q", "trace-2", version=parse_time(v1["version"], "v")
    )
    assert pinned["id"] == current["id"] and pinned["datasetItemVersion"] == v1["version"]
    assert pinned["output"] is None and pinned["traceId"] == "trace-2"
    with pytest.raises(NotFound):
        store.put_dataset_run_item(project, "no-such-run", "q", "t")
    with pytest.raises(NotFound):
        store.put_dataset_run_item(project, run["id"], "no-such-item", "t")
    other = store.create_project("other")["id"]
    assert store.get_dataset_run_by_id(other, run["id"]) is None
    with pytest.raises(NotFound):
        store.put_dataset_run_item(other, run["id"], "q", "t")
    assert store.delete_dataset_run(project, dataset["id"], "exp 1")
    assert store.list_dataset_run_items(project, run["id"], 1, 10) == ([], 0)
