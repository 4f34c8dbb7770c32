"""The settings pages in process: keys (secret once, hint, revoke), members and invitations,
rename, and a viewer refused on every state-changing page route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of, web_settings

__all__ = ["web_settings"]


@pytest.fixture
def web(web_settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


def _pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def _invite(c: TestClient, role: str) -> str:
    page = c.get(f"/settings/members?project={_pid(c)}")
    r = c.post(
        f"/settings/members/invite?project={_pid(c)}",
        data={"role": role, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 200
    found = re.search(r'class="invite-link">([^<]+)<', r.text)
    assert found, r.text
    return found.group(1).replace("&amp;", "&")


def _join(c: TestClient, link: str, email: str) -> TestClient:
    other = TestClient(c.app)
    path = link.split("testserver", 1)[1]
    assert "Join test" in other.get(path).text
    token = path.split("token=", 1)[1]
    r = other.post(
        "/invite",
        data={"token": token, "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return other


def test_key_secret_is_shown_once_listed_by_hint_and_revoked_at_once(web: TestClient) -> None:
    pid = _pid(web)
    page = web.get(f"/settings/keys?project={pid}")
    assert page.status_code == 200 and "Create key" in page.text
    r = web.post(
        f"/settings/keys?project={pid}",
        data={"key_scope": "read", "csrf_token": csrf_of(page.text)},
    )
    secret = re.search(r'class="new-secret">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    public = re.search(r'class="new-public">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert web.get("/api/traces", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = web.get(f"/settings/keys?project={pid}").text
    assert secret not in listed and public in listed and secret[:6] + "…" + secret[-4:] in listed
    r = web.post(
        f"/settings/keys/revoke?project={pid}",
        data={"public_key": public, "csrf_token": csrf_of(listed)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert web.get("/api/traces", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert public not in web.get(f"/settings/keys?project={pid}").text


def test_rename_and_create_project(web: TestClient) -> None:
    pid = _pid(web)
    page = web.get(f"/settings?project={pid}")
    csrf = csrf_of(page.text)
    r = web.post(f"/settings/project?project={pid}", data={"name": "", "csrf_token": csrf})
    assert r.status_code == 400 and "must not be empty" in r.text
    r = web.post(
        f"/settings/project?project={pid}", data={"name": "<b>Renamed</b>", "csrf_token": csrf}
    )
    assert r.status_code == 200 and "&lt;b&gt;Renamed&lt;/b&gt;" in r.text
    r = web.post("/settings/projects", data={"name": "second", "csrf_token": csrf})
    assert r.status_code == 200 and "second" in r.text
    assert store_of(web).project_by_name("second") is not None


def test_invited_viewer_sees_no_buttons_and_forged_posts_get_403(web: TestClient) -> None:
    pid = _pid(web)
    viewer = _join(web, _invite(web, "viewer"), "viewer@heron.test")
    members = web.get(f"/settings/members?project={pid}").text
    assert "viewer@heron.test" in members
    for path in ("/settings", "/settings/keys", "/settings/members", "/dashboards", "/traces"):
        html = viewer.get(f"{path}?project={pid}").text
        assert "viewer" in html
        for button in (
            "Rename",
            "Create key",
            "Revoke",
            "Create invitation link",
            "Remove",
            "Create dashboard",
            "Save view",
        ):
            assert button not in html, (path, button)
    csrf = csrf_of(viewer.get(f"/settings?project={pid}").text)
    for path, data in [
        ("/settings/project", {"name": "hijacked"}),
        ("/settings/keys", {"key_scope": "full"}),
        ("/settings/keys/revoke", {"public_key": "pk-x"}),
        ("/settings/members/invite", {"role": "owner"}),
        ("/settings/members/role", {"user_id": "x", "role": "owner"}),
        ("/settings/members/remove", {"user_id": "x"}),
        ("/dashboards", {"name": "d"}),
        ("/dashboards/x/delete", {}),
        ("/dashboards/x/duplicate", {}),
        ("/dashboards/x/edit", {}),
        ("/traces/views", {"name": "v", "query": ""}),
        ("/traces/views/x/delete", {}),
        ("/traces/x/delete", {}),
    ]:
        r = viewer.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf})
        assert r.status_code == 403, (path, r.status_code)
        assert "Your role (viewer)" in r.text
    assert store_of(web).project_by_name("test") is not None


def test_invitation_link_works_once_and_admin_cannot_make_owners(web: TestClient) -> None:
    pid = _pid(web)
    link = _invite(web, "admin")
    admin = _join(web, link, "admin@heron.test")
    path = link.split("testserver", 1)[1]
    assert TestClient(web.app).get(path).status_code == 404
    csrf = csrf_of(admin.get(f"/settings/members?project={pid}").text)
    r = admin.post(
        f"/settings/members/invite?project={pid}", data={"role": "owner", "csrf_token": csrf}
    )
    assert r.status_code == 403
    r = admin.post(
        f"/settings/members/invite?project={pid}", data={"role": "member", "csrf_token": csrf}
    )
    assert r.status_code == 200 and "invite-link" in r.text
    r = admin.post(
        f"/settings/members/invite?project={pid}", data={"role": "boss", "csrf_token": csrf}
    )
    assert r.status_code == 400 and "unknown role" in r.text
