"""The /settings/feedback page: owners and admins change the allowed origins and score names
(which take effect on the score routes at once); a member sees them and cannot change them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of, web_settings
from tests.server.test_web_settings import _invite, _join, _pid
from tests.support.server import PUBLIC_KEY

__all__ = ["web_settings"]
PUBLIC = {"Authorization": "Basic " + base64.b64encode(f"{PUBLIC_KEY}:".encode()).decode()}


@pytest.fixture
def web(web_settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


def test_owner_sets_origins_and_names_and_they_apply_at_once(web: TestClient) -> None:
    pid = _pid(web)
    page = web.get(f"/settings/feedback?project={pid}")
    assert page.status_code == 200 and 'aria-current="page">Feedback' in page.text
    assert PUBLIC_KEY in page.text and "/static/feedback.js" in page.text
    r = web.post(
        f"/settings/feedback?project={pid}",
        data={
            "allowed_origins": "https://Shop.example.test\nhttp://localhost:3000\n",
            "allowed_names": "user_feedback\nuser_rating",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert r.status_code == 200  # the redirect, followed
    assert "https://shop.example.test\nhttp://localhost:3000</textarea>" in r.text
    assert store_of(web).feedback_settings(pid) == {
        "allowed_origins": ["https://shop.example.test", "http://localhost:3000"],
        "allowed_names": ["user_feedback", "user_rating"],
    }
    api = TestClient(web.app)
    body = {"traceId": "ab" * 16, "name": "other", "value": 1}
    refused = api.post("/api/public/scores", json=body, headers=PUBLIC)
    assert refused.status_code == 403 and "'other' may not be written" in refused.text
    pre = api.options(
        "/api/public/scores",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204

    bad = web.post(
        f"/settings/feedback?project={pid}",
        data={"allowed_origins": "https://*.example.test", "csrf_token": csrf_of(page.text)},
    )
    assert bad.status_code == 400 and "wildcards are not allowed" in bad.text


def test_member_sees_the_settings_but_cannot_change_them(web: TestClient) -> None:
    pid = _pid(web)
    store_of(web).set_feedback_settings(pid, ["https://shop.example.test"], [])
    web.app.state.heron.feedback.refresh()  # type: ignore[attr-defined]
    member = _join(web, _invite(web, "member"), "member@heron.test")
    page = member.get(f"/settings/feedback?project={pid}")
    assert page.status_code == 200
    assert "https://shop.example.test" in page.text and "Save" not in page.text
    r = member.post(
        f"/settings/feedback?project={pid}",
        data={"allowed_origins": "https://evil.test", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 403 and "Your role (member)" in r.text
    assert store_of(web).feedback_settings(pid)["allowed_origins"] == ["https://shop.example.test"]


def test_hostile_settings_are_escaped(web: TestClient) -> None:
    pid = _pid(web)
    store_of(web).set_feedback_settings(pid, [], ["<script>alert(1)</script>"])
    web.app.state.heron.feedback.refresh()  # type: ignore[attr-defined]
    text = web.get(f"/settings/feedback?project={pid}").text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
