"""Model prices through the app: the re-pricing API and the /settings/prices page."""

from __future__ import annotations

import html as htmllib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from heron.cost.custom import exact_pattern
from heron.server.web.prices import missing_cost_reason
from tests.server.test_web_auth import PASSWORD, csrf_of, login, store_of
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import SECRET_KEY

API = {"Authorization": f"Bearer {SECRET_KEY}"}
PB = {"Content-Type": "application/x-protobuf", **API}
MODEL = "acme/private-llm:7b"


def generation(tid: bytes, name: str, model: str, tokens_in: int, tokens_out: int, **extra: Any):
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        **extra,
    }
    return span(tid, new_span_id(), name, attributes=attributes)


def seed(c: TestClient, traces: int = 3) -> list[str]:
    """Traces of two unpriced generations of MODEL, one client-priced one, one gpt-4o-mini."""
    ids = []
    for i in range(traces):
        tid = new_trace_id()
        spans = [
            generation(tid, "a", MODEL, 1000 + i, 200),
            generation(tid, "b", MODEL, 10, 3000 + i),
            span(
                tid,
                new_span_id(),
                "client",
                attributes={
                    "langfuse.observation.type": "generation",
                    "langfuse.observation.model.name": MODEL,
                    "langfuse.observation.usage_details": '{"input": 10, "output": 10}',
                    "langfuse.observation.cost_details": '{"total": 0.25}',
                },
            ),
            generation(tid, "known", "gpt-4o-mini", 100, 10),
        ]
        r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200
        ids.append(tid.hex())
    return ids


