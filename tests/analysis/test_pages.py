"""The error analysis pages in process: run from the form, review, rename, merge, split,
move, accept; notes escaped; a viewer reads but cannot change; another project's analysis
is a 404."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.server.evaluators import save_connection
from tests.analysis.notes import add_comments, add_traces, labelled
from tests.conftest import make_settings
from tests.evals.fake_openai import FakeProvider, fake_provider
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_settings import _invite, _join

__all__ = ["fake_provider"]
HOSTILE = "<script>alert('note')</script> the reply was rude"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(
        Path(tmp_path_factory.mktemp("pages")), init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        store = store_of(c)
        pid = store.project_by_name("test")["id"]
        rows = labelled("heldout.jsonl")
        ids = [f"page{i:028x}" for i in range(len(rows) + 1)]
        add_traces(store, pid, ids)
        add_comments(store, pid, [(t, r["note"]) for t, r in zip(ids, rows, strict=False)])
        add_comments(store, pid, [(ids[-1], HOSTILE)])
        yield c


def _pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def _post(c: TestClient, path: str, data: dict[str, object]) -> object:
    csrf = csrf_of(c.get(f"/error-analysis?project={_pid(c)}").text)
    return c.post(
        f"{path}?project={_pid(c)}", data={**data, "csrf_token": csrf}, follow_redirects=False
    )


def _run(c: TestClient) -> str:
    r = _post(c, "/error-analysis", {"source": "comments", "from": "2026-11-01T00:00:00Z"})
    assert r.status_code == 303, r.text
    found = re.search(r"/error-analysis/([0-9a-f]+)\?", r.headers["location"])
    assert found
    return found.group(1)


def _analysis(c: TestClient, analysis_id: str) -> dict:
    found = store_of(c).get_error_analysis(_pid(c), analysis_id)
    assert found is not None
    return found


def test_run_review_and_escape(web: TestClient) -> None:
    page = web.get(f"/error-analysis?project={_pid(web)}")
    assert page.status_code == 200 and "New analysis" in page.text
    analysis_id = _run(web)
    html = web.get(f"/error-analysis/{analysis_id}?project={_pid(web)}").text
    a = _analysis(web, analysis_id)
    for c in a["categories"]:
        assert c["label"].replace("'", "&#39;") in html
        if c["id"] != "other":
            slot = f"/evaluators/new?from_category={analysis_id}%3A{c['id']}"
            assert slot in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert f"/traces/{a['categories'][0]['notes'][0]['traceId']}?project=" in html
    assert analysis_id in web.get(f"/error-analysis?project={_pid(web)}").text


def test_edit_and_accept_from_the_page(web: TestClient) -> None:
    analysis_id = _run(web)
    base = f"/error-analysis/{analysis_id}"
    cats = [c for c in _analysis(web, analysis_id)["categories"] if c["id"] != "other"]
    first, second, third = cats[0], cats[1], cats[2]
    r = _post(web, f"{base}/rename", {"category_id": first["id"], "label": "Rude tone"})
    assert r.status_code == 303
    assert _analysis(web, analysis_id)["categories"][0]["label"] == "Rude tone"
    r = _post(web, f"{base}/merge", {"category_ids": [second["id"], third["id"]]})
    assert r.status_code == 303
    after = {c["id"]: c for c in _analysis(web, analysis_id)["categories"]}
    assert third["id"] not in after
    assert len(after[second["id"]]["notes"]) == len(second["notes"]) + len(third["notes"])
    note = after[second["id"]]["notes"][0]["id"]
    r = _post(web, f"{base}/notes", {"action": "move", "category_id": second["id"],
                                     "note_ids": [note], "to": first["id"]})  # fmt: skip
    assert r.status_code == 303
    assert note in [n["id"] for n in _analysis(web, analysis_id)["categories"][0]["notes"]]
    r = _post(web, f"{base}/notes", {"action": "split", "category_id": first["id"],
                                     "note_ids": [note]})  # fmt: skip
    assert r.status_code == 303
    split = _analysis(web, analysis_id)["categories"][1]
    assert [n["id"] for n in split["notes"]] == [note]
    r = _post(web, f"{base}/accept", {})
    assert r.status_code == 303
    html = web.get(f"{base}?project={_pid(web)}").text
    assert "Accept again" in html and "failure_mode" in html
    configs, _ = store_of(web).list_score_configs(_pid(web), 1, 100)
    fm = next(c for c in configs if c["name"] == "failure_mode")
    assert "Rude tone" in [c["label"] for c in fm["categories"]]


def test_refusals_are_error_pages(web: TestClient) -> None:
    r = _post(web, "/error-analysis", {"source": "emails"})
    assert r.status_code == 400 and "source: expected" in r.text
    r = _post(web, "/error-analysis", {"source": "comments", "filter": "[nope"})
    assert r.status_code == 400 and "filter: invalid JSON" in r.text
    analysis_id = _run(web)
    r = _post(web, f"/error-analysis/{analysis_id}/notes", {"action": "move", "category_id": "c1"})
    assert r.status_code == 400 and "Choose the notes" in r.text
    r = _post(web, f"/error-analysis/{analysis_id}/rename", {"category_id": "c1", "label": ""})
    assert r.status_code == 400
    r = web.post(f"/error-analysis/{analysis_id}/accept?project={_pid(web)}", data={})
    assert r.status_code in (400, 403)  # no CSRF token
    # another project of the same user does not have it
    other = store_of(web).create_project("elsewhere")["id"]
    assert web.get(f"/error-analysis/{analysis_id}?project={other}").status_code == 404


def test_a_viewer_reads_but_cannot_change(web: TestClient) -> None:
    analysis_id = _run(web)
    viewer = _join(web, _invite(web, "viewer"), "viewer@heron.test")
    page = viewer.get(f"/error-analysis/{analysis_id}?project={_pid(web)}")
    assert page.status_code == 200 and "Accept categories" not in page.text
    csrf = csrf_of(page.text) if 'name="csrf_token"' in page.text else ""
    r = viewer.post(
        f"/error-analysis/{analysis_id}/accept?project={_pid(web)}",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_name_with_a_connection_from_the_page(web: TestClient, fake_provider: FakeProvider) -> None:
    analysis_id = _run(web)
    base = f"/error-analysis/{analysis_id}"
    assert "Ask the model" not in web.get(f"{base}?project={_pid(web)}").text
    body = {"name": "namer", "base_url": fake_provider.base_url, "api_key": "k", "model": "m"}
    save_connection(web.app.state.heron, _pid(web), body)
    assert "Ask the model to name and merge" in web.get(f"{base}?project={_pid(web)}").text
    first = _analysis(web, analysis_id)["categories"][0]["id"]
    fake_provider.content = f'{{"groups": [{{"categoryIds": ["{first}"], "label": "Named"}}]}}'
    r = _post(web, f"{base}/name", {"connection": "namer"})
    assert r.status_code == 303, r.text
    assert _analysis(web, analysis_id)["categories"][0]["label"] == "Named"
    r = _post(web, f"{base}/name", {"connection": "missing"})
    assert r.status_code == 404


def test_create_evaluator_from_an_accepted_category(web: TestClient) -> None:
    analysis_id = _run(web)
    base = f"/error-analysis/{analysis_id}"
    first = _analysis(web, analysis_id)["categories"][0]
    assert _post(web, f"{base}/rename", {"category_id": first["id"], "label": "Quoted old policy"})
    assert _post(web, f"{base}/accept", {}).status_code == 303
    link = f"/evaluators/new?from_category={analysis_id}%3A{first['id']}&project={_pid(web)}"
    text = re.sub(r"<[^>]+>", "", web.get(link).text)
    # the draft is of the category's label; a judge needs a connection, which this project lacks
    assert "failure_mode = Quoted old policy" in text, text[text.find("New evaluator") :][:1500]
    html = web.get(link + "&kind=code").text
    # a rule drafted from the category's keywords
    assert "name: failure_quoted_old_policy" in html and "check: contains" in html
    assert any(w in html for w in first["keywords"])
    missing = web.get(f"/evaluators/new?from_category={analysis_id}%3Anope&project={_pid(web)}")
    assert missing.status_code == 404 and "nope" in missing.text
