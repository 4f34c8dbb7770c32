"""Experiment spans as the Langfuse SDKs send them (v5's attributes; v4's per-key metadata)
becoming runs and run items in the store, read back through ``/api/public/experiments`` and
``/api/public/experiment-items``; run-level scores; bad input; project scoping. The real app
in process (the SDKs themselves run in tests/clients/test_langfuse_experiments.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.store.dataset_runs import experiment_run_id
from tests.conftest import make_settings
from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, PUBLIC_KEY, SECRET_KEY

PB = {"Content-Type": "application/x-protobuf"}
SINCE = "2025-10-01T00:00:00Z"  # before T0_NS (2025-10-09)
E = "langfuse.experiment."


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module; each test uses experiment ids of its own."""
    settings = make_settings(tmp_path_factory.mktemp("experiments"))
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        yield c


@pytest.fixture(scope="module")
def other(app: TestClient) -> TestClient:
    """A client with a full key of another project."""
    store = app.app.state.heron.store  # type: ignore[attr-defined]
    key = store.create_key(store.create_project("other")["id"])["secret_key"]
    return TestClient(app.app, headers={**CONSISTENT, "Authorization": f"Bearer {key}"})


def new_id() -> str:
    return os.urandom(8).hex()


def item_trace(
    experiment_id: str,
    run_name: str,
    item_id: str,
    *,
    dataset_id: str | None = "ds-1",
    start_ns: int = T0_NS,
    v4: bool = False,
    error: bool = False,
    version: str | None = None,
    answer: str = "3",
) -> tuple[str, str, list[Any]]:
    """One experiment item's spans as the SDK sends them: the item-run root, the task span
    (the item's root observation) and an LLM call under it. Returns (trace id, task span id,
    spans)."""
    tid, run_span, task, llm = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    propagated: dict[str, Any] = {
        E + "id": experiment_id,
        E + "name": run_name,
        E + "item.id": item_id,
        E + "item.root_observation_id": task.hex(),
        "langfuse.environment": "sdk-experiment",
    }
    if dataset_id:
        propagated[E + "dataset.id"] = dataset_id
    if v4:  # v4 sends metadata one attribute per key, each value JSON text
        propagated[E + "metadata.model"] = '"adder-1"'
        propagated[E + "item.metadata.pair"] = "[1, 2]"
    else:
        propagated[E + "metadata"] = '{"model": "adder-1"}'
        propagated[E + "item.metadata"] = '{"pair": [1, 2]}'
    own = {E + "description": "adds", E + "item.expected_output": '{"answer": "3"}'}
    if version:
        own[E + "item.version"] = version
    io = {
        "langfuse.observation.input": '{"a": 1, "b": 2}',
        "langfuse.observation.output": json.dumps({"answer": answer}),
    }
    spans = [
        span(tid, run_span, "experiment-item-run", start_ns=start_ns, duration_ms=300,
             attributes={**propagated, **own, **io}),
        span(tid, task, "experiment-item-task", parent=run_span, start_ns=start_ns + 1000,
             duration_ms=200, attributes={**propagated, **own, **io},
             error="boom" if error else None),
        span(tid, llm, "chat", parent=task, start_ns=start_ns + 2000, duration_ms=100,
             attributes=propagated),
    ]  # fmt: skip
    return tid.hex(), task.hex(), spans


def send(c: TestClient, spans: list[Any]) -> None:
    r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text


