"""``/api/error-analysis`` on the real app and store: run on comments and TEXT scores, bad
input, too many notes, project scoping and key scopes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from heron.analysis import service
from tests.analysis.notes import START, add_text_scores, add_traces

WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-10T00:00:00Z"}


def run(app: TestClient, **body: object) -> dict:
    r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_run_on_comments(app: TestClient, truth: dict[str, str]) -> None:
    out = run(app)
    cats = out["categories"]
    assert out["id"] and out["method"] == "wordllama" and out["noteCount"] == len(truth)
    assert sum(c["count"] for c in cats) == len(truth)
    assert {t for c in cats for t in c["traceIds"]} == set(truth)
    for c in cats:
        assert set(c) >= {"id", "label", "count", "traceIds", "keywords", "examples"}
        assert 0 < len(c["examples"]) <= 5
        assert all(e["traceId"] in c["traceIds"] and e["note"] for e in c["examples"])
    grouped = [c for c in cats if c["id"] != "other"]
    assert 5 <= len(grouped) <= 30
    # most traces of a proposed category share one true category
    majority = sum(Counter(truth[t] for t in c["traceIds"]).most_common(1)[0][1] for c in grouped)
    assert majority / sum(len(c["traceIds"]) for c in grouped) >= 0.6


def test_time_range_and_filter_choose_the_notes(app: TestClient, truth: dict[str, str]) -> None:
    # the seeded traces start a minute apart from START: the first 100 minutes hold 100
    to = (START + timedelta(minutes=100)).isoformat() + "Z"
    out = run(app, **{"from": WINDOW["from"], "to": to})
    assert out["noteCount"] == 100
    r = app.post(
        "/api/error-analysis",
        json={"source": "comments", **WINDOW, "filter": [
            {"column": "name", "operator": "=", "value": "no such name"}]},
    )  # fmt: skip
    assert r.status_code == 400 and "no notes match" in r.json()["error"]["message"]


def test_run_on_text_scores_by_name(app: TestClient, project: str) -> None:
    store = app.app.state.heron.store
    ids = [f"score{i:027x}" for i in range(40)]
    add_traces(store, project, ids, start=START + timedelta(days=3))
    slow = ["took 40 seconds to answer", "response timed out", "very slow reply, a minute"]
    rude = ["rude reply to the customer", "sarcastic and dismissive tone", "condescending answer"]
    notes = [(t, (slow if i % 2 else rude)[i % 3]) for i, t in enumerate(ids)]
    add_text_scores(store, project, "review_note", notes)
    add_text_scores(store, project, "other_note", [(ids[0], "should not be read")])
    out = run(app, source="scores", scoreName="review_note")
    assert out["noteCount"] == 40 and out["source"] == "scores"
    assert {t for c in out["categories"] for t in c["traceIds"]} == set(ids)
    both = run(app, source="scores")
    assert both["noteCount"] == 41


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source": "emails"}, "source: expected 'comments' or 'scores'"),
        ({}, "source: expected"),
        ({"source": "comments", "scoreName": "x"}, "scoreName: only with source 'scores'"),
        ({"source": "scores", "scoreName": ""}, "scoreName: a non-empty string"),
        ({"source": "comments", "from": "yesterday"}, "from: expected an ISO 8601 time"),
        ({"source": "comments", "from": "2026-11-05T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
         "from: must be before to"),
        ({"source": "comments", "filter": "not json"}, "filter: invalid JSON"),
        ({"source": "comments", "filter": [{"column": "nope", "operator": "="}]},
         "unknown column 'nope'"),
        ({"source": "comments", "limit": 3}, "limit: unknown field"),
        ([1, 2], "body: expected a JSON object"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_naming_the_problem(
    app: TestClient, truth: dict[str, str], body: object, message: str
) -> None:
    r = app.post("/api/error-analysis", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_malformed_and_unauthorised(app: TestClient) -> None:
    r = app.post("/api/error-analysis", content=b"{nope", headers={"Content-Type": "x"})
    assert r.status_code == 400
    assert (
        app.post("/api/error-analysis", json={}, headers={"Authorization": ""}).status_code == 401
    )
    assert app.get("/api/error-analysis/nope").status_code == 404


def test_too_many_notes_is_a_clear_400(
    app: TestClient, truth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_NOTES", 50)
    r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW})
    assert r.status_code == 400
    assert (
        "more than 50 notes match: narrow the time range or the filter"
        in r.json()["error"]["message"]
    )


def test_another_project_sees_and_changes_nothing(
    app: TestClient, truth: dict[str, str], other: dict[str, str]
) -> None:
    mine = run(app)
    r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW}, headers=other)
    assert r.status_code == 400 and "no notes match" in r.json()["error"]["message"]
    first = mine["categories"][0]["id"]
    assert app.get(f"/api/error-analysis/{mine['id']}", headers=other).status_code == 404
    assert mine["id"] not in [
        a["id"] for a in app.get("/api/error-analysis", headers=other).json()["data"]
    ]
    for method, path, body in [
        ("PATCH", f"categories/{first}", {"label": "hijacked"}),
        ("POST", "merge", {"categoryIds": [first, mine["categories"][1]["id"]]}),
        ("POST", f"categories/{first}/split", {}),
        ("POST", "move", {"noteIds": ["x"], "to": first}),
        ("POST", "accept", {}),
    ]:
        r = app.request(
            method, f"/api/error-analysis/{mine['id']}/{path}", json=body, headers=other
        )
        assert r.status_code == 404, (path, r.text)
    again = app.get(f"/api/error-analysis/{mine['id']}").json()
    assert again["categories"][0]["label"] == mine["categories"][0]["label"]


def test_a_read_key_cannot_run_or_edit(app: TestClient, truth: dict[str, str]) -> None:
    store = app.app.state.heron.store
    project = app.get("/api/public/projects").json()["data"][0]["id"]
    read = {"Authorization": f"Bearer {store.create_key(project, scope='read')['secret_key']}"}
    r = app.post("/api/error-analysis", json={"source": "comments"}, headers=read)
    assert r.status_code == 403
    mine = run(app)
    assert app.get(f"/api/error-analysis/{mine['id']}", headers=read).status_code == 200
    r = app.post(f"/api/error-analysis/{mine['id']}/accept", headers=read)
    assert r.status_code == 403


def test_one_analysis_runs_at_a_time(app: TestClient, truth: dict[str, str]) -> None:
    """While a grouping runs, another request is a 503 with Retry-After, not a second
    grouping competing for the cores."""
    assert service._running.acquire(blocking=False)
    try:
        r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW})
    finally:
        service._running.release()
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "another error analysis is running" in r.json()["error"]["message"]
    assert app.post("/api/error-analysis", json={"source": "comments", **WINDOW}).status_code == 200
