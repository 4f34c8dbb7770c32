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


# Page routes that change no project's data: signing in and out, picking a project, joining
# by invitation, and creating a project of one's own (its creator becomes its owner).
NOT_PROJECT_CHANGES = {"/login", "/logout", "/projects/switch", "/invite", "/settings/projects"}
# Form fields that get a request past validation to the role check when it is checked later.
FIELDS = {
    "/settings/project": {"name": "hijacked"},
    "/settings/keys": {"key_scope": "full"},
    "/settings/keys/revoke": {"public_key": "pk-x"},
    "/settings/members/invite": {"role": "owner"},
    "/settings/members/role": {"user_id": "x", "role": "owner"},
    "/settings/members/remove": {"user_id": "x"},
    "/dashboards": {"name": "d"},
    "/traces/views": {"name": "v", "query": ""},
    "/observations/views": {"name": "v", "query": ""},
    "/settings/prices": {"model_name": "m", "input": "1"},
    "/settings/prices/reprice": {"model": "m"},
}


def _project_post_routes() -> list[tuple[str, dict[str, str]]]:
    """Every POST route of the web pages that changes the project in view (found, not listed,
    so a page added later is covered), with a placeholder for each path parameter."""
    from heron.server import web

    found = []
    for module in web.PAGE_MODULES:
        for route in module.router.routes:
            if "POST" not in route.methods or route.path in NOT_PROJECT_CHANGES:
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found.append((path, FIELDS.get(route.path, {})))
    return found


def test_invited_viewer_sees_no_buttons_and_forged_posts_get_403(web: TestClient) -> None:
    pid = _pid(web)
    viewer = _join(web, _invite(web, "viewer"), "viewer@heron.test")
    members = web.get(f"/settings/members?project={pid}").text
    assert "viewer@heron.test" in members
    for path in (
        "/settings",
        "/settings/keys",
        "/settings/members",
        "/settings/prices",
        "/dashboards",
        "/traces",
        "/observations",
    ):
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
            "Save price",
            "re-price",
        ):
            assert button not in html, (path, button)
    csrf = csrf_of(viewer.get(f"/settings?project={pid}").text)
    forged = _project_post_routes()
    assert {"/settings/keys", "/traces/views", "/observations/views", "/settings/prices"} <= {
        p for p, _ in forged
    }
    for path, data in forged:
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


def test_admin_api_manages_projects_keys_and_members(web: TestClient) -> None:
    token = web.app.state.heron.admin_token  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {token}"}
    api = TestClient(web.app, headers=auth)
    assert TestClient(web.app).get("/api/admin/members?project=test").status_code == 401
    key = api.post("/api/admin/keys", json={"project": "test"}).json()
    bearer = {"Authorization": f"Bearer {key['secret_key']}"}
    assert api.get("/api/traces", headers=bearer).status_code == 200
    r = api.post(
        "/api/admin/keys/revoke", json={"project": "test", "public_key": key["public_key"]}
    )
    assert r.status_code == 200
    assert TestClient(web.app).get("/api/traces", headers=bearer).status_code == 401
    again = api.post(
        "/api/admin/keys/revoke", json={"project": "test", "public_key": key["public_key"]}
    )
    assert again.status_code == 404 and "not found" in again.json()["error"]["message"]
    # a project key, even a full one, cannot reach the admin API
    full = {
        "Authorization": "Bearer "
        + api.post("/api/admin/keys", json={"project": "test"}).json()["secret_key"]
    }
    assert (
        TestClient(web.app).get("/api/admin/members?project=test", headers=full).status_code == 401
    )

    api.post("/api/admin/users", json={"email": "m@heron.test", "password": PASSWORD})
    r = api.post(
        "/api/admin/members", json={"project": "test", "email": "m@heron.test", "role": "boss"}
    )
    assert r.status_code == 400 and "unknown role" in r.json()["error"]["message"]
    r = api.post(
        "/api/admin/members", json={"project": "test", "email": "m@heron.test", "role": "owner"}
    )
    assert r.status_code == 200
    roles = {
        m["email"]: m["role"] for m in api.get("/api/admin/members?project=test").json()["data"]
    }
    assert roles["m@heron.test"] == "owner"
    r = api.post(
        "/api/admin/members", json={"project": "test", "email": "m@heron.test", "role": "viewer"}
    )
    assert r.status_code == 409 and "last owner" in r.json()["error"]["message"]
    assert (
        api.post(
            "/api/admin/members/remove", json={"project": "test", "email": "nobody@x.test"}
        ).status_code
        == 404
    )

    r = api.post("/api/admin/projects/rename", json={"project": "test", "name": "prod"})
    assert r.status_code == 200 and r.json()["name"] == "prod"
    invite = api.post("/api/admin/invitations", json={"project": "prod", "role": "viewer"})
    assert invite.status_code == 201 and "/invite?token=" in invite.json()["link"]
    assert "Join prod" in TestClient(web.app).get(invite.json()["link"]).text
