"""The real Langfuse SDK (v5, installed) against a live `heron serve`: creating a dataset and
its items and reading the dataset back with its items, as of now and as of a version; and
the paths the v3/v4 SDKs call for runs and run items, with names holding ``/`` and spaces
percent-encoded as the SDKs send them (read from the raw path by the real HTTP server)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.support.langfuse_sdk import langfuse_client
from tests.support.server import HeronProcess, ServerProject, new_project


@pytest.fixture(scope="module")
def live(shared_server: HeronProcess) -> ServerProject:
    """A project of the module's own on the run's shared server (its datasets by name)."""
    return new_project(shared_server)


def test_sdk_creates_a_dataset_and_items_and_gets_them_back(live: ServerProject) -> None:
    from langfuse.api.core.api_error import ApiError

    client = langfuse_client(live.url, live.public_key, live.secret_key)
    name = "support/golden set #1"
    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    made = client.create_dataset(
        name=name, description="curated", metadata={"owner": "cx"}, input_schema=schema
    )
    assert made.name == name and made.input_schema == schema
    first = client.create_dataset_item(
        dataset_name=name,
        input={"question": "How do I reset?"},
        expected_output="Settings",
        metadata={"source": "prod"},
        id="reset-1",
    )
    questions = [f"question {i}" for i in range(4)]
    for q in questions:
        client.create_dataset_item(dataset_name=name, input={"question": q})
    changed = client.create_dataset_item(
        dataset_name=name, id="reset-1", expected_output="Settings → Security → Reset"
    )
    assert changed.version is not None and first.version is not None
    assert changed.version > first.version and changed.input == {"question": "How do I reset?"}
    with pytest.raises(ApiError) as refused:
        client.create_dataset_item(dataset_name=name, input={"question": 7})
    assert refused.value.status_code == 400

    dataset = client.get_dataset(name, fetch_items_page_size=2)  # three pages of items
    assert dataset.id == made.id and dataset.description == "curated"
    assert dataset.metadata == {"owner": "cx"} and dataset.input_schema == schema
    by_id = {i.id: i for i in dataset.items}
    assert len(by_id) == 5
    assert by_id["reset-1"].expected_output == "Settings → Security → Reset"
    assert by_id["reset-1"].metadata == {"source": "prod"}
    assert by_id["reset-1"].dataset_name == name and by_id["reset-1"].dataset_id == made.id
    assert sorted(i.input["question"] for i in dataset.items if i.id != "reset-1") == questions

    then = client.get_dataset(name, version=first.version)
    assert [(i.id, i.expected_output) for i in then.items] == [("reset-1", "Settings")]

    listed = client.api.dataset_items.list(dataset_name=name, limit=10)
    assert listed.meta.total_items == 5
    client.api.dataset_items.delete(id="reset-1")
    assert {i.id for i in client.get_dataset(name).items} == set(by_id) - {"reset-1"}
    client.shutdown()


def test_v3_v4_run_paths_with_encoded_names(live: ServerProject) -> None:
    """What the v3/v4 SDKs call: POST /dataset-run-items, then the runs by name."""
    name, run = "evals/nightly run", "2026-01-01/model a"
    with httpx.Client(base_url=live.url, headers=live.auth, timeout=30) as http:
        r = http.post("/api/public/v2/datasets", json={"name": name})
        assert r.status_code == 200, r.text
        item = http.post(
            "/api/public/dataset-items", json={"datasetName": name, "input": "q"}
        ).json()
        r = http.post(
            "/api/public/dataset-run-items",
            json={"runName": run, "datasetItemId": item["id"], "traceId": "t1"},
        )
        assert r.status_code == 200, r.text
        ds, rn = quote(name, safe=""), quote(run, safe="")
        runs = http.get(f"/api/public/datasets/{ds}/runs").json()
        assert [x["name"] for x in runs["data"]] == [run]
        got = http.get(f"/api/public/datasets/{ds}/runs/{rn}").json()
        assert got["datasetName"] == name and got["datasetRunItems"][0]["traceId"] == "t1"
        export = http.get(f"/api/datasets/{ds}/items/export")
        assert export.status_code == 200 and '"input":"q"' in export.text
        assert http.delete(f"/api/public/datasets/{ds}/runs/{rn}").status_code == 200
        assert http.get(f"/api/public/datasets/{ds}/runs/{rn}").status_code == 404
