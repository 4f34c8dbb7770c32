"""The real Langfuse SDK reading traces, observations, sessions and comments back from a
`heron serve` on the cluster backend (one replica on PostgreSQL and the chdb ClickHouse
shim), an annotation queue's flow there (filled from traces, an item scored and completed,
the labels read back), and SDK v5 experiments made into dataset runs and compared. One
server for the module, a project per test; the same calls on DuckDB are in
tests/server/test_langfuse_reads.py and test_comments.py, and the answers of both stores are
compared in tests/store/test_backend_langfuse.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.support.chdb_server import ChdbServer
from tests.support.langfuse_sdk import langfuse_client
from tests.support.postgres import PostgresServer
from tests.support.sdk_envs import run_script
from tests.support.server import CONSISTENT, HeronProcess, ServerProject, new_project

START_TIMEOUT_S = 90.0
CLIENTS = Path(__file__).parents[1] / "clients"
HERE = Path(__file__).parent
SINCE = "2020-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def server(
    chdb_server: ChdbServer,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HeronProcess]:
    env = {
        "HERON_CLICKHOUSE_URL": chdb_server.database_url("lfx_serve_" + uuid.uuid4().hex[:8]),
        "HERON_POSTGRES_URL": postgres_server.create_database(),
    }
    proc = HeronProcess(tmp_path_factory.mktemp("cluster-lf") / "a", env=env)
    proc.start(timeout=START_TIMEOUT_S)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def project(server: HeronProcess) -> ServerProject:
    return new_project(server)


def at(second: int) -> str:
    return f"2026-04-01T12:00:{second:02d}.000Z"


def ev(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": at(0), "body": body}


def ingest(project: ServerProject) -> None:
    """Three traces t0..t2 ten seconds apart (sessions sa: t0, t1; sb: t2), each a root span
    and a generation; a score on t1."""
    events = []
    for n in range(3):
        tid = f"t{n}"
        events += [
            ev("trace-create", {
                "id": tid, "name": f"turn-{n % 2}", "userId": f"u{n % 2}",
                "sessionId": "sa" if n < 2 else "sb", "tags": ["all", f"n{n}"],
                "input": {"n": n}, "output": f"answer {n}", "metadata": {"n": str(n)},
                "timestamp": at(10 * n),
            }),
            ev("span-create", {"id": f"{tid}-root", "traceId": tid, "name": "handle",
                               "startTime": at(10 * n), "endTime": at(10 * n + 1)}),
            ev("generation-create", {
                "id": f"{tid}-gen", "traceId": tid, "parentObservationId": f"{tid}-root",
                "name": "llm", "startTime": at(10 * n), "endTime": at(10 * n + 1),
                "model": "gpt-4o-mini", "input": [{"role": "user", "content": f"q{n}"}],
                "output": f"a{n}", "usageDetails": {"input": 60, "output": 10},
            }),
        ]  # fmt: skip
    events.append(
        ev("score-create", {"id": "sc1", "traceId": "t1", "name": "quality", "value": 0.5})
    )
    r = httpx.post(
        f"{project.url}/api/public/ingestion",
        json={"batch": events},
        headers=project.auth,
        timeout=30,
    )
    assert r.status_code == 207 and r.json()["errors"] == [], r.text


def sdk(project: ServerProject) -> Any:
    return langfuse_client(
        project.url, project.public_key, project.secret_key, additional_headers=CONSISTENT
    ).api


def test_the_langfuse_sdks_read_traces_observations_and_sessions(project: ServerProject) -> None:
    """SDK v4 (its own environment: SDK v5 has no trace reads) reads traces, observations and
    sessions with its ``api`` clients and parses them with its models; SDK v5 pages the v2
    observations API with a cursor; the trace list's Langfuse filter over HTTP."""
    ingest(project)
    got = run_script(
        4, CLIENTS / "langfuse_reader_app.py", project.url, "t1", "sa", "t1-gen",
        LANGFUSE_PUBLIC_KEY=project.public_key, LANGFUSE_SECRET_KEY=project.secret_key,
    )  # fmt: skip
    assert got["listed"] == ["t0", "t1"] and got["total"] == 2  # api.trace.list(session_id)
    assert got["trace_name"] == "turn-1" and got["latency"] == 1.0  # api.trace.get
    assert got["types"] == ["GENERATION", "SPAN"] and got["scores"] == [["quality", "NUMERIC"]]
    assert got["generations"] == [["t1-gen", "gpt-4o-mini", 60, 10]]
    assert got["one"] == ["t1-gen", "GENERATION", "t1-root"]
    assert got["sessions"] == ["sb", "sa"] and got["session_traces"] == ["t0", "t1"]
    assert len(got["v2_page"]) == 2 and got["v2_cursor"] is False  # both: no next page

    api = sdk(project)
    seen, cursor = [], None
    for _ in range(4):
        batch = api.observations.get_many(fields="core,basic", limit=4, cursor=cursor)
        seen += [o.id for o in batch.data]
        cursor = batch.meta.cursor
        if cursor is None:
            break
    assert seen == [f"t{n}-{k}" for n in (2, 1, 0) for k in ("root", "gen")]
    generations = api.observations.get_many(trace_id="t0", type="GENERATION", fields="core")
    assert [o.id for o in generations.data] == ["t0-gen"]

    with httpx.Client(base_url=project.url, headers=project.auth, timeout=30) as http:

        def listed(**params: Any) -> list[str]:
            r = http.get("/api/public/traces", params=params)
            assert r.status_code == 200, r.text
            return [t["id"] for t in r.json()["data"]]

        name = [{"type": "string", "column": "name", "operator": "=", "value": "turn-0"}]
        assert listed(filter=orjson.dumps(name).decode()) == ["t2", "t0"]
        assert listed(tags=["n2"]) == ["t2"] and listed(userId="u1") == ["t1"]
        assert listed(page=2, limit=1, orderBy="timestamp.asc") == ["t1"]
        r = http.get("/api/public/traces", params={"orderBy": "nope.asc"})
        assert r.status_code == 400 and "orderBy" in r.text


