"""Web UI access: logins, sessions, CSRF, one-time links and project scoping, in process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.server.web.auth import LOGIN_LINK_TTL_S, SESSION_COOKIE
from heron.server.web.render import environment
from heron.settings import Settings
from tests.conftest import make_settings

ADMIN = "owner@heron.test"
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def login(c: TestClient, email: str, password: str) -> Any:
    form = c.get("/login")
    return c.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


def store_of(c: TestClient) -> Any:
    return c.app.state.heron.store  # type: ignore[attr-defined]


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD)


@pytest.fixture
def web(web_settings: Settings) -> Iterator[TestClient]:
    """The app in process with no API key: the web UI uses its cookies only."""
    with TestClient(create_app(web_settings)) as c:
        yield c


def test_home_redirects_to_a_login_form_with_labelled_fields(web: TestClient) -> None:
    r = web.get("/")
    assert r.status_code == 200 and r.url.path == "/login"
    assert '<label for="email">' in r.text and 'id="email"' in r.text
    assert '<label for="password">' in r.text and 'type="password"' in r.text
    assert web.get("/static/heron.css").status_code == 200
    assert web.get("/static/heron.js").status_code == 200


def test_login_sets_a_session_cookie_and_shows_the_home_page(web: TestClient) -> None:
    r = login(web, ADMIN.upper(), PASSWORD)  # emails are case-insensitive
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    home = web.get("/")
    assert home.status_code == 200 and ">test</h1>" in home.text and ADMIN in home.text
    assert "no-store" in home.headers["cache-control"]


def test_session_cookie_is_secure_over_https(web_settings: Settings) -> None:
    with TestClient(create_app(web_settings), base_url="https://testserver") as c:
        r = login(c, ADMIN, PASSWORD)
        cookie = next(x for x in r.headers.get_list("set-cookie") if x.startswith(SESSION_COOKIE))
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_failed_login_shows_the_form_again_without_telling_which_part_was_wrong(
    web: TestClient,
) -> None:
    wrong_password = login(web, ADMIN, "not the password")
    unknown_email = login(web, "nobody@heron.test", PASSWORD)
    for r in (wrong_password, unknown_email):
        assert r.status_code == 401
        assert "Wrong email or password." in r.text and 'id="password"' in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")

    def strip(html: str) -> str:
        html = re.sub(r'value="[^"]*@heron.test"', "", html)
        return re.sub(r'name="csrf_token" value="[^"]+"', "", html)

    assert strip(wrong_password.text) == strip(unknown_email.text)
    assert web.get("/").url.path == "/login"


def test_logout_ends_the_session(web: TestClient) -> None:
    login(web, ADMIN, PASSWORD)
    token = web.cookies[SESSION_COOKIE]
    home = web.get("/")
    r = web.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert web.get("/").url.path == "/login"
    web.cookies.set(SESSION_COOKIE, token)  # the old cookie is dead on the server too
    assert web.get("/").url.path == "/login"


def test_state_changing_requests_need_the_csrf_token(web: TestClient) -> None:
    login(web, ADMIN, PASSWORD)
    token = csrf_of(web.get("/").text)
    missing = web.post("/logout", data={})
    assert missing.status_code == 403 and "CSRF token missing" in missing.text
    wrong = web.post("/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 403 and "CSRF token invalid" in wrong.text
    wrong_header = web.post("/logout", headers={"X-CSRF-Token": "forged"})
    assert wrong_header.status_code == 403 and "CSRF token invalid" in wrong_header.text
    assert web.get("/").url.path == "/"  # still logged in
    ok = web.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert ok.status_code == 303


def test_the_login_form_has_csrf_protection_too(web: TestClient) -> None:
    web.get("/login")
    r = web.post("/login", data={"email": ADMIN, "password": PASSWORD})
    assert r.status_code == 403 and "CSRF token missing" in r.text
    r = web.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403 and "CSRF token invalid" in r.text
    assert SESSION_COOKIE not in web.cookies


def test_a_one_time_link_logs_in_once(web: TestClient) -> None:
    store = store_of(web)
    admin = store.user_by_email(ADMIN)
    token = store.create_login_token(admin["id"], LOGIN_LINK_TTL_S)
    r = web.get(f"/login/token?token={token}", follow_redirects=False)
    assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]
    assert web.get("/").url.path == "/"
    web.cookies.clear()
    again = web.get(f"/login/token?token={token}")
    assert again.status_code == 401 and "expired or was already used" in again.text
    assert web.get("/").url.path == "/login"
    expired = store.create_login_token(admin["id"], -1)
    assert web.get(f"/login/token?token={expired}").status_code == 401


def test_passwords_and_tokens_are_never_stored_plain(web_settings: Settings) -> None:
    with TestClient(create_app(web_settings)) as c:
        store_of(c).create_user("second@heron.test", "another-secret-password")
        login(c, ADMIN, PASSWORD)
        session = c.cookies[SESSION_COOKIE]
        link = store_of(c).create_login_token(store_of(c).user_by_email(ADMIN)["id"], 60)
    db = web_settings.db_path
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"owner@heron.test" in stored  # the search would find plain text
    for secret in (PASSWORD, "another-secret-password", session, link):
        assert secret.encode() not in stored, secret
    assert b"scrypt$" in stored


def test_a_user_sees_only_projects_they_belong_to(web: TestClient) -> None:
    store = store_of(web)
    a = store.create_project("alpha")
    b = store.create_project("beta")
    store.create_user("a@heron.test", "password-of-a", project_ids=[a["id"]])
    store.create_user("b@heron.test", "password-of-b", project_ids=[b["id"]])

    login(web, "b@heron.test", "password-of-b")
    home = web.get("/")
    assert ">beta</h1>" in home.text and "alpha" not in home.text
    token = csrf_of(home.text)
    switch = web.post("/projects/switch", data={"project": a["id"], "csrf_token": token})
    assert switch.status_code == 404 and "not found" in switch.text.lower()
    assert web.get(f"/?project={a['id']}").status_code == 404
    assert web.get("/?project=prj_nonexistent").status_code == 404
    assert "alpha" not in web.get("/").text

    # the admin belongs to every project, also those created after it, and can switch
    web.cookies.clear()
    login(web, ADMIN, PASSWORD)
    token = csrf_of(web.get("/").text)
    r = web.post("/projects/switch", data={"project": a["id"], "csrf_token": token})
    assert r.status_code == 200 and ">alpha</h1>" in r.text
    assert ">alpha</h1>" in web.get("/").text  # remembered
    assert ">beta</h1>" in web.get(f"/?project={b['id']}").text


def test_the_api_still_needs_an_api_key_not_a_session(web: TestClient) -> None:
    login(web, ADMIN, PASSWORD)
    assert web.get("/").url.path == "/"
    assert web.get("/api/traces").status_code == 401


def test_init_admin_is_created_once_and_no_default_admin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD)
    created: list[dict[str, Any]] = []
    with TestClient(create_app(settings, on_users_created=created.extend)) as c:
        assert [u["email"] for u in store_of(c).list_accounts()] == [ADMIN]
        assert login(c, ADMIN, PASSWORD).status_code == 303
    assert [(u["email"], u["password"]) for u in created] == [(ADMIN, None)]
    created.clear()
    changed = make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password="other-one")
    with TestClient(create_app(changed, on_users_created=created.extend)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303  # present: left as it is
    assert created == []


def test_first_start_creates_an_admin_with_a_generated_password(tmp_path: Path) -> None:
    created: list[dict[str, Any]] = []
    with TestClient(create_app(make_settings(tmp_path), on_users_created=created.extend)) as c:
        [admin] = created
        assert admin["email"] == "admin@localhost" and admin["is_admin"]
        assert len(admin["password"]) >= 12
        assert login(c, "admin@localhost", admin["password"]).status_code == 303
        assert ">test</h1>" in c.get("/").text  # a member of the existing project


def test_templates_escape_a_hostile_project_name(tmp_path: Path) -> None:
    assert environment.autoescape is True
    hostile = "<script>alert(1)</script>"
    settings = make_settings(
        tmp_path, init_project=hostile, init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings)) as c:
        login(c, ADMIN, PASSWORD)
        home = c.get("/")
    assert home.status_code == 200
    assert hostile not in home.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home.text


def test_the_empty_state_says_how_to_send_a_first_trace(web: TestClient) -> None:
    login(web, ADMIN, PASSWORD)
    text = web.get("/").text
    assert "http://testserver/v1/traces" in text
    assert 'heron.init(host="http://testserver"' in text and "@heron.observe()" in text
    assert "heron keys create --project" in text
