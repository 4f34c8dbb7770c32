"""Experiments on `heron serve` on the cluster backend, end to end: the Langfuse SDK v5's
``run_experiment`` (a real SDK process) against a replica on PostgreSQL (tests/support/
postgres.py) and ClickHouse (chdb, tests/support/chdb_server.py). v5 sends no run items:
the replica's write path makes the runs and run items from the experiment spans; the runs
are then read through Langfuse's dataset-run and experiments APIs and compared through
``/api/datasets/{name}/runs/compare``. One module-scoped replica."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.chdb_server import ChdbServer
from tests.support.chdb_server import chdb_server as chdb_server  # the fixture
from tests.support.postgres import PostgresServer
from tests.support.sdk_envs import run_script
from tests.support.server import HeronProcess

HERE = Path(__file__).parent
SINCE = "2020-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def replica(
    chdb_server: ChdbServer,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HeronProcess]:
    env = {
        "HERON_CLICKHOUSE_URL": chdb_server.database_url("datasets_" + uuid.uuid4().hex[:8]),
        "HERON_POSTGRES_URL": postgres_server.create_database(),
    }
    server = HeronProcess(tmp_path_factory.mktemp("cluster-datasets"), env=env)
    server.start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(replica: HeronProcess) -> Iterator[httpx.Client]:
    headers = {**replica.auth, "X-Heron-Consistent": "true"}  # read what was acknowledged
    with httpx.Client(base_url=replica.url, headers=headers, timeout=60) as client:
        yield client


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_langfuse_v5_experiments_become_runs_that_compare(
    replica: HeronProcess, http: httpx.Client
) -> None:
    dataset = f"sums-{os.urandom(4).hex()}"
    script = HERE / "cluster_experiment_v5.py"
    base = run_script(5, script, replica.url, dataset, "baseline", "0", "create")
    cand = run_script(5, script, replica.url, dataset, "candidate", "1")
    assert sorted(base["traces"]) == sorted(cand["traces"]) and len(base["traces"]) == 3

    for out, name in ((base, "baseline"), (cand, "candidate")):
        run = get(http, f"/api/public/datasets/{quote(dataset)}/runs/{name}")
        assert run["id"] == out["experiment_id"]  # the id the SDK derived
        assert {x["datasetItemId"]: x["traceId"] for x in run["datasetRunItems"]} == out["traces"]
        assert all(x["datasetItemVersion"] for x in run["datasetRunItems"])
        (experiment,) = get(
            http, "/api/public/experiments", fromStartTime=SINCE, id=run["id"], fields="core,scores"
        )["data"]
        assert experiment["itemCount"] == 3 and experiment["name"] == name
        assert [s["name"] for s in experiment["scores"]] == ["accuracy"]
        items = get(
            http, "/api/public/experiment-items", fromStartTime=SINCE, experimentId=run["id"],
            fields="core,io",
        )["data"]  # fmt: skip
        assert {i["experimentItemId"]: i["traceId"] for i in items} == out["traces"]
        assert all(i["expectedOutput"] == {"answer": str(sum(i["input"].values()))} for i in items)
    listed = get(http, f"/api/public/datasets/{quote(dataset)}/runs")["data"]
    assert sorted((r["name"], r["runItemCount"]) for r in listed) == [
        ("baseline", 3),
        ("candidate", 3),
    ]

    compared = get(
        http, f"/api/datasets/{quote(dataset)}/runs/compare", baseline="baseline",
        candidate="candidate",
    )  # fmt: skip
    assert compared["pairs"] == {"paired": 3, "only_baseline": 0, "only_candidate": 0}
    rows = {r["name"]: r for r in compared["rows"]}
    exact = rows["exact_match"]
    assert (exact["baseline"], exact["candidate"], exact["n_pairs"]) == (1.0, 0.0, 3)
    assert exact["difference"] == -1.0
    assert rows["latency"]["n_pairs"] == 3  # every item's trace found with its figures

    summary = get(http, f"/api/datasets/{quote(dataset)}/runs/summary", runs="baseline,candidate")
    assert [[s["name"] for s in r["run_scores"]] for r in summary["runs"]] == [["accuracy"]] * 2
    side = get(http, f"/api/datasets/{quote(dataset)}/runs/items", runs="baseline,candidate")
    assert len(side["data"]) == 3
    for row in side["data"]:
        a, b = row["item"]["input"]["a"], row["item"]["input"]["b"]
        assert row["item"]["expected_output"] == {"answer": str(a + b)}
        outputs = [r["output"] for r in row["runs"]]  # each run's trace output
        assert outputs == [{"answer": str(a + b)}, {"answer": str(a + b + 1)}]
        assert row["differences"][0]["scores"] == {"exact_match": -1.0}