def wait_done(c: TestClient, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = c.get(url, headers=API).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("re-pricing did not end")


def costs(c: TestClient, tid: str) -> dict[str, Any]:
    t = c.get(f"/api/traces/{tid}", headers=API).json()
    return {"trace": t["total_cost"], "obs": {o["name"]: o for o in t["observations"]}}


def test_reprice_api(client: TestClient) -> None:
    ids = seed(client)
    before = costs(client, ids[0])
    assert before["obs"]["a"]["total_cost"] is None
    assert before["trace"] == pytest.approx(0.25 + before["obs"]["known"]["total_cost"])
    entry = {"id": "acme", "model_name": MODEL, "match_pattern": exact_pattern(MODEL),
             "prices": {"input": 2e-06, "output": 4e-06}}  # fmt: skip
    assert client.post("/api/models", json=entry).status_code == 201

    r = client.post("/api/models/reprice", json={"models": [MODEL]})
    assert r.status_code == 202, r.text
    job = wait_done(client, f"/api/models/reprice/{r.json()['id']}")
    assert job["status"] == "done" and job["done"] == job["total"] == 6
    assert client.get("/api/models/reprice").json()["data"][0]["id"] == job["id"]

    for i, tid in enumerate(ids):
        after = costs(client, tid)
        a, b = after["obs"]["a"], after["obs"]["b"]
        assert a["total_cost"] == pytest.approx((1000 + i) * 2e-06 + 200 * 4e-06, rel=1e-12)
        assert b["total_cost"] == pytest.approx(10 * 2e-06 + (3000 + i) * 4e-06, rel=1e-12)
        assert a["cost_source"] == "computed"
        assert after["obs"]["client"]["total_cost"] == 0.25
        assert after["obs"]["client"]["cost_source"] == "client"
        known = after["obs"]["known"]["total_cost"]
        total = a["total_cost"] + b["total_cost"] + 0.25 + known
        assert after["trace"] == pytest.approx(total, rel=1e-12)
    assert client.get("/api/models/unpriced").json()["data"] == []


def test_reprice_api_bad_input_and_other_projects(client: TestClient) -> None:
    assert client.post("/api/models/reprice", json={"models": []}).status_code == 400
    assert client.post("/api/models/reprice", json={"models": "x"}).status_code in (400, 422)
    assert client.post("/api/models/reprice", json={}).status_code in (400, 422)
    r = client.get("/api/models/reprice/nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    job = client.post("/api/models/reprice", json={"models": [MODEL]}).json()
    store = store_of(client)
    other = store.create_project("other")
    key = store.create_key(other["id"])
    client.app.state.heron.auth.refresh()  # type: ignore[attr-defined]
    theirs = {"Authorization": f"Bearer {key['secret_key']}"}
    assert client.get(f"/api/models/reprice/{job['id']}", headers=theirs).status_code == 404
    assert client.get("/api/models/reprice", headers=theirs).json()["data"] == []


def test_missing_cost_reason() -> None:
    assert missing_cost_reason({"model": "m", "usage": {"input": 3}, "total_cost": None}) == (
        "no price for model m"
    )
    assert missing_cost_reason({"model": "m", "usage": {"input": 3}, "total_cost": 0.0}) is None
    assert missing_cost_reason({"model": "m", "usage": {}, "total_cost": None}) is None
    assert "no model" in (missing_cost_reason({"usage": {"output": 1}, "total_cost": None}) or "")


def test_prices_page_add_price_for_unpriced_model(web: TestClient) -> None:
    ids = seed(web, traces=2)
    project = store_of(web).project_by_name("test")["id"]
    obs = costs(web, ids[0])["obs"]["a"]["id"]
    panel = web.get(f"/traces/{ids[0]}/panel?project={project}&observation={obs}").text
    assert f"no price for model {MODEL}" in htmllib.unescape(panel)
    page = web.get(f"/settings/prices?project={project}")
    assert page.status_code == 200
    text = htmllib.unescape(page.text)
    assert MODEL in text and "add price" in text and "gpt-4o-mini" in text  # built-in listed

    form = web.get(f"/settings/prices?project={project}&model={MODEL}")
    assert f'value="{htmllib.escape(exact_pattern(MODEL))}"' in form.text
    token = csrf_of(form.text)
    base = {"csrf_token": token, "id": "", "model_name": MODEL, "match_pattern": "",
            "input": "2", "output": "4", "cached_input": "", "start_date": ""}  # fmt: skip
    url = f"/settings/prices?project={project}"
    assert web.post(url, data={**base, "csrf_token": "wrong"}).status_code == 403
    bad = web.post(url, data={**base, "input": "two"})
    assert bad.status_code == 400 and "input price: 'two' is not a number" in htmllib.unescape(
        bad.text
    )
    bad = web.post(url, data={**base, "match_pattern": "(?=x)"})
    assert bad.status_code == 400 and "lookahead" in bad.text
    bad = web.post(url, data={**base, "start_date": "2025-13-01"})
    assert bad.status_code == 400

    r = web.post(url, data=base, follow_redirects=False)
    assert r.status_code == 303
    job_id = parse_qs(urlsplit(r.headers["location"]).query)["job"][0]
    job = wait_done(web, f"/settings/prices/jobs/{job_id}?project={project}")
    assert job["status"] == "done" and job["done"] == 4
    page = web.get(r.headers["location"]).text
    assert "done, 4 observations re-priced" in page
    assert "Every model seen with token usage has a price." in page
    after = costs(web, ids[1])
    assert after["obs"]["a"]["total_cost"] == pytest.approx(1001 * 2e-06 + 200 * 4e-06)
    obs = after["obs"]["a"]["id"]
    panel = web.get(f"/traces/{ids[1]}/panel?project={project}&observation={obs}").text
    assert f"observation {obs}" in panel
    assert "no price for model" not in htmllib.unescape(panel)

    # edit keeps the id, then delete
    entries = store_of(web).list_prices(project)
    assert [e["prices"] for e in entries] == [{"input": 2e-06, "output": 4e-06}]
    edit = web.get(f"/settings/prices?project={project}&edit={entries[0]['id']}").text
    assert 'value="2"' in edit and 'value="4"' in edit
    r = web.post(url, data={**base, "id": entries[0]["id"], "output": "5"}, follow_redirects=False)
    assert r.status_code == 303
    assert [e["prices"]["output"] for e in store_of(web).list_prices(project)] == [5e-06]
    gone = web.post(
        f"/settings/prices/{entries[0]['id']}/delete?project={project}",
        data={"csrf_token": token}, follow_redirects=False,
    )  # fmt: skip
    assert gone.status_code == 303 and store_of(web).list_prices(project) == []
    again = web.post(
        f"/settings/prices/{entries[0]['id']}/delete?project={project}", data={"csrf_token": token}
    )
    assert again.status_code == 404


def test_a_viewer_sees_prices_but_cannot_change_them(web: TestClient) -> None:
    store = store_of(web)
    project = store.project_by_name("test")["id"]
    seed(web, traces=1)
    viewer = store.create_user("viewer@heron.test", PASSWORD, project_ids=[project])
    store.cursor().execute(
        "UPDATE memberships SET role = 'viewer' WHERE user_id = ?", [viewer["id"]]
    )
    web.post("/logout", data={"csrf_token": csrf_of(web.get("/").text)})
    assert login(web, "viewer@heron.test", PASSWORD).status_code == 303
    page = web.get(f"/settings/prices?project={project}")
    assert page.status_code == 200 and MODEL in htmllib.unescape(page.text)
    assert "price-form" not in page.text and "add price" not in page.text
    data = {"csrf_token": csrf_of(page.text), "model_name": MODEL, "input": "1"}
    r = web.post(f"/settings/prices?project={project}", data=data)
    assert r.status_code == 403 and "viewer" in r.text
    assert store.list_prices(project) == []
    r = web.post(f"/settings/prices/x/delete?project={project}", data=data)
    assert r.status_code == 403


def test_reprice_beside_ingest_keeps_traces_exact(client: TestClient) -> None:
    """Chunks of re-pricing interleave with ingest batches adding generations to the same
    traces: at the end, every trace's total is the sum of its observations' costs."""
    import threading

    from heron.ingest.costing import cost_function, project_book

    ids = [bytes.fromhex(t) for t in seed(client, traces=60)]
    entry = {"id": "acme", "model_name": MODEL, "match_pattern": exact_pattern(MODEL),
             "prices": {"input": 2e-06, "output": 4e-06}}  # fmt: skip
    assert client.post("/api/models", json=entry).status_code == 201
    store = store_of(client)
    project = store.project_by_name("test")["id"]
    price = cost_function(project_book(store, project))
    done: list[int] = []
    worker = threading.Thread(
        target=lambda: done.append(store.reprice(project, [MODEL], price, chunk=5))
    )
    worker.start()
    for tid in ids:  # one more generation in each trace, priced at ingest
        spans = [generation(tid, "late", MODEL, 7, 7)]
        r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
        assert r.status_code == 200
    worker.join(60)
    assert done and done[0] >= 120
    for tid in ids:
        t = costs(client, tid.hex())
        parts = [o["total_cost"] for o in t["obs"].values()]
        assert None not in parts and len(parts) == 5
        assert t["trace"] == pytest.approx(sum(parts), rel=1e-12)
        assert t["obs"]["late"]["total_cost"] == pytest.approx(7 * 6e-06)


def test_saving_with_reprice_all_applies_a_changed_price_to_stored_costs(web: TestClient) -> None:
    ids = seed(web, traces=1)
    project = store_of(web).project_by_name("test")["id"]
    url = f"/settings/prices?project={project}"
    token = csrf_of(web.get(url).text)
    base = {"csrf_token": token, "model_name": MODEL, "input": "1", "output": "1"}
    job = parse_qs(
        urlsplit(web.post(url, data=base, follow_redirects=False).headers["location"]).query
    )
    wait_done(web, f"/settings/prices/jobs/{job['job'][0]}?project={project}")
    first = costs(web, ids[0])["obs"]["a"]["total_cost"]
    entry_id = store_of(web).list_prices(project)[0]["id"]
    # a changed price, saved without "reprice all": nothing is unpriced, no job
    r = web.post(url, data={**base, "id": entry_id, "input": "3"}, follow_redirects=False)
    assert "job=" not in r.headers["location"]
    assert costs(web, ids[0])["obs"]["a"]["total_cost"] == first
    r = web.post(
        url, data={**base, "id": entry_id, "input": "3", "reprice": "all"}, follow_redirects=False
    )
    job = parse_qs(urlsplit(r.headers["location"]).query)["job"][0]
    assert wait_done(web, f"/settings/prices/jobs/{job}?project={project}")["done"] == 2
    after = costs(web, ids[0])
    assert after["obs"]["a"]["total_cost"] == pytest.approx((1000 * 3 + 200) / 1e6)
    assert after["obs"]["client"]["total_cost"] == 0.25


def test_no_project_and_another_project(web: TestClient) -> None:
    store = store_of(web)
    other = store.create_project("other")
    store.create_user("lonely@heron.test", PASSWORD)
    web.post("/logout", data={"csrf_token": csrf_of(web.get("/").text)})
    assert login(web, "lonely@heron.test", PASSWORD).status_code == 303
    r = web.get("/settings/prices")
    assert r.status_code == 200 and "No project yet" in r.text
    assert web.get(f"/settings/prices?project={other['id']}").status_code == 404
    assert web.get(f"/settings/prices/jobs/x?project={other['id']}").status_code == 404


def test_a_model_priced_after_its_observations_offers_re_pricing(web: TestClient) -> None:
    ids = seed(web, traces=2)
    project = store_of(web).project_by_name("test")["id"]
    entry = {"id": "acme", "model_name": MODEL, "match_pattern": exact_pattern(MODEL),
             "prices": {"input": 1e-06, "output": 1e-06}}  # fmt: skip
    assert web.post("/api/models", json=entry, headers=API).status_code == 201
    url = f"/settings/prices?project={project}"
    page = web.get(url).text
    assert "stored before price <code>acme</code> existed" in page
    token = csrf_of(page)
    reprice = f"/settings/prices/reprice?project={project}"
    assert web.post(reprice, data={"csrf_token": token, "model": ""}).status_code == 400
    r = web.post(reprice, data={"csrf_token": token, "model": MODEL}, follow_redirects=False)
    job = parse_qs(urlsplit(r.headers["location"]).query)["job"][0]
    assert wait_done(web, f"/settings/prices/jobs/{job}?project={project}")["done"] == 4
    assert costs(web, ids[1])["obs"]["b"]["total_cost"] == pytest.approx(3011 / 1e6)
    assert "stored before price" not in web.get(url).text
