"""``heron.run_experiment`` and ``heron experiments run`` against a live `heron serve` (with
the evaluator runner): the run items link the right traces, the scores land on them, and a
server-side ``equals`` evaluator reads the item's expected output. A dataset per test."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import heron
from heron.sdk.experiments import ExperimentError
from tests.evals.fake_openai import FakeProvider
from tests.runner.test_process import wait_for
from tests.support.server import PUBLIC_KEY, SECRET_KEY, HeronProcess

ENV = {"HERON_RUNNER_TASKS": "heron.evals.task:tasks"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    live = HeronProcess(tmp_path_factory.mktemp("run") / "data", env=ENV).start()
    yield live
    live.stop()


@pytest.fixture
def hr(server: HeronProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("HERON_HOST", "HERON_PUBLIC_KEY", "HERON_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    heron.init(host=server.url, public_key=PUBLIC_KEY, secret_key=SECRET_KEY, flush_interval=0.2)
    yield
    heron.shutdown()


def api(server: HeronProcess, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, server.url + path, headers=server.auth, timeout=30, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def make_dataset(server: HeronProcess, name: str, pairs: list[tuple[Any, Any]]) -> list[str]:
    """A dataset of items ``(input, expected output)``; their ids, in order."""
    api(server, "POST", "/api/public/v2/datasets", json={"name": name})
    ids = []
    for k, (inp, expected) in enumerate(pairs):
        body = {"datasetName": name, "id": f"{name}-{k}", "input": inp, "expectedOutput": expected}
        ids.append(api(server, "POST", "/api/public/dataset-items", json=body)["id"])
    return ids


def run_items(server: HeronProcess, dataset: str, run: str) -> dict[str, str]:
    """``{item id: trace id}`` of a run, as the Langfuse-shaped API returns it."""
    found = api(server, "GET", f"/api/public/datasets/{dataset}/runs/{run}")
    return {x["datasetItemId"]: x["traceId"] for x in found["datasetRunItems"]}


def trace_scores(server: HeronProcess, trace_id: str) -> dict[str, Any]:
    found = api(server, "GET", "/api/public/v2/scores", params={"traceId": trace_id})
    return {s["name"]: s["value"] for s in found["data"]}


def trace(server: HeronProcess, trace_id: str) -> Any:
    return api(server, "GET", f"/api/traces/{trace_id}", params={"consistent": "true"})


def upper(text: str) -> str:
    return text.upper()


def shouting(input: Any, output: Any, expected_output: Any, metadata: Any) -> Any:
    """A local evaluator: a bool score and a dict score with a comment."""
    return [
        output == str(input).upper(),
        {"name": "length", "value": len(output), "comment": f"{len(output)} chars"},
    ]


def test_a_sync_task_with_a_local_and_a_built_in_evaluator(server: HeronProcess, hr: None) -> None:
    ids = make_dataset(server, "sync", [("a", "A"), ("bc", "BC"), ("de", "XX")])
    result = heron.run_experiment(
        "sync",
        upper,
        evaluators=[shouting, heron.check("equals")],
        run_name="r1",
        description="upper-casing",
        progress=False,
    )
    assert result.run_name == "r1" and len(result.rows) == 3 and result.errors == 0
    by_item = {r.item_id: r for r in result.rows}
    assert by_item[ids[0]].output == "A" and by_item[ids[0]].expected_output == "A"
    assert [by_item[i].scores["equals"] for i in ids] == [True, True, False]
    assert by_item[ids[1]].scores == {"shouting": True, "length": 2, "equals": True}
    linked = run_items(server, "sync", "r1")
    assert linked == {r.item_id: r.trace_id for r in result.rows}
    assert heron.flush(10)
    for r in result.rows:  # the scores are on the item's trace, its input and output too
        assert trace_scores(server, r.trace_id) == {
            "shouting": 1,
            "length": len(r.output),
            "equals": int(r.scores["equals"]),
        }
    found = trace(server, by_item[ids[2]].trace_id)
    assert found["name"] == "r1" and "DE" in str(found["output"])
    assert ids[2] in str(found["metadata"])
    summary = {s["name"]: s for s in result.summary()}
    assert summary["equals"] == {"name": "equals", "n": 3, "mean": pytest.approx(2 / 3)}
    assert "equals" in str(result) and "3 items, 0 failed" in str(result)
    # the comparison API reads the same run: the rate of equals over its three items
    answer = api(server, "GET", "/api/datasets/sync/runs/summary", params={"runs": "r1"})
    (run,) = answer["runs"]
    assert run["items"] == 3
    metric = {m["name"]: m for m in run["metrics"]}["equals"]
    assert metric["value"] == pytest.approx(2 / 3) and metric["n"] == 3


def test_an_async_task_runs_concurrently_and_a_failing_item_does_not_stop_the_run(
    server: HeronProcess, hr: None
) -> None:
    ids = make_dataset(server, "async", [(k, k * 2) for k in range(6)])
    running = 0
    most = 0

    async def double(x: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        if x == 3:
            raise RuntimeError("three is unlucky")
        return x * 2

    result = heron.run_experiment(
        "async",
        double,
        evaluators=[heron.check("equals")],
        run_name="r1",
        max_concurrency=3,
        progress=False,
    )
    assert most == 3
    failed = [r for r in result.rows if r.error is not None]
    assert [r.item_id for r in failed] == [ids[3]]
    assert failed[0].error == "RuntimeError: three is unlucky" and failed[0].scores == {}
    assert all(r.scores == {"equals": True} for r in result.rows if r.error is None)
    # the failed item is still a run item, its trace marked ERROR
    linked = run_items(server, "async", "r1")
    assert set(linked) == set(ids) and linked[ids[3]] == failed[0].trace_id
    assert "three is unlucky" in str(trace(server, failed[0].trace_id))
    frame = result.to_pandas()  # a row per item, a column per score; NaN where none
    assert len(frame) == 6 and list(frame["item_id"]) == [r.item_id for r in result.rows]
    assert list(frame["equals"].isna()) == [r.error is not None for r in result.rows]
    assert list(frame.loc[frame["item_id"] == ids[3], "error"]) == [failed[0].error]
    assert frame["output"].dropna().sort_values().tolist() == [0, 2, 4, 8, 10]
    assert {"input", "expected_output", "trace_id", "latency_ms"} <= set(frame.columns)


def test_a_task_taking_item_gets_the_whole_item_and_evaluator_errors_are_per_item(
    server: HeronProcess, hr: None
) -> None:
    make_dataset(server, "whole", [("q", {"answer": 1})])

    def task(*, item: dict[str, Any]) -> Any:
        return item["expectedOutput"]

    def broken(input: Any, output: Any, expected_output: Any, metadata: Any) -> Any:
        raise KeyError("oops")

    result = heron.run_experiment(
        "whole", task, evaluators=[broken, heron.check("equals")], progress=False
    )
    (row,) = result.rows
    assert row.output == {"answer": 1} and row.scores == {"equals": True}
    assert row.evaluator_errors == {"broken": "KeyError: 'oops'"}
    assert result.run_name.startswith("whole-")


def test_usage_errors_raise_experiment_error(server: HeronProcess, hr: None) -> None:
    with pytest.raises(ExperimentError, match="not found"):
        heron.run_experiment("no-such-dataset", upper, progress=False)
    with pytest.raises(ExperimentError, match="unknown check 'equal'"):
        heron.check("equal")
    with pytest.raises(ExperimentError, match="threshold"):
        heron.check("similarity", threshold=3)


def test_a_server_side_equals_evaluator_reads_the_items_expected_output(
    server: HeronProcess, hr: None
) -> None:
    evaluator = {
        "name": "server-equals",
        "type": "code",
        "check": "equals",
        "filter": [{"column": "name", "operator": "=", "value": "judged"}],
        "delay_seconds": 1,  # the run item is posted after the item's spans may arrive
    }
    api(server, "POST", "/api/evaluators", json=evaluator)
    ids = make_dataset(server, "online", [("a", "A"), ("b", "not B")])
    result = heron.run_experiment("online", upper, run_name="judged", progress=False)
    traces = {r.item_id: r.trace_id for r in result.rows}

    def scored() -> bool:
        return all("server-equals" in trace_scores(server, t) for t in traces.values())

    wait_for(scored, 30)
    assert trace_scores(server, traces[ids[0]])["server-equals"] == 1
    assert trace_scores(server, traces[ids[1]])["server-equals"] == 0


def test_a_correctness_judge_grades_outputs_against_the_items_expected_output(
    server: HeronProcess, hr: None
) -> None:
    """An LLM judge (the ``correctness`` template, a local OpenAI-compatible server standing in
    for the provider) reads each item's expected output beside the task's output."""

    def grade(prompt: str) -> str:
        reference = re.search(r"<reference>\s*(.*?)\s*</reference>", prompt, re.S)
        answer = re.search(r"<answer>\s*(.*?)\s*</answer>", prompt, re.S)
        assert reference and answer, prompt
        return "correct" if reference[1] == answer[1] else "incorrect"

    with FakeProvider() as fake:
        fake.decide = grade
        connection = {"name": "judge-x", "base_url": fake.base_url, "model": "gpt-4o-mini",
                      "api_key": "sk-test-experiment-0001", "timeout_seconds": 10}  # fmt: skip
        api(server, "POST", "/api/connections", json=connection)
        evaluator = {
            "name": "correct",
            "type": "llm_judge",
            "connection": "judge-x",
            "template": "correctness",
            "filter": [{"column": "name", "operator": "=", "value": "graded"}],
            "delay_seconds": 1,
        }
        api(server, "POST", "/api/evaluators", json=evaluator)
        ids = make_dataset(server, "quiz", [("paris", "PARIS"), ("rome", "Roma")])
        result = heron.run_experiment("quiz", upper, run_name="graded", progress=False)
        traces = {r.item_id: r.trace_id for r in result.rows}

        def graded() -> bool:
            return all("correct" in trace_scores(server, t) for t in traces.values())

        wait_for(graded, 30)
        for item, label in ((ids[0], "correct"), (ids[1], "incorrect")):
            found = api(server, "GET", "/api/public/v2/scores", params={"traceId": traces[item]})
            (score,) = [s for s in found["data"] if s["name"] == "correct"]
            assert (score["dataType"], score["stringValue"]) == ("CATEGORICAL", label)
        prompts = [r.body["messages"][-1]["content"] for r in fake.requests]
        assert any("<reference>\nRoma\n</reference>" in p for p in prompts), prompts


TASK_MODULE = """
def answer(text):
    if text == "boom":
        raise ValueError("no")
    return text[::-1]