def experiments(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.get("/api/public/experiments", params={"fromStartTime": SINCE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def items(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.get("/api/public/experiment-items", params={"fromStartTime": SINCE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_spans_make_a_run_with_one_item_per_dataset_item(app: TestClient) -> None:
    exp = new_id()
    t1, task1, spans1 = item_trace(exp, "run-a", "item-1")
    t2, task2, spans2 = item_trace(exp, "run-a", "item-2", start_ns=T0_NS + 10**9, error=True)
    send(app, spans1)
    send(app, spans2[2:])  # a child first: the run item is made from whatever span comes
    send(app, spans2[:2])
    got = experiments(app, id=exp, fields="core,metadata")
    assert got["meta"] == {}
    (run,) = got["data"]
    assert run["id"] == exp and run["name"] == "run-a" and run["datasetId"] == "ds-1"
    assert run["itemCount"] == 2 and run["description"] == "adds"
    assert run["metadata"] == {"model": "adder-1"}
    assert run["startTime"] < run["endTime"] and run["startTime"].startswith("2025-10-09")
    listed = items(
        app, experimentId=exp, fields="core,dataset,io,metadata,itemMetadata,experimentMetadata"
    )["data"]
    assert [i["traceId"] for i in listed] == [t2, t1]  # newest first
    by_item = {i["experimentItemId"]: i for i in listed}
    first = by_item["item-1"]
    assert first["experimentId"] == exp and first["experimentName"] == "run-a"
    assert first["experimentDatasetId"] == "ds-1"
    assert first["experimentItemVersion"] is None  # heron has no such dataset item
    assert first["level"] == "DEFAULT" and by_item["item-2"]["level"] == "ERROR"  # the task's
    assert first["environment"] == "sdk-experiment"
    assert first["input"] == {"a": 1, "b": 2} and first["output"] == {"answer": "3"}
    assert first["expectedOutput"] == {"answer": "3"}
    assert first["experimentItemMetadata"] == {"pair": [1, 2]}
    assert first["experimentMetadata"] == {"model": "adder-1"}
    assert first["experimentDescription"] == "adds"
    assert not any(k.startswith(E) for k in first["metadata"])
    # the run item links the task span, the item's root observation
    store = app.app.state.heron.store  # type: ignore[attr-defined]
    rows = (
        store.cursor()
        .execute(
            "SELECT dataset_item_id, trace_id, observation_id FROM dataset_run_items "
            "WHERE run_id = ? ORDER BY dataset_item_id",
            [exp],
        )
        .fetchall()
    )
    assert rows == [("item-1", t1, task1), ("item-2", t2, task2)]


def test_v4_metadata_one_attribute_per_key(app: TestClient) -> None:
    exp = new_id()
    send(app, item_trace(exp, "run-v4", "item-1", v4=True)[2])
    (run,) = experiments(app, id=exp, fields="metadata")["data"]
    assert run["metadata"] == {"model": "adder-1"}
    (item,) = items(app, experimentId=exp, fields="core,itemMetadata")["data"]
    assert item["experimentItemMetadata"] == {"pair": [1, 2]}


def test_resent_spans_and_reruns_keep_one_item_per_dataset_item(app: TestClient) -> None:
    exp = new_id()
    _, _, spans = item_trace(exp, "run-again", "item-1")
    send(app, spans)
    send(app, spans)  # the exporter retried
    t_new, _, rerun = item_trace(exp, "run-again", "item-1", start_ns=T0_NS + 10**9)
    send(app, rerun)  # the item run again in the same run: the new trace wins
    (item,) = items(app, experimentId=exp)["data"]
    assert item["traceId"] == t_new
    late = [s for s in spans if s.name == "chat"]
    late[0].span_id = new_span_id()  # a span of the first trace, exported late
    send(app, late)
    assert [i["traceId"] for i in items(app, experimentId=exp)["data"]] == [t_new]
    (run,) = experiments(app, id=exp)["data"]
    assert run["itemCount"] == 1


def test_a_run_is_found_by_its_id_then_by_its_dataset_and_name(app: TestClient) -> None:
    exp, other_id, dataset = new_id(), new_id(), "ds-" + new_id()
    send(app, item_trace(exp, "nightly", "item-1", dataset_id=dataset)[2])
    # another id, same dataset and run name (e.g. a client that could not derive the id)
    send(app, item_trace(other_id, "nightly", "item-2", dataset_id=dataset)[2])
    (run,) = experiments(app, datasetId=dataset)["data"]
    assert run["id"] == exp and run["itemCount"] == 2
    assert experiments(app, id=other_id)["data"] == []


def test_local_data_experiments_are_runs_without_a_dataset(app: TestClient) -> None:
    first, second = new_id(), new_id()
    send(app, item_trace(first, "local run", "d8497d9d82770a70", dataset_id=None)[2])
    send(app, item_trace(second, "local run", "d8497d9d82770a70", dataset_id=None)[2])
    got = experiments(app, id=f"{first},{second}")["data"]
    assert {r["id"] for r in got} == {first, second}  # not grouped by name without a dataset
    assert all(r["datasetId"] is None and r["itemCount"] == 1 for r in got)
    (item,) = items(app, experimentId=first)["data"]
    assert item["experimentDatasetId"] is None and item["experimentItemVersion"] is None
    assert item["experimentItemId"] == "d8497d9d82770a70"
    empty = json.dumps([{"column": "datasetId", "operator": "is null"}])
    assert {r["id"] for r in experiments(app, id=f"{first},{second}", filter=empty)["data"]} == {
        first,
        second,
    }


def test_item_version_is_the_row_valid_when_the_item_ran(app: TestClient) -> None:
    dataset = "ds-" + new_id()
    r = app.post("/api/public/v2/datasets", json={"name": dataset})
    assert r.status_code == 200, r.text
    dataset_id = r.json()["id"]

    def write(answer: str) -> str:  # a new version of the item; returns its version
        body = {"datasetName": dataset, "id": item, "input": 1, "expectedOutput": answer}
        r = app.post("/api/public/dataset-items", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["version"])

    item = "it-" + new_id()
    v1 = write("first")
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    v2 = write("second")  # the item was edited after `between`
    ns = int(between.timestamp() * 1e9)
    dated, started, current = new_id(), new_id(), new_id()
    iso = between.isoformat()
    for exp, kwargs in (
        (dated, {"version": iso}),  # v5 with get_dataset(version=...): the dataset then
        (started, {"start_ns": ns}),  # no version sent: the item as it was when it ran
        (current, {}),
    ):
        send(app, item_trace(exp, exp, item, dataset_id=dataset_id, **kwargs)[2])
    got = {
        exp: items(app, experimentId=exp, fields="core,dataset,io")["data"][0]
        for exp in (dated, started, current)
    }
    assert [got[e]["experimentItemVersion"] for e in (dated, started)] == [v1, v1]
    assert [got[e]["expectedOutput"] for e in (dated, started)] == ["first", "first"]
    # T0_NS is before the item existed: the current version, as the dataset API records
    assert got[current]["experimentItemVersion"] == v2
    assert got[current]["expectedOutput"] == "second"  # the version's, not the span's
    run = app.get(f"/api/public/datasets/{dataset}/runs/{dated}").json()
    assert [(x["datasetItemId"], x["datasetItemVersion"]) for x in run["datasetRunItems"]] == [
        (item, v1)
    ]


def test_run_level_and_item_scores(app: TestClient) -> None:
    exp = new_id()
    trace, task, spans = item_trace(exp, "scored", "item-1")
    send(app, spans)
    scores = [
        {"name": "accuracy", "value": 0.5, "datasetRunId": exp, "comment": "share exact"},
        {"name": "exact_match", "value": 1.0, "traceId": trace, "observationId": task},
    ]
    r = app.post("/api/public/scores", json=scores)
    assert r.status_code == 202, r.text
    (run,) = experiments(app, id=exp, fields="scores")["data"]
    (score,) = run["scores"]
    assert score["name"] == "accuracy" and score["value"] == 0.5
    assert score["subject"] == {"kind": "experiment", "id": exp}
    (item,) = items(app, experimentId=exp, fields="scores")["data"]
    assert [s["name"] for s in item["scores"]] == ["exact_match"]
    by_run = app.get("/api/public/v2/scores", params={"datasetRunId": exp}).json()["data"]
    assert [(s["name"], s["datasetRunId"], s["traceId"]) for s in by_run] == [
        ("accuracy", exp, None)
    ]
    public = TestClient(app.app, headers={"Authorization": _basic(PUBLIC_KEY, "")})
    r = public.post("/api/public/scores", json={"name": "x", "value": 1, "datasetRunId": exp})
    assert r.status_code == 403 and "secret key" in r.json()["error"]["message"], r.text


def test_pages_by_cursor_latest_activity_first(app: TestClient) -> None:
    dataset = "ds-" + new_id()
    ids = [new_id() for _ in range(3)]
    for i, exp in enumerate(ids):
        send(app, item_trace(exp, f"page {i}", "item-1", dataset_id=dataset,
                             start_ns=T0_NS + i * 10**9)[2])  # fmt: skip
    seen, cursor = [], None
    for _ in range(3):
        got = experiments(app, datasetId=dataset, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [r["id"] for r in got["data"]]
        cursor = got["meta"].get("cursor")
    assert seen == ids[::-1] and cursor is None
    first = items(app, datasetId=dataset, limit=2)
    rest = items(app, datasetId=dataset, limit=2, cursor=first["meta"]["cursor"])
    assert [i["experimentId"] for i in first["data"] + rest["data"]] == ids[::-1]
    assert "cursor" not in rest["meta"]
    window = {"fromStartTime": "2025-10-09T00:00:00Z", "toStartTime": _iso(T0_NS + 10**9)}
    assert [r["id"] for r in experiments(app, datasetId=dataset, **window)["data"]] == ids[:1]
    by_name = json.dumps([{"column": "name", "operator": "any of", "value": ["page 1"]}])
    assert [r["id"] for r in experiments(app, datasetId=dataset, filter=by_name)["data"]] == [
        ids[1]
    ]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/public/experiments", {}, "fromStartTime: required"),
        ("/api/public/experiments", {"fromStartTime": "yesterday"}, "fromStartTime: expected"),
        ("/api/public/experiments", {"fromStartTime": SINCE, "limit": 101}, "limit: between"),
        ("/api/public/experiments", {"fromStartTime": SINCE, "scoreLimit": 0}, "scoreLimit"),
        ("/api/public/experiments", {"fromStartTime": SINCE, "fields": "io"}, "fields: 'io'"),
        ("/api/public/experiments", {"fromStartTime": SINCE, "cursor": "abc"}, "cursor: not"),
        (
            "/api/public/experiments",
            {"fromStartTime": SINCE, "filter": '[{"column": "traceId", "operator": "="}]'},
            "unknown column 'traceId'",
        ),
        ("/api/public/experiments", {"fromStartTime": SINCE, "filter": "{"}, "filter: invalid"),
        ("/api/public/experiment-items", {}, "fromStartTime: required"),
        ("/api/public/experiment-items", {"fromStartTime": SINCE, "fields": "x"}, "fields: 'x'"),
        (
            "/api/public/experiment-items",
            {"fromStartTime": SINCE, "experimentId": ",".join(["a"] * 1001)},
            "experimentId: at most 1000",
        ),
    ],
)
def test_bad_requests_are_400s_naming_the_parameter(
    app: TestClient, path: str, params: dict[str, Any], message: str
) -> None:
    r = app.get(path, params=params)
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text


def test_each_project_sees_its_own_experiments(app: TestClient, other: TestClient) -> None:
    exp = new_id()
    send(app, item_trace(exp, "mine", "item-1")[2])
    assert experiments(other, id=exp)["data"] == []
    assert items(other, experimentId=exp)["data"] == []
    send(other, item_trace(exp, "theirs", "item-1")[2])  # the same experiment id elsewhere
    assert [r["name"] for r in experiments(other, id=exp)["data"]] == ["theirs"]
    assert [r["name"] for r in experiments(app, id=exp)["data"]] == ["mine"]
    r = TestClient(app.app).get("/api/public/experiments", params={"fromStartTime": SINCE})
    assert r.status_code == 401


@pytest.mark.parametrize("run_name", ["run 1", 'ünï "q" / \\ 😀 \u2028'])
def test_run_ids_are_the_ones_the_sdk_v5_derives(run_name: str) -> None:
    # langfuse/_client/client.py _create_experiment_id, as the SDK v5 computes it
    payload = json.dumps(
        ["langfuse-experiment-v1", "prj_1", "ds_1", run_name],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    sdk = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    assert experiment_run_id("prj_1", "ds_1", run_name) == sdk


def _basic(public: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()
