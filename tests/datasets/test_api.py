"""Datasets, items, runs and run items over HTTP in Langfuse's shapes (checked with the
installed Langfuse SDK's models): the app in process on a real store, versioning, schema
validation, names with slashes, project scoping, keys that may not write, bad input."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from langfuse.api import (
    Dataset,
    DatasetItem,
    DeleteDatasetItemResponse,
    PaginatedDatasetItems,
    PaginatedDatasets,
)
from langfuse.api.core.pydantic_utilities import parse_obj_as

from tests.datasets.conftest import client_with, ok, store_of
from tests.support.otlp import request, span
from tests.support.server import PUBLIC_KEY

# the fields of Langfuse's run and run item (SDK v3/v4 models: DatasetRun, DatasetRunItem);
# heron adds runItemCount (lists), experimentId, datasetItemVersion and output
RUN_KEYS = {
    "id",
    "name",
    "description",
    "metadata",
    "datasetId",
    "datasetName",
    "createdAt",
    "updatedAt",
    "experimentId",
}
RUN_ITEM_KEYS = {
    "id",
    "datasetRunId",
    "datasetRunName",
    "datasetItemId",
    "traceId",
    "observationId",
    "createdAt",
    "updatedAt",
    "datasetItemVersion",
    "output",
}


def path(name: str) -> str:
    """A name as the Langfuse SDK puts it in a URL path (every reserved character encoded)."""
    return quote(name, safe="")


def dataset(c: TestClient, name: str, **more: Any) -> dict[str, Any]:
    return ok(c.post("/api/public/v2/datasets", json={"name": name, **more}))


def item(c: TestClient, dataset_name: str, **fields: Any) -> dict[str, Any]:
    body = ok(c.post("/api/public/dataset-items", json={"datasetName": dataset_name, **fields}))
    parse_obj_as(DatasetItem, body)
    return body


def test_dataset_create_get_list_in_langfuse_shape(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    made = dataset(c, "qa/support v2", description="from prod", metadata={"team": "cx"})
    got = parse_obj_as(Dataset, ok(c.get(f"/api/public/v2/datasets/{path('qa/support v2')}")))
    assert got.id == made["id"] and got.name == "qa/support v2"
    assert got.description == "from prod" and got.metadata == {"team": "cx"}
    assert got.input_schema is None and got.created_at.tzinfo is not None
    dataset(c, "second")
    page = parse_obj_as(PaginatedDatasets, ok(c.get("/api/public/v2/datasets?limit=1")))
    assert [d.name for d in page.data] == ["second"]  # newest first
    assert (page.meta.total_items, page.meta.total_pages) == (2, 2)
    # creating again updates what is given, keeps the rest (the SDK sends null for the rest)
    again = dataset(c, "second", description="now described", metadata=None)
    assert again["id"] == page.data[0].id and again["description"] == "now described"
    assert ok(c.get("/api/public/v2/datasets"))["meta"]["totalItems"] == 2
    r = c.get(f"/api/public/v2/datasets/{path('qa/other')}")
    assert r.status_code == 404 and "qa/other" in r.text


def test_items_create_upsert_get_list_delete(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    dataset(c, "faq")
    first = item(
        c,
        "faq",
        input={"q": "reset password?"},
        expectedOutput="Settings → Reset",
        metadata={"lang": "en"},
        sourceTraceId="t1",
    )
    assert first["status"] == "ACTIVE" and first["datasetName"] == "faq"
    assert first["version"] == first["createdAt"] == first["updatedAt"]
    assert first["mediaReferences"] == []
    # an upsert by id: a new version with the fields given, the others kept
    second = item(c, "faq", id=first["id"], expectedOutput="Open Settings, then Reset")
    assert second["input"] == {"q": "reset password?"} and second["metadata"] == {"lang": "en"}
    assert second["expectedOutput"] == "Open Settings, then Reset"
    assert second["version"] > first["version"] and second["createdAt"] == first["createdAt"]
    assert ok(c.get(f"/api/public/dataset-items/{first['id']}")) == second
    own = item(c, "faq", id="my-id-1", input="hello")
    assert own["id"] == "my-id-1"
    listed = parse_obj_as(
        PaginatedDatasetItems, ok(c.get("/api/public/dataset-items?datasetName=faq"))
    )
    assert [i.id for i in listed.data] == ["my-id-1", first["id"]]  # newest first
    assert ok(c.get("/api/public/dataset-items?sourceTraceId=t1"))["data"][0]["id"] == first["id"]
    assert ok(c.get("/api/public/dataset-items?sourceTraceId=nope"))["data"] == []
    # archive: a new version with status ARCHIVED; the status filter is heron's
    item(c, "faq", id="my-id-1", status="ARCHIVED")
    archived = ok(c.get("/api/public/dataset-items?datasetName=faq&status=ARCHIVED"))["data"]
    assert [i["id"] for i in archived] == ["my-id-1"] and archived[0]["input"] == "hello"
    gone = ok(c.delete(f"/api/public/dataset-items/{first['id']}"))
    parse_obj_as(DeleteDatasetItemResponse, gone)
    assert c.get(f"/api/public/dataset-items/{first['id']}").status_code == 404
    assert c.delete(f"/api/public/dataset-items/{first['id']}").status_code == 404
    assert ok(c.get("/api/public/dataset-items?datasetName=faq"))["meta"]["totalItems"] == 1


def test_reads_as_of_a_version_return_the_old_content(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    dataset(c, "versions")
    v1 = item(c, "versions", id="a", input="first wording")
    item(c, "versions", id="b", input="added later")
    v2 = item(c, "versions", id="a", input="second wording")
    c.delete("/api/public/dataset-items/b")

    def as_of(version: str) -> dict[str, Any]:
        body = ok(
            c.get(
                "/api/public/dataset-items", params={"datasetName": "versions", "version": version}
            )
        )
        return {i["id"]: i["input"] for i in body["data"]}

    assert as_of(v1["version"]) == {"a": "first wording"}
    assert as_of(v2["version"]) == {"a": "second wording", "b": "added later"}
    current = ok(c.get("/api/public/dataset-items?datasetName=versions"))["data"]
    assert [(i["id"], i["input"]) for i in current] == [("a", "second wording")]
    assert as_of("2000-01-01T00:00:00Z") == {}
    r = c.get("/api/public/dataset-items", params={"version": v1["version"]})
    assert r.status_code == 400 and "needs datasetName" in r.text


def test_runs_and_run_items_record_the_item_version(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    made = dataset(c, "eval/set")
    v1 = item(c, "eval/set", id="q1", input="v1")
    v2 = item(c, "eval/set", id="q1", input="v2")
    body = {
        "runName": "nightly 1/3",
        "datasetItemId": "q1",
        "traceId": "trace-a",
        "runDescription": "first try",
        "metadata": {"model": "m1"},
    }
    run_item = ok(c.post("/api/public/dataset-run-items", json=body))
    assert set(run_item) == RUN_ITEM_KEYS
    assert run_item["datasetItemVersion"] == v2["version"] and run_item["traceId"] == "trace-a"
    # sent again for the same item: replaced; against an older dataset version: that version
    again = ok(
        c.post(
            "/api/public/dataset-run-items",
            json={
                "runName": "nightly 1/3",
                "datasetItemId": "q1",
                "traceId": "trace-b",
                "observationId": "obs-b",
                "datasetVersion": v1["version"],
                "output": {"answer": 42},
            },
        )
    )
    assert again["id"] == run_item["id"] and again["datasetItemVersion"] == v1["version"]
    assert again["output"] == {"answer": 42} and again["observationId"] == "obs-b"
    runs = ok(c.get(f"/api/public/datasets/{path('eval/set')}/runs"))
    assert runs["meta"]["totalItems"] == 1
    (run,) = runs["data"]
    assert set(run) == RUN_KEYS | {"runItemCount"} and run["runItemCount"] == 1
    assert run["description"] == "first try" and run["metadata"] == {"model": "m1"}
    assert run["datasetId"] == made["id"] and run["datasetName"] == "eval/set"
    one = ok(c.get(f"/api/public/datasets/{path('eval/set')}/runs/{path('nightly 1/3')}"))
    assert set(one) == RUN_KEYS | {"datasetRunItems"}
    assert [x["traceId"] for x in one["datasetRunItems"]] == ["trace-b"]
    page = ok(
        c.get(
            "/api/public/dataset-run-items",
            params={"datasetId": made["id"], "runName": "nightly 1/3"},
        )
    )
    assert [x["id"] for x in page["data"]] == [run_item["id"]]
    assert c.get("/api/public/dataset-run-items?datasetId=x").status_code == 400
    deleted = c.delete(f"/api/public/datasets/{path('eval/set')}/runs/{path('nightly 1/3')}")
    assert deleted.status_code == 200, deleted.text
    assert (
        c.get(f"/api/public/datasets/{path('eval/set')}/runs/{path('nightly 1/3')}").status_code
        == 404
    )
    count = (
        store_of(c)
        .cursor()
        .execute("SELECT count(*) FROM dataset_run_items WHERE id = ?", [run_item["id"]])
        .fetchall()[0][0]
    )
    assert count == 0


def test_run_item_refusals(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    dataset(c, "runs")
    item(c, "runs", id="later", input="x")
    cases = [
        ({"runName": "r", "datasetItemId": "nope", "traceId": "t"}, 404, "nope"),
        ({"runName": "r", "datasetItemId": "later"}, 400, "traceId: required"),
        (
            {"runName": "r", "datasetItemId": "later", "observationId": "no-such"},
            400,
            "observation 'no-such'",
        ),
        (
            {
                "runName": "r",
                "datasetItemId": "later",
                "traceId": "t",
                "datasetVersion": "2001-01-01T00:00:00Z",
            },
            400,
            "had no version",
        ),
        ({"runName": "", "datasetItemId": "later", "traceId": "t"}, 400, "runName"),
        (
            {"runName": "r", "datasetItemId": "later", "traceId": "t", "datasetVersion": "soon"},
            400,
            "datasetVersion",
        ),
    ]
    for body, status, words in cases:
        r = c.post("/api/public/dataset-run-items", json=body)
        assert r.status_code == status and words in r.text, (body, r.text)


def test_schemas_validate_items_and_are_validated(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    schema = {
        "type": "object",
        "required": ["question"],
        "properties": {
            "question": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    made = dataset(c, "typed", inputSchema=schema, expectedOutputSchema={"type": "string"})
    assert made["inputSchema"] == schema
    item(c, "typed", input={"question": "why?", "tags": ["a"]}, expectedOutput="because")
    item(c, "typed", input={"question": "no answer yet"})  # an absent value is not validated
    r = c.post(
        "/api/public/dataset-items",
        json={
            "datasetName": "typed",
            "input": {"question": "q", "tags": ["a", 7]},
        },
    )
    assert r.status_code == 400
    problem = r.json()["error"]["problems"][0]
    assert problem["path"] == "input" and "/tags/1" in problem["message"]
    r = c.post("/api/public/dataset-items", json={"datasetName": "typed", "expectedOutput": 3})
    assert r.status_code == 400 and "expectedOutputSchema" in r.text
    # a schema that cannot be used: 400 with its path
    r = c.post(
        "/api/public/v2/datasets",
        json={
            "name": "broken",
            "inputSchema": {"type": "object", "properties": {"q": {"type": "text"}}},
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["problems"][0]["path"] == "inputSchema.properties.q.type"
    assert c.get("/api/public/v2/datasets/broken").status_code == 404
    r = c.post("/api/public/v2/datasets", json={"name": "broken", "inputSchema": "object"})
    assert r.status_code == 400 and "inputSchema" in r.text
    # a changed schema must accept the current items; {} removes the schema
    r = c.post(
        "/api/public/v2/datasets",
        json={"name": "typed", "expectedOutputSchema": {"type": "string", "minLength": 10}},
    )
    assert r.status_code == 400 and "current items" in r.text and "because" in r.text
    assert dataset(c, "typed", inputSchema={})["inputSchema"] is None
    item(c, "typed", input=["anything", "goes"])


def test_item_ids_are_not_reused_across_datasets(fresh: Callable[..., TestClient]) -> None:
    c = fresh()
    dataset(c, "one")
    dataset(c, "two")
    item(c, "one", id="shared", input=1)
    r = c.post("/api/public/dataset-items", json={"datasetName": "two", "id": "shared"})
    assert r.status_code == 409 and "belongs to dataset 'one'" in r.text
    r = c.post("/api/public/dataset-items", json={"datasetName": "three", "input": 1})
    assert r.status_code == 404 and "three" in r.text


def test_another_project_sees_404(app: TestClient, fresh: Callable[..., TestClient]) -> None:
    mine, theirs = fresh(), fresh()
    made = dataset(mine, "private")
    it = item(mine, "private", id="p1", input="secret")
    ok(
        mine.post(
            "/api/public/dataset-run-items",
            json={"runName": "r", "datasetItemId": "p1", "traceId": "t"},
        )
    )
    for url in (
        "/api/public/v2/datasets/private",
        f"/api/public/dataset-items/{it['id']}",
        "/api/public/datasets/private/runs",
        "/api/public/datasets/private/runs/r",
        "/api/datasets/private/items/export",
        f"/api/public/dataset-run-items?datasetId={made['id']}&runName=r",
    ):
        assert theirs.get(url).status_code == 404, url
    assert ok(theirs.get("/api/public/v2/datasets"))["data"] == []
    assert ok(theirs.get("/api/public/dataset-items?sourceTraceId=t"))["data"] == []
    assert theirs.delete(f"/api/public/dataset-items/{it['id']}").status_code == 404
    assert theirs.delete("/api/public/datasets/private/runs/r").status_code == 404
    r = theirs.post("/api/public/dataset-items", json={"datasetName": "private", "id": "p1"})
    assert r.status_code == 404
    r = theirs.post(
        "/api/public/dataset-run-items",
        json={"runName": "r", "datasetItemId": "p1", "traceId": "t"},
    )
    assert r.status_code == 404
    # the same name in the other project is another dataset
    assert dataset(theirs, "private")["id"] != made["id"]
    assert ok(mine.get(f"/api/public/dataset-items/{it['id']}"))["input"] == "secret"


def test_narrow_keys_and_the_public_key_cannot_write(
    app: TestClient, fresh: Callable[..., TestClient]
) -> None:
    c = fresh()
    dataset(c, "guarded")
    it = item(c, "guarded", input="x")
    store = store_of(app)
    pid = ok(c.get("/api/public/v2/datasets/guarded"))["projectId"]
    writes = [
        ("post", "/api/public/v2/datasets", {"json": {"name": "new"}}),
        ("post", "/api/public/dataset-items", {"json": {"datasetName": "guarded"}}),
        ("delete", f"/api/public/dataset-items/{it['id']}", {}),
        (
            "post",
            "/api/public/dataset-run-items",
            {"json": {"runName": "r", "datasetItemId": it["id"], "traceId": "t"}},
        ),
        ("delete", "/api/public/datasets/guarded/runs/r", {}),
        ("post", "/api/datasets/guarded/items/from-traces", {"json": {}}),
        ("post", "/api/datasets/guarded/items/import?format=jsonl", {"content": b'{"input":1}'}),
    ]
    public = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:".encode()).decode()
    browser = TestClient(app.app, headers={"Authorization": public})
    for scope in ("read", "ingest"):
        narrow = client_with(app, store.create_key(pid, scope=scope)["secret_key"])
        for method, url, kw in writes:
            r = getattr(narrow, method)(url, **kw)
            assert r.status_code == 403 and f"scope {scope!r}" in r.text, (scope, url, r.text)
        expected = 200 if scope == "read" else 403
        assert narrow.get("/api/public/v2/datasets/guarded").status_code == expected
        assert narrow.get("/api/datasets/guarded/items/export").status_code == expected
    for method, url, kw in [*writes, ("get", "/api/public/v2/datasets", {})]:
        r = getattr(browser, method)(url, **kw)
        assert r.status_code == 403 and "public key" in r.text, (url, r.text)
    assert ok(c.get("/api/public/dataset-items?datasetName=guarded"))["meta"]["totalItems"] == 1


@pytest.mark.parametrize(
    ("url", "body", "words"),
    [
        ("/api/public/v2/datasets", b"{not json", "invalid JSON"),
        ("/api/public/v2/datasets", b"[1, 2]", "expected a JSON object"),
        ("/api/public/v2/datasets", b'{"name": "x", "owner": "me"}', "owner: unknown field"),
        ("/api/public/v2/datasets", b'{"name": "   "}', "name: required"),
        ("/api/public/v2/datasets", b'{"name": 7}', "name: expected a string"),
        ("/api/public/v2/datasets", b'{"name": "a\\u0000b"}', "control characters"),
        ("/api/public/v2/datasets", b'{"name": "' + b"n" * 256 + b'"}', "at most 255"),
        ("/api/public/v2/datasets", b'{"name": "x", "description": 5}', "description"),
        ("/api/public/dataset-items", b'{"input": 1}', "datasetName"),
        ("/api/public/dataset-items", b'{"datasetName": "d", "status": "DONE"}', "status"),
        ("/api/public/dataset-items", b'{"datasetName": "d", "id": ""}', "id: 1 to 255"),
        ("/api/public/dataset-items", b'{"datasetName": "d", "sourceTraceId": 5}', "sourceTraceId"),
        ("/api/public/dataset-run-items", b'{"runName": "r"}', "datasetItemId: required"),
        ("/api/public/dataset-run-items", b"null", "expected a JSON object"),
    ],
)
def test_malformed_bodies_are_400_naming_the_problem(
    app: TestClient, url: str, body: bytes, words: str
) -> None:
    r = app.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and words in r.text, r.text


def test_oversized_values_and_bodies_are_refused(app: TestClient) -> None:
    dataset(app, "big")
    huge = "x" * (4 * 1024 * 1024 + 1)
    r = app.post("/api/public/dataset-items", json={"datasetName": "big", "input": huge})
    assert r.status_code == 400 and "input: at most" in r.text
    limit = app.app.state.heron.settings.max_body_bytes  # type: ignore[attr-defined]
    r = app.post(
        "/api/public/dataset-items",
        content=b" " * (limit + 1),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    for bad in ("page=0", "limit=101", "limit=x"):
        r = app.get(f"/api/public/dataset-items?{bad}")
        assert r.status_code == 400, bad
    r = app.get("/api/public/dataset-items?datasetName=big&version=yesterday")
    assert r.status_code == 400 and "version" in r.text


def test_user_values_come_back_exactly(fresh: Callable[..., TestClient]) -> None:
    """Costs in responses are rounded; values of items never are."""
    c = fresh()
    dataset(c, "exact", metadata={"cost": 0.1 + 0.2})
    made = item(
        c,
        "exact",
        input={"total_cost": 0.1 + 0.2},
        expectedOutput={"cost": 0.30000000000000004},
        metadata={"cost": 1e-20},
    )
    got = ok(c.get(f"/api/public/dataset-items/{made['id']}"))
    assert got["input"] == {"total_cost": 0.30000000000000004}
    assert got["expectedOutput"] == {"cost": 0.30000000000000004}
    assert ok(c.get("/api/public/v2/datasets/exact"))["metadata"] == {"cost": 0.30000000000000004}


def test_deleting_a_trace_keeps_items_and_run_items(fresh: Callable[..., TestClient]) -> None:
    """Items are copies; a run item keeps the id of its trace (gone, so no scores)."""
    c = fresh()
    tid = os.urandom(16)
    root = span(
        tid, os.urandom(8), "answer", attributes={"input.value": "q?", "output.value": "a."}
    )
    r = c.post(
        "/v1/traces",
        content=request([root]).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200, r.text
    dataset(c, "kept")
    made = ok(c.post("/api/datasets/kept/items/from-traces", json={"traceIds": [tid.hex()]}))
    assert made == {"created": 1, "skipped": 0}
    (copy,) = ok(c.get("/api/public/dataset-items?datasetName=kept"))["data"]
    ok(
        c.post(
            "/api/public/dataset-run-items",
            json={"runName": "r", "datasetItemId": copy["id"], "traceId": tid.hex()},
        )
    )
    assert c.delete(f"/api/traces/{tid.hex()}").status_code == 204
    assert c.get(f"/api/traces/{tid.hex()}").status_code == 404
    again = ok(c.get(f"/api/public/dataset-items/{copy['id']}"))
    assert (again["input"], again["expectedOutput"]) == ("q?", "a.")
    assert again["sourceTraceId"] == tid.hex()
    run = ok(c.get("/api/public/datasets/kept/runs/r"))
    assert [x["traceId"] for x in run["datasetRunItems"]] == [tid.hex()]
