"""The annotation queue pages in process: create and edit a queue, fill it from the traces
list's filter (the count first), from an issue, add a trace from its page; names escaped;
a viewer reads but every change is a 403; another project's queue is a 404."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.model import ObservationRecord, TraceUpdate
from heron.server.app import create_app
from heron.store.signals import Signal
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.support.server import CONSISTENT

EVIL = '<script>alert("q")</script>'
VIEWER = "viewer@heron.test"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("pages"), init_admin_email=ADMIN,
                             init_admin_password=PASSWORD)  # fmt: skip
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        store = store_of(c)
        pid = store.project_by_name("test")["id"]
        store.put_score_config(pid, {"id": "cfg-ok", "name": "correct", "dataType": "BOOLEAN",
                                     "categories": None, "isArchived": False})  # fmt: skip
        observations, updates = [], []
        for i in range(6):
            tid = f"{i:032x}"
            name = "chat" if i < 4 else "search"
            start = 1_764_000_000_000_000 + i * 1_000_000
            observations.append(ObservationRecord(
                project_id=pid, id=f"{i:016x}", trace_id=tid, parent_id=None, type="span",
                name=name, start_us=start, end_us=start + 1000))  # fmt: skip
            updates.append(TraceUpdate(project_id=pid, trace_id=tid, is_root=True, name=name))
        store.write_batch(observations, updates)
        yield c


def pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def post(c: TestClient, path: str, **data: Any) -> Any:
    csrf = csrf_of(c.get(f"/annotation-queues?project={pid(c)}").text)
    sep = "&" if "?" in path else "?"
    return c.post(f"{path}{sep}project={pid(c)}", data={**data, "csrf_token": csrf},
                  follow_redirects=False)  # fmt: skip


def make_queue(c: TestClient, name: str) -> str:
    r = post(c, "/annotation-queues", name=name, description=EVIL, score_config_ids="cfg-ok",
             annotations_per_item="1")  # fmt: skip
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/annotation-queues/", 1)[1].split("?", 1)[0]


def test_create_list_edit_and_escape(web: TestClient) -> None:
    qid = make_queue(web, f"review {EVIL}")
    listing = web.get(f"/annotation-queues?project={pid(web)}").text
    assert EVIL not in listing and "&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;" in listing
    traces = web.get(f"/traces?project={pid(web)}").text
    assert f'href="/annotation-queues?project={pid(web)}"' in traces  # linked from the list
    page = web.get(f"/annotation-queues/{qid}?project={pid(web)}")
    assert page.status_code == 200 and EVIL not in page.text
    assert "0 of 0 completed" in page.text
    r = post(web, f"/annotation-queues/{qid}", name="renamed", description="",
             score_config_ids="cfg-ok", annotations_per_item="2")  # fmt: skip
    assert r.status_code == 303
    queue = store_of(web).get_annotation_queue(pid(web), qid)
    assert (queue["name"], queue["annotations_per_item"], queue["description"]) == (
        "renamed", 2, None,
    )  # fmt: skip
    bad = post(web, "/annotation-queues", name="x", annotations_per_item="1")
    assert bad.status_code == 400 and "scoreConfigIds: expected a non-empty list" in bad.text
    bad = post(web, f"/annotation-queues/{qid}", name="", score_config_ids="cfg-ok")
    assert bad.status_code == 400 and "name: required" in bad.text
    assert post(web, f"/annotation-queues/{qid}/delete").status_code == 303
    assert web.get(f"/annotation-queues/{qid}?project={pid(web)}").status_code == 404


def test_fill_from_the_traces_list_counts_first(web: TestClient) -> None:
    qid = make_queue(web, "from-list")
    traces = web.get(f"/traces?project={pid(web)}&name=chat").text
    link = re.search(r'class="add-to-queue" href="([^"]+)"', traces)
    assert link, "the traces list links to the fill page"
    fill_url = link.group(1).replace("&amp;", "&")
    counted = web.get(fill_url + f"&queue={qid}&size=3")
    assert counted.status_code == 200, counted.text
    assert "name = chat" in counted.text
    assert re.search(r"<strong>4</strong> traces match .*<strong>3</strong> would be added",
                     counted.text)  # fmt: skip
    assert store_of(web).list_queue_items(pid(web), qid)[1] == 0  # counting adds nothing
    body = re.search(r'name="body" value="([^"]+)"', counted.text).group(1)
    import html

    r = post(web, "/annotation-queues/fill", queue=qid, body=html.unescape(body))
    assert r.status_code == 303 and "added=3" in r.headers["location"]
    assert store_of(web).list_queue_items(pid(web), qid)[1] == 3
    assert "3 items added" in web.get(r.headers["location"]).text
    # bad options are shown on the page, not a 500
    bad = web.get(fill_url + f"&queue={qid}&size=20000")
    assert bad.status_code == 400 and "limit: between 1 and 10,000" in bad.text
    bad = web.get(f"/annotation-queues/fill?project={pid(web)}&queue={qid}&sample=stratified"
                  "&by=nope")  # fmt: skip
    assert bad.status_code == 400 and "by: a stratified sample needs a column" in bad.text
    assert post(web, "/annotation-queues/fill", queue=qid, body="{").status_code == 400


def test_fill_from_an_issue_and_add_from_a_trace_page(web: TestClient) -> None:
    store = store_of(web)
    tid = f"{1:032x}"
    store.write_signals([Signal(pid(web), "sig-1", "errors", "high", tid, None, None,
                                datetime(2026, 1, 1), "boom", "issue-9", "fp-9", None, None,
                                None)], {})  # fmt: skip
    qid = make_queue(web, "from-issue")
    issue = web.get(f"/issues/issue-9?project={pid(web)}").text
    assert "/annotation-queues/fill?" in issue and "issue=issue-9" in issue
    counted = web.get(f"/annotation-queues/fill?project={pid(web)}&issue=issue-9&queue={qid}")
    assert re.search(r"<strong>1</strong> trace match", counted.text), counted.text

    trace_page = web.get(f"/traces/{tid}?project={pid(web)}").text
    assert "/annotation-queues/add?" in trace_page
    chooser = web.get(f"/annotation-queues/add?project={pid(web)}&object_type=TRACE"
                      f"&object_id={tid}")  # fmt: skip
    assert chooser.status_code == 200 and "from-issue" in chooser.text
    r = post(web, "/annotation-queues/add", queue=qid, object_type="TRACE", object_id=tid)
    assert r.status_code == 303
    assert qid in [h["queue_id"] for h in store.object_queues(pid(web), "TRACE", tid)]
    assert "(already in it)" in web.get(f"/annotation-queues/add?project={pid(web)}"
                                        f"&object_type=TRACE&object_id={tid}").text  # fmt: skip
    items, _ = store.list_queue_items(pid(web), qid)
    page = web.get(f"/annotation-queues/{qid}?project={pid(web)}").text
    assert f"/traces/{tid}" in page
    assert post(web, f"/annotation-queues/{qid}/items/{items[0]['id']}/delete").status_code == 303
    assert store.list_queue_items(pid(web), qid)[1] == 0
    bad = web.get(f"/annotation-queues/add?project={pid(web)}&object_type=SPAN&object_id=x")
    assert bad.status_code == 400


def test_a_viewer_reads_and_changes_nothing(web: TestClient) -> None:
    store = store_of(web)
    qid = make_queue(web, "viewer-sees")
    user = store.create_user(VIEWER, PASSWORD)
    store.add_member(pid(web), user["id"], "viewer")
    viewer = TestClient(web.app)
    assert login(viewer, VIEWER, PASSWORD).status_code == 303
    assert viewer.get(f"/annotation-queues?project={pid(web)}").status_code == 200
    page = viewer.get(f"/annotation-queues/{qid}?project={pid(web)}")
    assert page.status_code == 200 and "Edit queue" not in page.text
    assert "Add these traces to a queue" not in viewer.get(f"/traces?project={pid(web)}").text
    csrf = csrf_of(page.text)
    for path, data in (
        ("/annotation-queues", {"name": "v", "score_config_ids": "cfg-ok"}),
        (f"/annotation-queues/{qid}", {"name": "v", "score_config_ids": "cfg-ok"}),
        (f"/annotation-queues/{qid}/delete", {}),
        ("/annotation-queues/fill", {"queue": qid, "body": '{"limit": 1}'}),
        ("/annotation-queues/add", {"queue": qid, "object_type": "TRACE", "object_id": "t"}),
    ):
        r = viewer.post(f"{path}?project={pid(web)}", data={**data, "csrf_token": csrf},
                        follow_redirects=False)  # fmt: skip
        assert r.status_code == 403, (path, r.status_code)
    assert viewer.get(f"/annotation-queues/fill?project={pid(web)}").status_code == 403
    assert store.get_annotation_queue(pid(web), qid)["name"] == "viewer-sees"


def test_another_projects_queue_is_a_404(web: TestClient) -> None:
    store = store_of(web)
    other = store.create_project("elsewhere")["id"]
    theirs = store.create_annotation_queue(other, {"name": "theirs", "score_config_ids": []})
    assert web.get(f"/annotation-queues/{theirs['id']}?project={pid(web)}").status_code == 404
    r = post(web, f"/annotation-queues/{theirs['id']}/delete")
    assert r.status_code == 404
    assert store.get_annotation_queue(other, theirs["id"]) is not None
