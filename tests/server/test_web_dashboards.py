"""Dashboard pages in process: rendering, script-safe JSON, trace links, empty states,
CSRF, project scoping and Plotly.js served with long cache headers."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from heron.server.web.dashboards import PLOTLY_URL
from tests.dashboards.data import HOSTILE_MODEL, WINDOW, scores, workload_request
from tests.server.test_web_auth import csrf_of, login, store_of
from tests.support.server import SECRET_KEY

API = {"Authorization": f"Bearer {SECRET_KEY}"}
RANGE = {"from": WINDOW["fromTimestamp"], "to": WINDOW["toTimestamp"]}


@pytest.fixture
def seeded(web: TestClient) -> TestClient:
    pb = {"Content-Type": "application/x-protobuf", **API}
    assert (
        web.post("/v1/traces", content=workload_request(hostile=True), headers=pb).status_code
        == 200
    )
    assert web.post("/api/scores", json=scores(), headers=API).status_code == 202
    assert len(web.get("/api/traces", headers=API).json()["data"]) == 6
    return web


def widgets(html: str) -> dict[str, dict[str, Any]]:
    blocks = re.findall(r'<script type="application/json" data-widget>(.*?)</script>', html, re.S)
    return {w["id"]: w for w in (json.loads(b) for b in blocks)}


def test_default_dashboard_page(seeded: TestClient) -> None:
    r = seeded.get("/dashboard", params=RANGE)
    assert r.status_code == 200, r.text
    found = widgets(r.text)
    assert found["traces-total"]["rows"] == [{"count_count": 6}]
    assert re.search(r'<script src="/static/vendor/plotly-[\d.]+\.min\.js" defer>', r.text)
    # the hostile model name never appears raw in the page, not even in the JSON block
    assert HOSTILE_MODEL not in r.text and "<b>bold" not in r.text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in r.text
    models = [row["model"] for row in found["cost-per-model"]["rows"]]
    assert HOSTILE_MODEL in models
    # each bar links the traces behind it: the window and the model as a filter
    link = found["cost-per-model"]["links"][models.index("gpt-4o")]
    q = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/traces"
    assert q["from"] == ["2026-11-19T00:00:00.000Z"] and q["to"] == ["2026-11-25T23:59:59.999Z"]
    assert json.loads(q["filter"][0]) == [{"column": "model", "operator": "=", "value": "gpt-4o"}]
    day = found["traces"]["rows"].index(
        {"time_dimension": "2026-11-20T00:00:00Z", "count_count": 2}
    )
    q = parse_qs(urlsplit(found["traces"]["links"][day]).query)
    assert q["from"] == ["2026-11-20T00:00:00.000Z"] and q["to"] == ["2026-11-20T23:59:59.999Z"]
    # the link really lists those traces
    listed = seeded.get(found["traces"]["links"][day])
    assert listed.status_code == 200 and listed.text.count('<tr class="level-') == 2
    # a histogram bin links the traces whose latency falls in it
    bins = found["latency-histogram"]["rows"][0]["histogram_latency"]
    q = parse_qs(urlsplit(found["latency-histogram"]["bin_links"][0]).query)
    assert json.loads(q["filter"][0]) == [
        {"column": "latency_ms", "operator": ">=", "value": bins[0][0]},
        {"column": "latency_ms", "operator": "<=", "value": bins[0][1]},
    ]
    # a score's point links the traces that have that score, in its time bucket
    score_rows = found["scores"]["rows"]
    i = next(k for k, row in enumerate(score_rows) if row["avg_value"] is not None)
    q = parse_qs(urlsplit(found["scores"]["links"][i]).query)
    name = score_rows[i]["name"]
    assert json.loads(q["filter"][0]) == [{"column": f"scores.{name}", "operator": "is not null"}]
    assert seeded.get(found["scores"]["links"][i]).status_code == 200
    # change markers (one per moment) and compare links
    # (the first values, v3 and v1 on 2026-11-20, are where the data starts: no marker)
    assert [(c["at"], c["label"]) for c in found["traces"]["changes"]] == [
        ("2026-11-22T10:00:00.000000Z", "support-system v4, v2"),
    ]
    assert "2026-11-20T10%3A00" not in r.text
    assert 'href="/compare?at=2026-11-22T10%3A00%3A00.000000Z&amp;days=7"' in r.text


def test_filter_bar_redirects_and_filters(seeded: TestClient) -> None:
    r = seeded.get("/dashboard", params={**RANGE, "fc": "user_id", "fo": "=", "fv": "bob"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    target = r.headers["location"]
    assert "filter=" in target and "from=" in target
    page = seeded.get(target)
    found = widgets(page.text)
    assert found["traces-total"]["rows"] == [{"count_count": 2}]
    assert 'value="user_id"' in page.text  # the bar shows its row again
    link = found["cost-per-route"]["links"][0]
    filters = json.loads(parse_qs(urlsplit(link).query)["filter"][0])
    assert {"column": "user_id", "operator": "=", "value": "bob"} in filters


def test_bad_filter_and_range_are_400_inline(seeded: TestClient) -> None:
    r = seeded.get("/dashboard", params={"filter": '[{"column": "nope", "operator": "="}]'})
    assert r.status_code == 400 and "unknown column" in r.text and 'role="alert"' in r.text
    r = seeded.get("/dashboard", params={"from": "yesterday"})
    assert r.status_code == 400 and "fromTimestamp" in r.text


def test_empty_states(web: TestClient) -> None:
    r = web.get("/dashboard")
    assert r.status_code == 200 and "Send your first trace" in r.text
    assert "data-widget>" not in r.text
    pb = {"Content-Type": "application/x-protobuf", **API}
    web.post("/v1/traces", content=workload_request(), headers=pb)
    web.get("/api/traces", headers=API)
    r = web.get("/dashboard", params={"range": "1h"})
    assert "No data in this time range" in r.text and "data-widget>" not in r.text


def test_plotly_is_served_with_long_cache(web: TestClient) -> None:
    assert PLOTLY_URL not in web.get("/dashboard").text  # no charts, no chart library
    js = web.get(PLOTLY_URL)
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert "max-age=31536000" in js.headers["cache-control"]
    assert js.headers["content-type"].startswith("text/javascript")
    assert web.get("/static/dashboard.js").status_code == 200


def test_create_edit_duplicate_delete_through_forms(seeded: TestClient) -> None:
    token = csrf_of(seeded.get("/dashboards").text)
    r = seeded.post("/dashboards", data={"name": "Mine", "csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].split("?")[0].endswith("/edit")
    edit_url = r.headers["location"]
    dashboard_id = edit_url.split("/")[2]
    form = seeded.get(edit_url)
    assert form.status_code == 200 and "No widgets yet" in form.text
    r = seeded.post(edit_url, data={"csrf_token": token, "name": "Mine", "date_range": "7d",
                                    "filters": "[]", "action": "add"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    form = seeded.get(edit_url).text
    orig = re.search(r'name="w_orig" value="([^"]*)"', form).group(1)
    orig = htmllib.unescape(orig)
    data = {"csrf_token": token, "name": "Mine", "date_range": "7d", "filters": "[]",
            "action": "save", "w_id": "w1", "w_title": "Cost by user", "w_type": "bar",
            "w_view": "traces", "w_measure": "total_cost", "w_agg": "sum", "w_dim": "user_id",
            "w_gran": "", "w_json": orig, "w_orig": orig}  # fmt: skip
    r = seeded.post(edit_url, data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    got = seeded.get(f"/api/dashboards/{dashboard_id}", headers=API).json()
    assert got["widgets"][0]["query"]["metrics"] == [{"measure": "total_cost",
                                                       "aggregation": "sum"}]  # fmt: skip
    assert got["widgets"][0]["query"]["dimensions"] == [{"field": "user_id"}]
    assert "timeDimension" not in got["widgets"][0]["query"]
    # a bad query is shown back with its error, nothing saved
    bad = {**data, "w_type": "pie", "w_dim": ""}
    r = seeded.post(edit_url, data=bad)
    assert r.status_code == 400 and "type &#39;pie&#39; needs exactly one dimension" in r.text
    # the raw JSON wins when edited
    raw = json.dumps({"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}]})
    r = seeded.post(edit_url, data={**data, "w_type": "number", "w_json": raw},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    view = seeded.get(f"/dashboards/{dashboard_id}", params=RANGE)
    assert widgets(view.text)["w1"]["rows"] == [{"count_count": 6}]
    r = seeded.post(f"/dashboards/{dashboard_id}/duplicate", data={"csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    names = [d["name"] for d in seeded.get("/api/dashboards", headers=API).json()["data"]]
    assert names == ["Monitoring", "Copy of Mine", "Mine"]
    r = seeded.post(f"/dashboards/{dashboard_id}/delete", data={"csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert seeded.get(f"/dashboards/{dashboard_id}").status_code == 404


def test_csrf_and_project_scoping(seeded: TestClient) -> None:
    made = seeded.post("/api/dashboards", headers=API, json={"name": "Ops"}).json()
    r = seeded.post(f"/dashboards/{made['id']}/delete", follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    token = csrf_of(seeded.get("/dashboards").text)
    r = seeded.post("/dashboards/default/delete", data={"csrf_token": token})
    assert r.status_code == 400 and "built in" in r.text
    # a dashboard of a project the user is no member of is not found on its pages
    store = store_of(seeded)
    other = store.create_project("elsewhere")
    store.create_dashboard(other["id"], "theirs", "Theirs", "", {"widgets": []})
    mine = store.project_by_name("test")["id"]
    store.create_user("member@heron.test", "member-password-1", project_ids=[mine])
    seeded.cookies.clear()
    assert login(seeded, "member@heron.test", "member-password-1").status_code == 303
    token = csrf_of(seeded.get("/dashboards").text)
    assert seeded.get("/dashboards/theirs").status_code == 404
    assert seeded.get("/dashboards/theirs", params={"project": other["id"]}).status_code == 404
    r = seeded.post("/dashboards/theirs/delete", data={"csrf_token": token})
    assert r.status_code == 404
    r = seeded.post("/dashboards/theirs/duplicate", data={"csrf_token": token})
    assert r.status_code == 404
    assert store.get_dashboard(other["id"], "theirs") is not None
    assert seeded.get(f"/dashboards/{made['id']}").status_code == 200  # their own project's


def test_prompt_dimension_links_traces_that_used_that_prompt(seeded: TestClient) -> None:
    from datetime import datetime

    from heron.dashboards import WidgetData
    from heron.server.web.charts import Linker

    w = WidgetData(
        "p", "by prompt", "bar", {"view": "observations"}, None,
        ["promptName", "prompt_version"], ["count_count"], [],
    )  # fmt: skip
    linker = Linker("proj", datetime(2026, 11, 19), datetime(2026, 11, 26), [])
    link = linker.row(w, {"promptName": "support-system", "prompt_version": 4}, [])
    assert json.loads(parse_qs(urlsplit(link).query)["filter"][0]) == [
        {"column": "prompt_name", "operator": "=", "value": "support-system"},
        {"column": "prompt_version", "operator": "=", "value": 4},
    ]


def test_user_feedback_section_renders_with_links(seeded: TestClient) -> None:
    from tests.dashboards.test_feedback_section import feedback_scores

    assert seeded.post("/api/scores", json=feedback_scores(), headers=API).status_code == 202
    r = seeded.get("/dashboard", params=RANGE)
    assert r.status_code == 200, r.text
    found = widgets(r.text)
    assert "User feedback: thumbs up" in r.text and "User feedback: response rate" in r.text
    labels = {m["key"]: m for m in found["feedback-implicit"]["metrics"]}
    assert labels["avg_has_score.implicit_retry"]["label"] == "Retry rate"
    assert labels["avg_has_score.implicit_retry"]["unit"] == "%"
    assert labels["avg_has_score.implicit_retry"]["polarity"] == -1
    [response] = found["feedback-response"]["metrics"]
    assert (response["label"], response["polarity"]) == ("Response rate (user_feedback)", 0)
    # a prompt version's bar opens the traces that used that prompt version
    rows = found["feedback-by-prompt"]["rows"]
    i = next(k for k, row in enumerate(rows) if row["prompt_version"] == 4)
    q = parse_qs(urlsplit(found["feedback-by-prompt"]["links"][i]).query)
    assert json.loads(q["filter"][0]) == [
        {"column": "prompt_name", "operator": "is not null"},
        {"column": "prompt_name", "operator": "=", "value": "support-system"},
        {"column": "prompt_version", "operator": "=", "value": 4},
    ]
    listed = seeded.get("/api/traces", params={"filter": q["filter"][0]}, headers=API).json()
    assert len(listed["data"]) == 1  # t4, the one trace of prompt version 4
