"""Scores and score configs with the real Langfuse SDK against a live heron, read back
through Langfuse's score API (``/api/public/v2/scores``) and the SDK's own client (v3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import HeronProcess, new_project

APP = Path(__file__).with_name("langfuse_scores_app.py")


@pytest.fixture(scope="module")
def run(shared_server: HeronProcess) -> dict:
    # a project of the module's own on the run's server: the reads below list its scores
    # and score configs
    server = new_project(shared_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "OTEL_"))}
    env.update(
        LANGFUSE_HOST=server.url,
        LANGFUSE_PUBLIC_KEY=server.public_key,
        LANGFUSE_SECRET_KEY=server.secret_key,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    out = subprocess.run(
        [sys.executable, str(APP)], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    with httpx.Client(base_url=server.url, headers=server.auth, timeout=30) as http:
        r = http.get("/api/public/v2/scores", params={"limit": 100, "consistent": "true"})
        assert r.status_code == 200, r.text
        result["scores"] = r.json()
        result["by_trace"] = http.get(
            "/api/public/v2/scores", params={"traceId": result["trace_id"]}
        ).json()
    result["stderr"] = out.stderr
    return result


def test_configs_through_the_sdk(run: dict) -> None:
    assert run["listed"] == ["quality", "tone", "resolved"] and run["total"] == 3
    assert run["tone_categories"] == [["calm", 1.0], ["rude", 0.0]]
    assert run["resolved_categories"] == ["True", "False"]  # generated, as Langfuse does
    assert run["archived"] is True


def test_scores_from_the_sdk_read_back_in_langfuse_shape(run: dict) -> None:
    items = {s["id"]: s for s in run["scores"]["data"]}
    assert run["scores"]["meta"]["totalItems"] == 4, sorted(items)
    assert "sdk-refused" not in items  # 9 is above the config's maximum 5
    assert "sdk-deleted" not in items  # deleted through langfuse.api.scores.delete
    trace_score = items["sdk-trace-score"]
    assert (trace_score["value"], trace_score["configId"]) == (2.5, run["configs"]["quality"])
    assert trace_score["trace"]["userId"] == "sdk-user"
    assert trace_score["trace"]["tags"] == ["sdk"]
    obs = items["sdk-observation-score"]
    assert (obs["observationId"], obs["traceId"]) == (run["observation_id"], run["trace_id"])
    assert (obs["value"], obs["stringValue"], obs["dataType"]) == (1, "calm", "CATEGORICAL")
    session = items["sdk-session-score"]
    assert (session["sessionId"], session["traceId"], session["trace"]) == (
        "sdk-session", None, None,
    )  # fmt: skip
    assert (session["stringValue"], session["metadata"]) == ("True", {"by": "sdk"})
    [current] = [s for s in items.values() if s["comment"] == "inside a span"]
    assert (current["name"], current["value"], current["traceId"]) == (
        "quality", 4, run["trace_id"],
    )  # fmt: skip
    assert current["observationId"] is None  # score_current_trace scores the trace


def test_filter_by_trace(run: dict) -> None:
    found = run["by_trace"]["data"]
    assert {s["id"] for s in found} >= {"sdk-trace-score", "sdk-observation-score"}
    assert all(s["traceId"] == run["trace_id"] for s in found)


def test_the_sdks_own_score_client_reads_them(run: dict) -> None:
    v3 = run["v3"]
    assert v3["sdk-trace-score"] == ["NUMERIC", 2.5, "trace", run["configs"]["quality"]]
    assert v3["sdk-observation-score"] == ["CATEGORICAL", "calm", "observation",
                                           run["configs"]["tone"]]  # fmt: skip
    assert "sdk-session-score" not in v3  # filtered by the trace
    first, second = run["v3_pages"]
    assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)
