"""The issues pages and the trace page's signals, in process with the rules task running:
hostile messages escaped, a viewer reads but has no buttons and a forged post is a 403,
bulk resolve and ignore, another project's issues invisible."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_settings import _invite, _join
from tests.server.test_web_traces import ingest
from tests.support.otlp import new_span_id, new_trace_id, span

HOSTILE = "<script>alert(1)</script> failed after 3s"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
        runner_tasks="heron.signals.task:RulesTask",
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


def _pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def failing(c: TestClient, message: str) -> str:
    trace_id, root = new_trace_id(), new_span_id()
    child = span(trace_id, new_span_id(), "<b>step</b>", parent=root, error=message)
    ingest(c, [span(trace_id, root, "chat"), child])
    return trace_id.hex()


def signal_of(c: TestClient, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows, _ = store_of(c).list_signals(_pid(c), trace_id=trace_id)
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError("no signal")


def test_hostile_messages_are_escaped_everywhere(web: TestClient) -> None:
    t = failing(web, HOSTILE)
    s = signal_of(web, t)
    pq = f"project={_pid(web)}"
    for path in (f"/issues?{pq}", f"/issues/{s['issue_id']}?{pq}", f"/traces/{t}?{pq}"):
        html = web.get(path).text
        assert "<script>alert(1)</script>" not in html and "<b>step</b>" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    trace_page = web.get(f"/traces/{t}?{pq}").text
    assert f"/issues/{s['issue_id']}?" in trace_page
    detail = web.get(f"/issues/{s['issue_id']}?{pq}").text
    assert t in detail and "Resolve" in detail
    assert web.get(f"/issues/iss_nope?{pq}").status_code == 404


def test_bulk_resolve_and_ignore(web: TestClient) -> None:
    s1 = signal_of(web, failing(web, "database down"))
    s2 = signal_of(web, failing(web, "cache miss storm"))
    pq = f"project={_pid(web)}"
    page = web.get(f"/issues?{pq}").text
    assert page.count('class="issue-row"') == 2
    csrf = csrf_of(page)
    r = web.post(f"/issues/status?{pq}", follow_redirects=False,
                 data={"ids": [s1["issue_id"], s2["issue_id"]], "action": "resolve",
                       "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 303
    store = store_of(web)
    assert {store.get_issue(_pid(web), s["issue_id"])["status"] for s in (s1, s2)} == {"resolved"}
    r = web.post(f"/issues/status?{pq}", follow_redirects=False,
                 data={"ids": [s1["issue_id"]], "action": "ignore", "hours": "5",
                       "csrf_token": csrf})  # fmt: skip
    issue = store.get_issue(_pid(web), s1["issue_id"])
    assert r.status_code == 303 and issue["status"] == "ignored" and issue["ignore_until"]
    assert web.get(f"/issues?{pq}&status=ignored").text.count('class="issue-row"') == 1
    r = web.post(f"/issues/status?{pq}", data={"ids": [s1["issue_id"]], "action": "explode",
                                             "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400
    r = web.post(f"/issues/status?{pq}", data={"ids": [s1["issue_id"]], "action": "resolve"})
    assert r.status_code == 403  # no CSRF token


def test_a_viewer_reads_without_buttons_and_cannot_post(web: TestClient) -> None:
    s = signal_of(web, failing(web, "boom"))
    viewer = _join(web, _invite(web, "viewer"), "viewer@heron.test")
    pq = f"project={_pid(web)}"
    listing = viewer.get(f"/issues?{pq}").text
    assert 'class="issue-row"' in listing and 'name="ids"' not in listing
    detail = viewer.get(f"/issues/{s['issue_id']}?{pq}").text
    assert "boom" in detail and 'value="resolve"' not in detail
    csrf = csrf_of(viewer.get(f"/settings?{pq}").text)
    r = viewer.post(f"/issues/status?{pq}", data={"ids": [s["issue_id"]], "action": "resolve",
                                                "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 403 and "Your role (viewer)" in r.text
    assert store_of(web).get_issue(_pid(web), s["issue_id"])["status"] == "open"


def test_another_projects_issues_are_invisible(web: TestClient) -> None:
    s = signal_of(web, failing(web, "ours"))
    store = store_of(web)
    other = store.create_project("other", owner_id=store.user_by_email(ADMIN)["id"])
    oq = f"project={other['id']}"
    listing = web.get(f"/issues?{oq}")
    assert listing.status_code == 200 and "No issues" in listing.text
    assert web.get(f"/issues/{s['issue_id']}?{oq}").status_code == 404
    csrf = csrf_of(web.get(f"/issues?{oq}").text)
    r = web.post(f"/issues/status?{oq}", data={"ids": [s["issue_id"]], "action": "resolve",
                                             "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 404
    assert store.get_issue(_pid(web), s["issue_id"])["status"] == "open"