def test_comments_through_the_langfuse_sdk(project: ServerProject) -> None:
    from langfuse.api.core.api_error import ApiError

    ingest(project)
    api = sdk(project)
    on_trace = api.comments.create(
        project_id="ignored", object_type="TRACE", object_id="t0", content="too slow"
    )
    on_obs = api.comments.create(
        project_id="ignored", object_type="OBSERVATION", object_id="t1-gen",
        content="made it up", author_user_id="reviewer-1",
    )  # fmt: skip
    api.comments.create(project_id="ignored", object_type="SESSION", object_id="sa", content="ok")
    got = api.comments.get_by_id(on_obs.id)
    assert got.content == "made it up" and got.author_user_id == "reviewer-1"
    assert [c.id for c in api.comments.get(object_type="TRACE", object_id="t0").data] == [
        on_trace.id
    ]
    everything = api.comments.get(page=1, limit=2)
    assert everything.meta.total_items == 3 and everything.meta.total_pages == 2
    with pytest.raises(ApiError) as refused:
        api.comments.create(project_id="x", object_type="TRACE", object_id="nope", content="x")
    assert refused.value.status_code == 404
    with httpx.Client(base_url=project.url, headers=project.auth, timeout=30) as http:
        r = http.patch(f"/api/public/comments/{on_trace.id}", json={"content": "edited"})
        assert r.status_code == 200 and r.json()["content"] == "edited", r.text
        r = http.delete(f"/api/public/comments/{on_trace.id}")
        assert r.status_code == 202, r.text
        assert http.get(f"/api/public/comments/{on_trace.id}").status_code == 404
    assert api.comments.get().meta.total_items == 2
    # another project's key sees none of them
    other = new_project(project.server)
    assert sdk(other).comments.get().meta.total_items == 0


def test_an_annotation_queue_on_the_cluster(project: ServerProject) -> None:
    ingest(project)
    with httpx.Client(base_url=project.url, headers=project.auth, timeout=30) as http:
        r = http.post(
            "/api/public/score-configs",
            json={"name": "helpful", "dataType": "BOOLEAN"},
        )
        assert r.status_code in (200, 201), r.text
        config = r.json()["id"]
        r = http.post(
            "/api/public/annotation-queues", json={"name": "review", "scoreConfigIds": [config]}
        )
        assert r.status_code in (200, 201), r.text
        queue = r.json()["id"]
        fill = {"filter": [{"column": "tags", "operator": "contains", "value": "all"}], "limit": 2}
        r = http.post(f"/api/annotation-queues/{queue}/fill", json=fill)
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 2
        r = http.post(f"/api/annotation-queues/{queue}/fill", json={"limit": 10})
        assert r.status_code == 200 and r.json()["added"] == 1, r.text  # the one left
        items = http.get(f"/api/public/annotation-queues/{queue}/items").json()["data"]
        assert [i["objectId"] for i in items] == ["t2", "t1", "t0"]
        for item, value in zip(items, (1, 0, 1), strict=True):
            r = http.post(
                "/api/public/scores",
                json={"traceId": item["objectId"], "name": "helpful", "value": value,
                      "dataType": "BOOLEAN", "configId": config, "queueId": queue},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            r = http.patch(
                f"/api/public/annotation-queues/{queue}/items/{item['id']}",
                json={"status": "COMPLETED"},
            )
            assert r.status_code == 200 and r.json()["status"] == "COMPLETED", r.text
        r = http.post(
            "/api/evaluators/drafts/from-label",
            json={"scoreName": "helpful", "positive": True, "kind": "code"},  # ANNOTATION scores
        )
        assert r.status_code == 200, r.text
        draft = r.json()  # from human_labels: the latest label of each trace
        assert (draft["positives"], draft["negatives"]) == (2, 1)
        r = http.get(f"/api/annotation-queues/{queue}/agreement")  # reads queue_scores
        assert r.status_code == 200, r.text
        [helpful] = r.json()["configs"]
        assert helpful["configId"] == config and helpful["items"] == 0  # one rater only


# -- experiments: runs made from the SDK's experiment spans, compared ---------------------


@pytest.fixture(scope="module")
def http(server: HeronProcess) -> Iterator[httpx.Client]:
    headers = {**server.auth, "X-Heron-Consistent": "true"}  # read what was acknowledged
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_langfuse_v5_experiments_become_runs_that_compare(
    server: HeronProcess, http: httpx.Client
) -> None:
    """The Langfuse SDK v5's ``run_experiment`` (a real SDK process) twice: v5 sends no run
    items, so the server's write path makes the runs and run items from the experiment
    spans; the runs are read through Langfuse's dataset-run and experiments APIs and
    compared through ``/api/datasets/{name}/runs/compare``."""
    dataset = f"sums-{os.urandom(4).hex()}"
    script = HERE / "cluster_experiment_v5.py"
    base = run_script(5, script, server.url, dataset, "baseline", "0", "create")
    cand = run_script(5, script, server.url, dataset, "candidate", "1")
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
