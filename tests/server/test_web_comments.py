"""Comments on the pages, in process: the trace page (trace and observation panel) and the
session page show them escaped; members add and change their own, admins anyone's, viewers
only read (a forged post is a 403)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_settings import _invite, _join
from tests.support.otlp import genai_trace, request
from tests.support.server import SECRET_KEY

PB = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("web-comments"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture(scope="module")
def member(admin: TestClient) -> TestClient:
    return _join(admin, _invite(admin, "member"), "member@heron.test")


@pytest.fixture(scope="module")
def viewer(admin: TestClient) -> TestClient:
    return _join(admin, _invite(admin, "viewer"), "viewer@heron.test")


def pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def trace(c: TestClient, session: str = "s1") -> tuple[str, str]:
    """A stored trace (waited for) and one of its child observations."""
    tid, spans = genai_trace(session=session)
    r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    r = c.get(f"/api/traces/{tid.hex()}", headers={**PB, "X-Heron-Consistent": "true"})
    assert r.status_code == 200
    return tid.hex(), spans[1].span_id.hex()


def post(c: TestClient, path: str, page: str, **data: str) -> Any:
    csrf = csrf_of(c.get(page).text)
    return c.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def add(c: TestClient, page: str, object_type: str, object_id: str, content: str, **more: str):
    return post(
        c,
        f"/comments?project={pid(c)}",
        page,
        object_type=object_type,
        object_id=object_id,
        content=content,
        **more,
    )


def comment_ids(html: str) -> list[str]:
    return re.findall(r'data-comment-id="([0-9a-f]+)"', html)


def test_trace_observation_and_session_comments_are_shown_escaped(admin: TestClient) -> None:
    tid, oid = trace(admin, session="sess-web")
    page = f"/traces/{tid}?project={pid(admin)}"
    hostile = "<script>alert(1)</script> **bold** `x<y`\nsecond line"
    r = add(admin, page, "TRACE", tid, hostile)
    assert r.status_code == 303 and r.headers["location"] == page + "#comments"
    html = admin.get(page).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <strong>bold</strong> <code>x&lt;y</code>\n" \
        "second line" in html  # fmt: skip
    assert ADMIN in html and 'class="comment-add"' in html and "Edit" in html
    # an observation's comments are in its panel, and the post goes back to it
    r = add(admin, page, "OBSERVATION", oid, "observation note", trace_id=tid)
    assert r.status_code == 303
    assert r.headers["location"] == f"{page}&observation={oid}#comments"
    panel = admin.get(f"/traces/{tid}/panel?project={pid(admin)}&observation={oid}").text
    assert "observation note" in panel and "second line" not in panel
    assert 'name="object_type" value="OBSERVATION"' in panel
    assert "observation note" not in admin.get(page).text  # the trace's panel: its own only
    session_page = f"/sessions/sess-web?project={pid(admin)}"
    r = add(admin, session_page, "SESSION", "sess-web", "whole conversation went wrong")
    assert r.status_code == 303 and r.headers["location"] == session_page + "#comments"
    assert "whole conversation went wrong" in admin.get(session_page).text


def test_bad_posts_get_error_pages(admin: TestClient) -> None:
    tid, _ = trace(admin)
    page = f"/traces/{tid}?project={pid(admin)}"
    for fields, status, message in (
        ({"object_type": "TRACE", "object_id": tid, "content": "x" * 5001}, 400, "5,000"),
        ({"object_type": "TRACE", "object_id": tid, "content": " "}, 400, "content: required"),
        ({"object_type": "PROMPT", "object_id": tid, "content": "x"}, 400, "no prompts"),
        ({"object_type": "TRACE", "object_id": "0" * 32, "content": "x"}, 404, "not found"),
    ):
        r = post(admin, f"/comments?project={pid(admin)}", page, **fields)
        assert r.status_code == status and message in r.text, (fields, r.status_code)
    r = post(admin, f"/comments/nope/edit?project={pid(admin)}", page, content="y")
    assert r.status_code == 404
    r = admin.post(f"/comments?project={pid(admin)}", data={"content": "no csrf"})
    assert r.status_code == 403


def test_authors_change_their_own_admins_any_viewers_none(
    admin: TestClient, member: TestClient, viewer: TestClient
) -> None:
    tid, _ = trace(admin)
    page = f"/traces/{tid}?project={pid(admin)}"
    assert add(admin, page, "TRACE", tid, "by the owner").status_code == 303
    assert add(member, page, "TRACE", tid, "by a member").status_code == 303
    owners, members = comment_ids(admin.get(page).text)
    html = member.get(page).text
    assert "member@heron.test" in html and html.count('class="comment-edit"') == 1
    r = post(member, f"/comments/{owners}/edit?project={pid(admin)}", page, content="hijack")
    assert r.status_code == 403 and "author or an admin" in r.text
    r = post(member, f"/comments/{owners}/delete?project={pid(admin)}", page)
    assert r.status_code == 403
    r = post(member, f"/comments/{members}/edit?project={pid(admin)}", page, content="edited")
    assert r.status_code == 303
    html = admin.get(page).text
    assert "edited" in html and "(edited)" in html and "hijack" not in html
    # the viewer reads, without a form or a button, and a forged post is refused
    html = viewer.get(page).text
    assert "by the owner" in html and 'class="comment-add"' not in html
    assert "comment-edit" not in html and "comment-delete" not in html
    for path, data in (
        (f"/comments?project={pid(admin)}", {"object_type": "TRACE", "object_id": tid}),
        (f"/comments/{members}/edit?project={pid(admin)}", {}),
        (f"/comments/{members}/delete?project={pid(admin)}", {}),
    ):
        r = post(viewer, path, page, content="viewer", **data)
        assert r.status_code == 403 and "Your role (viewer)" in r.text, path
    # the owner deletes the member's comment
    assert post(admin, f"/comments/{members}/delete?project={pid(admin)}", page).status_code == 303
    assert comment_ids(admin.get(page).text) == [owners]


def test_another_projects_comment_is_not_found(admin: TestClient) -> None:
    store = store_of(admin)
    other = store.create_project("elsewhere-web")["id"]
    tid, _ = trace(admin)
    key = store.create_key(other)["secret_key"]
    tid2, spans = genai_trace()
    admin.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**PB, "Authorization": f"Bearer {key}"},
    )
    admin.get(
        f"/api/traces/{tid2.hex()}",
        headers={"Authorization": f"Bearer {key}", "X-Heron-Consistent": "true"},
    )
    theirs = store.create_comment(other, "TRACE", tid2.hex(), "theirs", None)
    page = f"/traces/{tid}?project={pid(admin)}"
    for action in ("edit", "delete"):
        r = post(
            admin, f"/comments/{theirs['id']}/{action}?project={pid(admin)}", page, content="x"
        )
        assert r.status_code == 404, action
    # a trace of another project cannot be commented on from this one
    r = add(admin, page, "TRACE", tid2.hex(), "x")
    assert r.status_code == 404
    assert store.get_comment(other, theirs["id"])["content"] == "theirs"
