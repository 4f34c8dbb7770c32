"""The Langfuse Python SDK, pointed at heron by environment variables alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.server import HeronProcess, new_project

APP = Path(__file__).with_name("langfuse_app.py")


@pytest.fixture(scope="module")
def run(shared_server: HeronProcess) -> dict:
    # a project of the module's own on the run's server: the reads below list its scores,
    # configs and users
    server = new_project(shared_server)
    fake = FakeOpenAI().start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "OTEL_"))}
        env.update(
            # what a user moving from Langfuse changes: where to send, and a heron key pair
            LANGFUSE_HOST=server.url,
            LANGFUSE_PUBLIC_KEY=server.public_key,
            LANGFUSE_SECRET_KEY=server.secret_key,
            # their own settings, unchanged
            LANGFUSE_RELEASE="2026.11.3",
            LANGFUSE_TRACING_ENVIRONMENT="staging",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY=fake.api_key,
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        )
        out = subprocess.run(
            [sys.executable, str(APP)], capture_output=True, text=True, timeout=120, env=env
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=30) as http:
            result["trace"] = http.get(f"/api/traces/{result['trace_id']}").json()
            result["failed"] = http.get(f"/api/traces/{result['failed_trace']}").json()
            result["users"] = http.get("/api/users").json()["data"]
        result["stderr"] = out.stderr
        yield result
    finally:
        fake.stop()


def walk(observations: list[dict]) -> list[dict]:
    out = []
    for o in observations:
        out.append(o)
        out.extend(walk(o["children"]))
    return out


def test_sdk_reaches_heron_and_auth_check_passes(run: dict) -> None:
    assert run["auth_check"] is True
    assert "error" not in run["stderr"].lower(), run["stderr"][-2000:]


def test_observe_tree_and_trace_attributes(run: dict) -> None:
    t = run["trace"]
    assert t["name"] == "support-turn"
    assert (t["user_id"], t["session_id"]) == ("lf-user-1", "lf-session-1")
    assert set(t["tags"]) == {"langfuse", "beta"}
    assert t["metadata"].get("plan") == "pro"
    assert (t["release"], t["version"], t["environment"]) == ("2026.11.3", "7", "staging")
    [root] = t["observations"]
    assert root["name"] == "support-turn"
    nodes = {o["name"]: o for o in walk(t["observations"])}
    assert nodes["answer"]["parent_id"] == root["id"]
    assert nodes["lookup_order"]["type"] == "tool"
    assert nodes["lookup_order"]["parent_id"] == nodes["answer"]["id"]
    assert nodes["lookup_order"]["output"] == {"order": "A-17", "status": "shipped"}
    assert t["input"] == {"args": ["Where is my order A-17?"], "kwargs": {}}
    assert t["output"] == [run["output"], run["trace_id"]]


def test_openai_integration_generation(run: dict) -> None:
    gens = [o for o in walk(run["trace"]["observations"]) if o["type"] == "generation"]
    assert len(gens) == 1
    g = gens[0]
    assert g["model"].startswith("gpt-4o-mini")
    assert g["model_parameters"].get("temperature") == 0.2
    assert g["usage"]["input"] > 0 and g["usage"]["output"] > 0
    assert g["total_cost"] and g["total_cost"] > 0
    assert "Acme support assistant" in json.dumps(g["input"])
    assert run["output"] in json.dumps(g["output"])


def test_errors_are_level_error(run: dict) -> None:
    f = run["failed"]
    assert f["error_count"] >= 1 and f["level"] == "ERROR"
    broken = next(o for o in walk(f["observations"]) if o["name"] == "broken-turn")
    assert broken["level"] == "ERROR"
    assert "knowledge base is unreachable" in (broken["status_message"] or "")


def test_scores(run: dict) -> None:
    scores = {s["name"]: s for s in run["trace"]["scores"]}
    assert scores["helpfulness"]["value"] == 0.9 and scores["helpfulness"]["comment"] == "nice"
    assert (scores["resolved"]["data_type"], scores["resolved"]["value"]) == ("BOOLEAN", 1.0)
    assert scores["sentiment"]["string_value"] == "positive"
    assert scores["helpfulness"]["environment"] == "staging"


def test_user_view(run: dict) -> None:
    assert "lf-user-1" in {u["id"] for u in run["users"]}
