"""Experiments with the real Langfuse SDK, v3, v4 and v5 each in its own environment, against
one live heron: each test creates a dataset and its items, reads it back, runs that major's
experiment flow (v3 ``item.run()`` and its runner, v4/v5 ``run_experiment`` with an item and
a run evaluator, and local data), then checks through heron's API and Langfuse's read-back
paths that the run holds one run item per dataset item, linked to the right trace with the
item version recorded, the item scores on the traces and the run-level score on the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.sdk_envs import run_script
from tests.support.server import HeronProcess

HERE = Path(__file__).parent
SINCE = "2020-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def http(live_server: HeronProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers=live_server.auth, timeout=30) as c:
        yield c


def names(major: int) -> tuple[str, str]:
    """A dataset of the test's own, and a run name."""
    return f"sums-v{major}-{os.urandom(4).hex()}", f"run v{major} nightly"


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def check_run(
    http: httpx.Client, dataset: str, run_name: str, traces: dict[str, str]
) -> dict[str, Any]:
    """The run as ``/api/public/datasets/{name}/runs/{run}`` shows it: one run item per
    dataset item, on the trace that ran it, with the item version it ran against."""
    run = get(http, f"/api/public/datasets/{quote(dataset)}/runs/{quote(run_name, safe='')}")
    assert run["name"] == run_name and run["datasetName"] == dataset
    run_items = run["datasetRunItems"]
    assert {x["datasetItemId"]: x["traceId"] for x in run_items} == traces
    assert all(x["datasetItemVersion"] for x in run_items), run_items
    listed = get(http, f"/api/public/datasets/{quote(dataset)}/runs")["data"]
    assert run_name in [r["name"] for r in listed]
    return run


def check_scores(
    http: httpx.Client, run_id: str, traces: dict[str, str], expected: dict[str, float]
) -> None:
    """``exact_match`` on each item's trace, ``accuracy`` on the run (by its id)."""
    for item_id, trace_id in traces.items():
        scores = get(http, "/api/public/v2/scores", traceId=trace_id)["data"]
        assert [(s["name"], s["value"]) for s in scores] == [("exact_match", expected[item_id])]
    on_run = get(http, "/api/public/v2/scores", datasetRunId=run_id)["data"]
    assert [(s["name"], s["traceId"]) for s in on_run] == [("accuracy", None)]
    assert on_run[0]["value"] == pytest.approx(sum(expected.values()) / len(expected))


def check_experiment(http: httpx.Client, run_id: str, traces: dict[str, str]) -> None:
    """The run through ``/api/public/experiments`` and ``/experiment-items``."""
    (experiment,) = get(http, "/api/public/experiments", fromStartTime=SINCE, id=run_id)["data"]
    assert experiment["itemCount"] == len(traces)
    items = get(http, "/api/public/experiment-items", fromStartTime=SINCE, experimentId=run_id)
    assert {i["experimentItemId"]: i["traceId"] for i in items["data"]} == traces
    assert all(i["experimentItemVersion"] for i in items["data"])


def expected_matches(items: list[str]) -> dict[str, float]:
    """The scripts' third item expects a wrong answer."""
    return {item_id: 0.0 if i == 2 else 1.0 for i, item_id in enumerate(items)}


def test_v3_item_run_and_runner(live_server: HeronProcess, http: httpx.Client) -> None:
    dataset, run_name = names(3)
    out = run_script(3, HERE / "langfuse_experiment_v3.py", live_server.url, dataset, run_name)
    assert sorted(out["fetched"]) == sorted(out["items"])  # get_dataset read every item
    assert out["sdk_run_items"] == out["traces"]  # read back through the SDK's own client
    run = check_run(http, dataset, run_name, out["traces"])
    assert run["id"] == out["run_id"] and run["description"] == "adds two numbers"
    assert run["metadata"] == {"model": "a-1"}
    check_scores(http, run["id"], out["traces"], expected_matches(out["items"]))
    check_experiment(http, run["id"], out["traces"])
    # v3.15's run_experiment: run items posted, spans carrying the run's id
    runner = check_run(http, dataset, run_name + " (runner)", out["runner_traces"])
    assert runner["id"] == out["runner_id"]
    check_scores(http, runner["id"], out["runner_traces"], expected_matches(out["items"]))


