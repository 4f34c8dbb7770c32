"""The Langfuse SDK majors against a live heron, each in its own environment
(tests/support/sdk_envs.py): v2 sends a whole app through ``/api/public/ingestion`` (traces,
spans, generations, events, updates, scores); v2, v3 and v4 read traces, observations and
sessions back with their own read calls and parse them with their own models (v3 and v4
also send a score as their ``score-create`` ingestion event); v5 pages the v2 observations
API and runs ``run_batched_evaluation``, whose scores heron then lists."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.sdk_envs import run_script
from tests.support.server import HeronProcess

HERE = Path(__file__).parent
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def app(live_server: HeronProcess) -> dict[str, Any]:
    """The v2 app's ids, once it has run; and a TEXT score on its trace (SDK v2 knows none)."""
    ids = run_script(2, HERE / "langfuse_v2_app.py", live_server.url, RUN)
    r = httpx.post(
        live_server.url + "/api/public/scores",
        json={"traceId": ids["trace_id"], "name": "note", "value": "long", "dataType": "TEXT"},
        headers=live_server.auth,
    )
    assert r.status_code == 201, r.text
    return ids


def get(server: HeronProcess, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, headers=server.auth, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_sdk_v2_app_is_stored_as_sent(live_server: HeronProcess, app: dict[str, Any]) -> None:
    trace = get(live_server, f"/api/traces/{app['trace_id']}")
    assert (trace["name"], trace["user_id"], trace["session_id"]) == (
        f"v2-chat-{RUN}", f"v2-user-{RUN}", f"v2-session-{RUN}",
    )  # fmt: skip
    assert (trace["release"], trace["version"], trace["tags"]) == (
        "v2-release", "app-1.2", ["v2", "support"],
    )  # fmt: skip
    assert trace["input"] == {"question": "How do I reset my router?"}
    assert trace["output"] == {"answer": "Hold the reset button for ten seconds."}
    assert trace["metadata"] == {"plan": "pro"}
    assert (trace["observation_count"], trace["error_count"]) == (4, 1)
    roots = {o["name"]: o for o in trace["observations"]}
    assert set(roots) == {"retrieve", "lookup-order"}
    assert (roots["lookup-order"]["level"], roots["lookup-order"]["status_message"]) == (
        "ERROR", "order service down",
    )  # fmt: skip
    retrieve = roots["retrieve"]
    assert retrieve["output"] == {"documents": ["manual.pdf"]} and retrieve["metadata"] == {"k": 3}
    children = {o["name"]: o for o in retrieve["children"]}
    assert (children["cache-miss"]["type"], children["cache-miss"]["level"]) == ("event", "WARNING")
    answer = children["answer"]
    assert (answer["id"], answer["type"], answer["model"]) == (
        app["generation_id"], "generation", "gpt-4o-mini",
    )  # fmt: skip
    assert answer["usage"] == {"input": 120, "output": 45, "total": 165}
    assert answer["cost"]["total"] > 0 and answer["cost_source"] == "computed"
    assert answer["output"] == "Hold the reset button for ten seconds."  # from generation.end
    assert answer["metadata"] == {"attempt": 1}  # from generation.update
    assert answer["model_parameters"]["max_tokens"] == 200
    scores = {s["name"]: s for s in trace["scores"]}
    assert scores["helpful"]["data_type"] == "BOOLEAN" and scores["helpful"]["value"] == 1
    assert scores["helpful"]["comment"] == "user said thanks"
    assert (scores["tone"]["string_value"], scores["tone"]["observation_id"]) == (
        "calm", app["generation_id"],
    )  # fmt: skip
    assert (scores["quality"]["id"], scores["quality"]["value"]) == (f"v2-quality-{RUN}", 0.8)
    empty = get(live_server, f"/api/traces/{app['empty_trace_id']}")
    assert (empty["name"], empty["observation_count"]) == (f"v2-empty-{RUN}", 0)
    listed = get(live_server, "/api/public/traces", userId=f"v2-user-{RUN}")
    assert listed["meta"]["totalItems"] == 2
    assert {t["id"] for t in listed["data"]} == {app["trace_id"], app["empty_trace_id"]}


@pytest.mark.parametrize("major", [2, 3, 4])
def test_each_sdk_major_reads_back_and_scores_through_ingestion(
    live_server: HeronProcess, app: dict[str, Any], major: int
) -> None:
    got = run_script(
        major,
        HERE / "langfuse_reader_app.py",
        live_server.url,
        app["trace_id"],
        f"v2-session-{RUN}",
        app["generation_id"],
    )
    assert got["listed"] == [app["trace_id"]] and got["total"] == 1
    assert got["trace_name"] == f"v2-chat-{RUN}" and got["latency"] > 0
    assert got["types"] == ["EVENT", "GENERATION", "SPAN", "SPAN"]
    scores = {tuple(s) for s in got["scores"]}
    assert {("helpful", "BOOLEAN"), ("tone", "CATEGORICAL"), ("quality", "NUMERIC")} <= scores
    # SDK v2 cannot parse a TEXT score: it reads one as CATEGORICAL; v3 and v4 as TEXT
    assert ("note", "CATEGORICAL" if major == 2 else "TEXT") in scores
    assert got["generations"] == [[app["generation_id"], "gpt-4o-mini", 120, 45]]
    assert got["one"] == [app["generation_id"], "GENERATION", app["span_id"]]
    assert f"v2-session-{RUN}" in got["sessions"]
    assert got["session_traces"] == [app["trace_id"]]
    if major == 4:
        assert len(got["v2_page"]) == 2 and got["v2_cursor"] is True
    score = get(live_server, f"/api/public/scores/score-from-v{major}", consistent="true")
    assert score["traceId"] == app["trace_id"]
    if major > 2:  # create_score(observation_id=...): a score-create event with its fields
        assert (score["observationId"], score["comment"], score["value"]) == (
            app["generation_id"], "through ingestion", 0.5,
        )  # fmt: skip


def test_sdk_v5_pages_observations_and_evaluates_them(
    live_server: HeronProcess, app: dict[str, Any]
) -> None:
    got = run_script(5, HERE / "langfuse_v5_eval_app.py", live_server.url, app["trace_id"])
    pages = got["pages"]
    assert [len(p) for p in pages] == [2, 2]
    starts = [o[2] for p in pages for o in p]
    assert starts == sorted(starts, reverse=True)  # newest first across the cursor
    assert sorted(o[1] for p in pages for o in p) == ["EVENT", "GENERATION", "SPAN", "SPAN"]
    generation = got["generation"]
    assert generation["model"] == "gpt-4o-mini"
    assert generation["usage"] == {"input": 120, "output": 45, "total": 165}
    assert generation["cost"]["total"] > 0
    assert generation["input"] == '[{"role":"user","content":"How do I reset my router?"}]'
    assert generation["output"] == "Hold the reset button for ten seconds."
    assert generation["tags"] == ["v2", "support"] and generation["user_id"] == f"v2-user-{RUN}"
    assert generation["trace_name"] == f"v2-chat-{RUN}"
    assert got["core_has_name"] is True  # core and basic when no fields are named
    assert (got["fetched"], got["processed"], got["scores_created"], got["completed"]) == (
        4, 4, 4, True,
    )  # fmt: skip
    scores = get(
        live_server, "/api/public/v2/scores", traceId=app["trace_id"], name="output_length",
        consistent="true",
    )  # fmt: skip
    by_observation = {s["observationId"]: s for s in scores["data"]}
    assert len(by_observation) == 4
    assert by_observation[app["generation_id"]]["value"] == len(
        "Hold the reset button for ten seconds."
    )
    assert by_observation[app["generation_id"]]["comment"] == "answer"
