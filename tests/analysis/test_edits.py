"""Editing an analysis (rename, merge, split, move) and accepting it: the ``failure_mode``
score config and one score per reviewed trace, read back through the public score APIs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from heron.analysis import category_definition, service
from tests.analysis.notes import START, add_comments, add_traces

WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-10T00:00:00Z"}


def run(app: TestClient, headers: dict[str, str] | None = None) -> dict:
    r = app.post("/api/error-analysis", json={"source": "comments", **WINDOW}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def detail(app: TestClient, analysis_id: str) -> dict:
    r = app.get(f"/api/error-analysis/{analysis_id}")
    assert r.status_code == 200, r.text
    return r.json()


def grouped(analysis: dict) -> list[dict]:
    return [c for c in analysis["categories"] if c["id"] != "other"]


def scores(app: TestClient, **params: str) -> list[dict]:
    out, page = [], 1
    while True:
        r = app.get("/api/public/v2/scores", params={**params, "limit": 100, "page": page})
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        if page >= body["meta"]["totalPages"]:
            return out
        page += 1


def test_rename(app: TestClient, truth: dict[str, str]) -> None:
    a = run(app)
    first, second = grouped(a)[:2]
    url = f"/api/error-analysis/{a['id']}/categories/{first['id']}"
    r = app.patch(url, json={"label": "  Wrong language  "})
    assert r.status_code == 200, r.text
    assert detail(app, a["id"])["categories"][0]["label"] == "Wrong language"
    for body, status, message in [
        ({"label": ""}, 400, "label: a non-empty string"),
        ({"label": "x" * 201}, 400, "at most 200"),
        ({"label": 3}, 400, "label: a non-empty string"),
        ({"label": second["label"]}, 409, "already called"),
    ]:
        r = app.patch(url, json=body)
        assert r.status_code == status and message in r.json()["error"]["message"], r.text
    r = app.patch(f"/api/error-analysis/{a['id']}/categories/nope", json={"label": "x"})
    assert r.status_code == 404


def test_merge(app: TestClient, truth: dict[str, str]) -> None:
    a = run(app)
    first, second, third = grouped(a)[:3]
    r = app.post(
        f"/api/error-analysis/{a['id']}/merge",
        json={"categoryIds": [second["id"], third["id"]], "label": "merged"},
    )
    assert r.status_code == 200, r.text
    after = detail(app, a["id"])
    ids = [c["id"] for c in after["categories"]]
    assert third["id"] not in ids and second["id"] in ids
    kept = next(c for c in after["categories"] if c["id"] == second["id"])
    assert kept["label"] == "merged" and kept["count"] == second["count"] + third["count"]
    assert sum(c["count"] for c in after["categories"]) == len(truth)
    for body in [{"categoryIds": [first["id"]]}, {"categoryIds": "c1"}, {}]:
        r = app.post(f"/api/error-analysis/{a['id']}/merge", json=body)
        assert r.status_code == 400 and "categoryIds" in r.json()["error"]["message"]
    r = app.post(f"/api/error-analysis/{a['id']}/merge", json={"categoryIds": ["c1", "zz"]})
    assert r.status_code == 404


def test_split_by_chosen_notes_and_by_a_second_grouping(
    app: TestClient, truth: dict[str, str]
) -> None:
    a = run(app)
    first = detail(app, a["id"])["categories"][0]
    chosen = [n["id"] for n in first["notes"][:3]]
    url = f"/api/error-analysis/{a['id']}/categories/{first['id']}/split"
    r = app.post(url, json={"noteIds": chosen})
    assert r.status_code == 200, r.text
    new_id = r.json()["result"]
    after = detail(app, a["id"])
    assert [c["id"] for c in after["categories"]][:2] == [first["id"], new_id]
    made = after["categories"][1]
    assert sorted(n["id"] for n in made["notes"]) == sorted(chosen) and made["keywords"]
    assert after["categories"][0]["count"] == first["count"] - 3
    # no ids: the category's notes grouped again in two
    r = app.post(url, json={})
    assert r.status_code == 200, r.text
    again = detail(app, a["id"])
    halves = [c for c in again["categories"] if c["id"] in (first["id"], r.json()["result"])]
    assert len(halves) == 2 and all(c["count"] > 0 for c in halves)
    assert sum(c["count"] for c in halves) == first["count"] - 3
    assert sum(c["count"] for c in again["categories"]) == len(truth)
    every = [n["id"] for n in halves[0]["notes"]]
    for body, message in [
        ({"noteIds": every}, "leave at least one note"),
        ({"noteIds": [made["notes"][0]["id"]]}, "is not a note of category"),
        ({"noteIds": []}, "noteIds: a non-empty list"),
        ({"noteIds": [1]}, "noteIds: a non-empty list"),
    ]:
        r = app.post(f"/api/error-analysis/{a['id']}/categories/{halves[0]['id']}/split", json=body)
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text


def test_move_notes(app: TestClient, truth: dict[str, str]) -> None:
    a = run(app)
    cats = detail(app, a["id"])["categories"]
    source, target = cats[0], cats[1]
    moving = [n["id"] for n in source["notes"][:2]]
    r = app.post(
        f"/api/error-analysis/{a['id']}/move", json={"noteIds": moving, "to": target["id"]}
    )
    assert r.status_code == 200 and r.json()["result"] == 2
    after = {c["id"]: c for c in detail(app, a["id"])["categories"]}
    assert after[source["id"]]["count"] == source["count"] - 2
    assert set(moving) <= {n["id"] for n in after[target["id"]]["notes"]}
    r = app.post(
        f"/api/error-analysis/{a['id']}/move", json={"noteIds": ["nope"], "to": target["id"]}
    )
    assert r.status_code == 400 and "'nope' is not a note" in r.json()["error"]["message"]
    r = app.post(f"/api/error-analysis/{a['id']}/move", json={"noteIds": moving, "to": "zz"})
    assert r.status_code == 404


def test_accept_makes_the_config_and_one_score_per_trace(
    app: TestClient, truth: dict[str, str]
) -> None:
    a = run(app)
    r = app.post(f"/api/error-analysis/{a['id']}/accept")
    assert r.status_code == 200, r.text
    accepted = r.json()
    cats = grouped(detail(app, a["id"]))
    assert [c["label"] for c in accepted["categories"]] == [c["label"] for c in cats]
    config = app.get(f"/api/public/score-configs/{accepted['configId']}").json()
    assert config["name"] == "failure_mode" and config["dataType"] == "CATEGORICAL"
    assert config["categories"] == [{"label": c["label"], "value": i} for i, c in enumerate(cats)]
    labelled_traces = {t for c in cats for t in c["traceIds"]}
    got = [s for s in scores(app, name="failure_mode") if s["metadata"]["analysisId"] == a["id"]]
    assert accepted["scores"] == len(got) == len(labelled_traces)
    assert {s["traceId"] for s in got} == labelled_traces
    by_label = {c["label"]: c for c in cats}
    for s in got:
        category = by_label[s["stringValue"]]
        assert s["traceId"] in category["traceIds"]
        assert s["source"] == "ANNOTATION" and s["configId"] == config["id"]
        assert s["value"] == next(
            x["value"] for x in config["categories"] if x["label"] == s["stringValue"]
        )
        assert s["comment"] and s["metadata"]["categoryId"] == category["id"]
        assert s["environment"] == "production"
    # accepting again without edits changes nothing
    again = app.post(f"/api/error-analysis/{a['id']}/accept").json()
    assert again["configId"] == config["id"] and again["scores"] == len(got)
    assert len(
        [s for s in scores(app, name="failure_mode") if s["metadata"]["analysisId"] == a["id"]]
    ) == len(got)


def test_reaccepting_after_edits_updates_the_scores_and_extends_the_config(
    app: TestClient, truth: dict[str, str]
) -> None:
    a = run(app)
    first = app.post(f"/api/error-analysis/{a['id']}/accept").json()
    before = app.get(f"/api/public/score-configs/{first['configId']}").json()["categories"]
    cats = detail(app, a["id"])["categories"]
    c0, c1 = cats[0], cats[1]
    moved = c0["notes"][0]
    app.post(f"/api/error-analysis/{a['id']}/move", json={"noteIds": [moved["id"]], "to": c1["id"]})
    r = app.patch(
        f"/api/error-analysis/{a['id']}/categories/{c1['id']}", json={"label": "renamed one"}
    )
    assert r.status_code == 200
    second = app.post(f"/api/error-analysis/{a['id']}/accept").json()
    assert second["configId"] == first["configId"]
    after = app.get(f"/api/public/score-configs/{first['configId']}").json()["categories"]
    assert after[: len(before)] == before  # existing values never renumbered
    assert after[len(before) :] == [
        {"label": "renamed one", "value": max(c["value"] for c in before) + 1}
    ]
    mine = {
        s["traceId"]: s
        for s in scores(app, name="failure_mode")
        if s["metadata"]["analysisId"] == a["id"]
    }
    assert mine[moved["traceId"]]["stringValue"] == "renamed one"
    assert mine[moved["traceId"]]["id"] == service.score_id(a["id"], moved["traceId"])
    # a note moved to "other" takes its trace's score away
    assert any(c["id"] == "other" for c in cats)
    url = f"/api/error-analysis/{a['id']}/move"
    app.post(url, json={"noteIds": [moved["id"]], "to": "other"})
    third = app.post(f"/api/error-analysis/{a['id']}/accept").json()
    assert third["removed"] == 1
    ids = {
        s["traceId"]
        for s in scores(app, name="failure_mode")
        if s["metadata"]["analysisId"] == a["id"]
    }
    assert moved["traceId"] not in ids


def test_accept_refuses_a_failure_mode_config_of_another_type(app: TestClient) -> None:
    store = app.app.state.heron.store
    project = store.create_project("numeric")["id"]
    headers = {"Authorization": f"Bearer {store.create_key(project)['secret_key']}"}
    ids = [f"num{i:029x}" for i in range(12)]
    add_traces(store, project, ids, start=START + timedelta(days=1))
    add_comments(
        store,
        project,
        [(t, ["too slow", "rude tone", "made up a fact"][i % 3]) for i, t in enumerate(ids)],
    )
    r = app.post(
        "/api/public/score-configs",
        json={"name": "failure_mode", "dataType": "NUMERIC"},
        headers=headers,
    )
    assert r.status_code == 200
    a = run(app, headers)
    r = app.post(f"/api/error-analysis/{a['id']}/accept", headers=headers)
    assert r.status_code == 409 and "data type NUMERIC" in r.json()["error"]["message"]


def test_category_definition_for_evaluators(app: TestClient, truth: dict[str, str]) -> None:
    a = run(app)
    store = app.app.state.heron.store
    project = app.get("/api/public/projects").json()["data"][0]["id"]
    first = grouped(detail(app, a["id"]))[0]
    d = category_definition(store, project, a["id"], first["id"])
    assert d["label"] == first["label"] and d["keywords"] == first["keywords"]
    assert d["trace_ids"] == first["traceIds"]
    assert d["examples"] and all(
        e["trace_id"] in d["trace_ids"] and e["note"] for e in d["examples"]
    )
    with pytest.raises(Exception, match="not found"):
        category_definition(store, "another", a["id"], first["id"])
