"""Implicit feedback on a real `heron serve` with its defaults: traces posted over OTLP are
judged by the runner's ``implicit`` task within seconds; settings through the admin API;
backfills through the jobs API are idempotent."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import HeronProcess

SHARE_SERVER = True  # each test reads back only its own sessions and traces
PB = {"Content-Type": "application/x-protobuf"}
ONLINE_TARGET_S = 5.0


def ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1e9)


def turn(
    session: str, question: str, answer: str, at: datetime, error: str | None = None
) -> tuple[str, Any]:
    """One trace (a root span): the user's message, the answer, an error status."""
    tid = new_trace_id()
    root = span(
        tid,
        new_span_id(),
        "chat",
        start_ns=ns(at),
        duration_ms=1200,
        attributes={"session.id": session, "input.value": question, "output.value": answer},
        error=error,
    )
    return tid.hex(), root


def post(server: HeronProcess, spans: list[Any], auth: dict[str, str] | None = None) -> None:
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**(auth or server.auth), **PB},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def trace_scores(
    server: HeronProcess, trace_id: str, auth: dict[str, str] | None = None
) -> dict[str, dict]:
    r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=auth or server.auth, timeout=30)
    assert r.status_code == 200, r.text
    return {s["name"]: s for s in r.json()["scores"]}


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def admin(server: HeronProcess) -> dict[str, str]:
    info = orjson.loads((server.data_dir / "server.json").read_bytes())
    return {"Authorization": f"Bearer {info['admin_token']}"}


def test_a_retry_is_scored_on_the_first_trace_within_5_s(live_server: HeronProcess) -> None:
    now = datetime.now(UTC)
    first, a = turn("online-retry", "How do I reset my password?", "", now - timedelta(seconds=40),
                    error="upstream timeout")  # fmt: skip
    post(live_server, [a])
    wait_for(lambda: httpx.get(f"{live_server.url}/api/traces/{first}",
                               headers=live_server.auth).status_code == 200)  # fmt: skip
    second, b = turn("online-retry", "how do I reset my pasword?",
                     "Open Settings > Security and click Reset password.", now)  # fmt: skip
    post(live_server, [b])
    acked = time.monotonic()
    score = wait_for(lambda: trace_scores(live_server, first).get("implicit_retry"))
    latency = time.monotonic() - acked
    print(f"online retry latency: {latency:.2f} s")
    assert latency < ONLINE_TARGET_S
    assert (score["value"], score["data_type"], score["source"]) == (1, "BOOLEAN", "EVAL")
    assert score["session_id"] == "online-retry" and "after an error" in score["comment"]
    assert score["metadata"]["reacting_trace_id"] == second
    assert trace_scores(live_server, second) == {}


def test_disagreement_and_abandonment_of_an_old_session(live_server: HeronProcess) -> None:
    then = datetime.now(UTC) - timedelta(days=2)  # loaded late: its idle timeout has passed
    t1, a = turn("old-1", "How long do I have to return a jacket?", "You have 30 days.", then)
    t2, b = turn("old-1", "that's wrong, your site says 14 days", "Sorry, you're right.",
                 then + timedelta(seconds=30))  # fmt: skip
    t3, c = turn("old-2", "Can I export my invoices as CSV?", "", then, error="model error")
    post(live_server, [a, b, c])
    dis = wait_for(lambda: trace_scores(live_server, t1).get("implicit_disagreement"))
    assert "14 days" in dis["comment"] and dis["metadata"]["reacting_trace_id"] == t2
    gone = wait_for(lambda: trace_scores(live_server, t3).get("implicit_abandonment"))
    assert gone["metadata"]["reacting_trace_id"] is None and "error" in gone["comment"]
    assert "implicit_abandonment" not in trace_scores(live_server, t2)  # a closing apology