def test_v4_run_experiment(live_server: HeronProcess, http: httpx.Client) -> None:
    dataset, run_name = names(4)
    out = run_script(4, HERE / "langfuse_experiment_v4.py", live_server.url, dataset, run_name)
    assert sorted(out["fetched"]) == sorted(out["items"])
    run = check_run(http, dataset, run_name, out["traces"])
    # v4 knows the run by the id POST /dataset-run-items answered
    assert run["id"] == out["dataset_run_id"] == out["experiment_id"]
    assert out["sdk_run"] == {"id": run["id"], "name": run_name, "items": out["traces"]}
    check_scores(http, run["id"], out["traces"], expected_matches(out["items"]))
    check_experiment(http, run["id"], out["traces"])
    sdk = {e["id"]: e for e in out["sdk_experiments"]}
    assert sdk[run["id"]]["metadata"] == {"model": "adder-1"}
    assert [s["name"] for s in sdk[run["id"]]["scores"]] == ["accuracy"]
    # local data: an experiment without a dataset (v4 writes no run-level score for it)
    local = sdk[out["local_id"]]
    assert local["datasetId"] is None and local["itemCount"] == 1


def test_v5_run_experiment(live_server: HeronProcess, http: httpx.Client) -> None:
    dataset, run_name = names(5)
    out = run_script(5, HERE / "langfuse_experiment_v5.py", live_server.url, dataset, run_name)
    assert sorted(out["fetched"]) == sorted(out["items"])
    run = check_run(http, dataset, run_name, out["traces"])
    # v5 sends no run items: the run is made from its spans, with the id the SDK derived
    assert run["id"] == out["experiment_id"] and run["datasetId"] == out["dataset_id"]
    assert run["description"] == "adds two numbers" and run["metadata"] == {"model": "adder-1"}
    check_scores(http, run["id"], out["traces"], expected_matches(out["items"]))
    check_experiment(http, run["id"], out["traces"])
    # heron's run comparison sees the run made from spans, with its scores
    summary = get(http, f"/api/datasets/{quote(dataset)}/runs/summary", runs=run_name)
    (seen,) = summary["runs"]
    assert seen["id"] == run["id"] and seen["items"] == 3
    metrics = {m["name"]: m for m in seen["metrics"]}
    assert metrics["exact_match"]["n"] == 3
    assert [s["name"] for s in seen["run_scores"]] == ["accuracy"]
    # read back through the SDK's experiments API
    sdk = {e["id"]: e for e in out["sdk_experiments"]}
    assert sdk[run["id"]]["itemCount"] == 3 and sdk[run["id"]]["datasetId"] == out["dataset_id"]
    assert [s["name"] for s in sdk[run["id"]]["scores"]] == ["accuracy"]
    items = {i["experimentItemId"]: i for i in out["sdk_items"]}
    assert {k: i["traceId"] for k, i in items.items()} == out["traces"]
    first = items[out["items"][0]]
    assert first["input"] == {"a": 1, "b": 2} and first["output"] == {"answer": "3"}
    assert first["expectedOutput"] == {"answer": "3"} and first["experimentItemVersion"]
    assert first["experimentItemMetadata"] == {"pair": [1, 2]}
    assert [s["name"] for s in first["scores"]] == ["exact_match"]
    # local data: an experiment without a dataset, its run-level score on it
    local = sdk[out["local_id"]]
    assert local["datasetId"] is None and local["itemCount"] == 1
    assert [(s["name"], s["value"]) for s in local["scores"]] == [("accuracy", 1.0)]
    (local_item,) = get(
        http, "/api/public/experiment-items", fromStartTime=SINCE, experimentId=out["local_id"]
    )["data"]
    assert local_item["traceId"] == out["local_traces"][0]