"""


def test_the_cli_runs_a_task_module_and_prints_the_summary(
    server: HeronProcess, tmp_path: Path
) -> None:
    make_dataset(server, "cli", [("ab", "ba"), ("xy", "yx"), ("boom", "moob")])
    (tmp_path / "mytask.py").write_text(TASK_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env.update(HERON_SECRET_KEY=SECRET_KEY, HERON_PUBLIC_KEY=PUBLIC_KEY, COLUMNS="120")
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd() / "src"), str(Path.cwd())])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "heron.cli", "experiments", "run", "--url", server.url]
        return subprocess.run(
            [*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    done = cli(
        "--dataset", "cli", "--task", "mytask:answer", "--run-name", "c1",
        "--evaluator", "equals", "--evaluator", "similarity:threshold=0.5", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # an item failed
    assert "run: c1" in done.stdout and "equals" in done.stdout and "similarity" in done.stdout
    assert "3 items, 1 failed" in done.stdout
    assert "ValueError: no" in done.stderr
    assert len(run_items(server, "cli", "c1")) == 3
    for bad, message in (
        (["--dataset", "cli", "--task", "mytask"], "module:function"),
        (["--dataset", "cli", "--task", "nosuch:answer"], "cannot import"),
        (["--dataset", "cli", "--task", "mytask:missing"], "has no"),
        (["--dataset", "nope", "--task", "mytask:answer"], "not found"),
        (["--dataset", "cli", "--task", "mytask:answer", "--evaluator", "nah"], "unknown check"),
    ):
        done = cli(*bad, "--no-progress")
        assert done.returncode == 2, (bad, done.stdout, done.stderr)
        assert message in done.stderr, (bad, done.stderr)