def test_settings_through_the_admin_api_and_other_projects(live_server: HeronProcess) -> None:
    root = admin(live_server)
    url = live_server.url + "/api/admin/implicit/settings"
    key = httpx.post(
        live_server.url + "/api/admin/keys",
        json={"project": "quiet", "create_project": True},
        headers=root,
        timeout=30,
    ).json()
    quiet = {"Authorization": f"Bearer {key['secret_key']}", "X-Heron-Consistent": "true"}
    r = httpx.post(
        url, json={"project": "quiet", "settings": {"enabled": ["implicit_disagreement"]}},
        headers=root,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["enabled"] == ["implicit_disagreement"]
    assert r.json()["changed"] == {"enabled": ["implicit_disagreement"]}
    for body, message in [
        ({"project": "quiet", "settings": {"enabled": ["nope"]}}, "unknown detector"),
        ({"project": "quiet", "settings": {"slow_ms": "x"}}, "slow_ms"),
        ({"project": "quiet", "settings": {"colour": 1}}, "unknown feedback setting"),
        ({"project": "quiet", "settings": [1]}, "settings"),
    ]:
        r = httpx.post(url, json=body, headers=root)
        assert r.status_code == 400 and message in r.text, (body, r.text)
    assert httpx.get(url, params={"project": "nope"}, headers=root).status_code == 404
    assert httpx.get(url, params={"project": "quiet"}, headers=live_server.auth).status_code == 401

    now = datetime.now(UTC)
    r1, a = turn("q-retry", "How do I reset my password?", "", now - timedelta(seconds=30),
                 error="boom")  # fmt: skip
    _, b = turn("q-retry", "How do I reset my password?", "Click Reset.", now)
    d1, c = turn("q-dis", "Is the shop open on Sunday?", "Yes, from 10 to 4.", now)
    _, d = turn("q-dis", "that's not true, it was closed", "Sorry.", now + timedelta(seconds=20))
    post(live_server, [a, b, c, d], auth=quiet)
    wait_for(lambda: trace_scores(live_server, d1, quiet).get("implicit_disagreement"))
    assert trace_scores(live_server, r1, quiet) == {}  # retry is off in this project
    # the same session in the default project is judged with the defaults
    t1, e = turn("q-retry", "How do I reset my password?", "", now - timedelta(seconds=30),
                 error="boom")  # fmt: skip
    _, f = turn("q-retry", "How do I reset my password?", "Click Reset.", now)
    post(live_server, [e, f])
    wait_for(lambda: trace_scores(live_server, t1).get("implicit_retry"))
    # and the quiet project's traces and scores stay its own
    assert (
        httpx.get(f"{live_server.url}/api/traces/{r1}", headers=live_server.auth).status_code == 404
    )


def test_backfill_through_the_jobs_api_is_idempotent(live_server: HeronProcess) -> None:
    then = datetime.now(UTC) - timedelta(days=1)
    t1, a = turn("bf-1", "What's my data limit?", "", then, error="timeout")
    _, b = turn("bf-1", "what is my data limit", "10 GB a month.", then + timedelta(seconds=20))
    post(live_server, [a, b])
    online = wait_for(lambda: trace_scores(live_server, t1).get("implicit_retry"))

    def backfill() -> dict:
        r = httpx.post(
            live_server.url + "/api/runner/jobs",
            json={"tasks": ["implicit"], "from": (then - timedelta(minutes=1)).isoformat(),
                  "to": (then + timedelta(minutes=5)).isoformat()},
            headers=live_server.auth,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        job_url = f"{live_server.url}/api/runner/jobs/{r.json()['id']}"

        def ended() -> dict | None:
            job = httpx.get(job_url, headers=live_server.auth).json()
            return job if job["status"] in ("done", "failed") else None

        job = wait_for(ended)
        assert job["status"] == "done" and job["done"] >= 1
        return trace_scores(live_server, t1)

    once, twice = backfill(), backfill()
    assert once == twice
    assert once["implicit_retry"]["id"] == online["id"]
    assert list(once) == ["implicit_retry"]
