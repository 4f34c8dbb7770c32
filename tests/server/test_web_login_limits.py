"""Web login hardening, in process: progressive delays per account and per address, the
one-time login link (single use, 15 minutes), and security headers on every response."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.server.login_guard import ACCOUNT_THRESHOLD, ADDRESS_THRESHOLD, LoginGuard
from heron.server.security_headers import CONTENT_SECURITY_POLICY
from heron.server.web.auth import LOGIN_LINK_TTL_S, SESSION_COOKIE
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login, store_of
from tests.support.otlp import new_span_id, new_trace_id, request, span
from tests.support.server import SECRET_KEY


class Clock:
    """A clock the test moves by hand (the guard reads it on every call)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Clock]]:
    settings = make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD)
    clock = Clock()
    with TestClient(create_app(settings)) as c:
        guard_of(c).clock = clock
        yield c, clock


def guard_of(c: TestClient) -> LoginGuard:
    return c.app.state.heron.login_guard  # type: ignore[attr-defined]


def retry_after(r: Any) -> int:
    assert r.status_code == 429, r.text
    assert "Too many failed logins" in r.text and 'id="password"' in r.text
    return int(r.headers["retry-after"])


def test_failed_logins_for_an_account_are_delayed_progressively(
    app_client: tuple[TestClient, Clock],
) -> None:
    c, clock = app_client
    for _ in range(ACCOUNT_THRESHOLD):
        assert login(c, ADMIN, "wrong password").status_code == 401
    # Refused before any password is checked, the right one included.
    assert retry_after(login(c, ADMIN, PASSWORD)) == 1
    assert retry_after(login(c, ADMIN.upper() + " ", "wrong password")) == 1  # same account
    assert login(c, "someone-else@heron.test", "wrong").status_code == 401  # other accounts not
    wait, waits = 1, []
    for _ in range(3):
        clock.now += wait
        assert login(c, ADMIN, "wrong password").status_code == 401
        wait = retry_after(login(c, ADMIN, PASSWORD))
        waits.append(wait)
    assert waits == [2, 4, 8]  # doubling after each further failure
    assert guard_of(c).outcomes["failed"] == ACCOUNT_THRESHOLD + 1 + 3

    # After the delay the right password works, and the success clears the account's record.
    clock.now += 8
    r = login(c, ADMIN, PASSWORD)
    assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]
    c.cookies.clear()
    assert login(c, ADMIN, "wrong password").status_code == 401


def test_failed_logins_from_one_address_are_delayed_whatever_the_account(
    app_client: tuple[TestClient, Clock],
) -> None:
    c, clock = app_client
    for i in range(ADDRESS_THRESHOLD):
        assert login(c, f"guess-{i}@heron.test", "wrong password").status_code == 401
    assert retry_after(login(c, "fresh@heron.test", "wrong password")) == 1
    assert retry_after(login(c, ADMIN, PASSWORD)) == 1
    # Another address is not held back.
    other = TestClient(c.app, client=("192.0.2.7", 50000))
    assert login(other, ADMIN, PASSWORD).status_code == 303
    # A success does not clear the address (one valid account must not reset the count).
    assert retry_after(login(c, "fresh@heron.test", "wrong password")) == 1
    clock.now += 1
    assert login(c, ADMIN, PASSWORD).status_code == 303


def test_records_are_forgotten_after_quiet_and_bounded_in_number() -> None:
    clock = Clock()
    guard = LoginGuard(clock=clock)
    for _ in range(ACCOUNT_THRESHOLD + 2):
        guard.failed("a@heron.test", "10.0.0.1")
    assert guard.retry_after("a@heron.test", "10.0.0.2") == 4
    clock.now += 4 + 15 * 60  # the delay, then 15 quiet minutes
    assert guard.retry_after("a@heron.test", "10.0.0.2") == 0
    guard.failed("a@heron.test", "10.0.0.1")
    assert guard.retry_after("a@heron.test", "10.0.0.2") == 0  # counting starts again
    accounts = guard.accounts
    for i in range(accounts.max_keys + 50):
        accounts.fail(f"spray-{i}@heron.test")
    assert len(accounts._records) == accounts.max_keys


def test_a_hostile_form_never_gets_a_500(app_client: tuple[TestClient, Clock]) -> None:
    c, _ = app_client
    huge = "x" * 100_000
    for email, password in ((huge + "@x", "pw"), ("a@b", huge), ("", ""), ("\x00@\x00", "\x00")):
        assert login(c, email, password).status_code == 401


# -- the one-time login link -------------------------------------------------------------------


def stored_expiry(store: Any) -> Any:
    return store.cursor().execute("SELECT max(expires_at) FROM login_tokens").fetchone()[0]


def test_the_printed_login_link_expires_after_15_minutes(
    app_client: tuple[TestClient, Clock],
) -> None:
    c, _ = app_client
    store = store_of(c)
    admin = store.user_by_email(ADMIN)
    assert LOGIN_LINK_TTL_S == 15 * 60
    token = store.create_login_token(admin["id"], LOGIN_LINK_TTL_S)
    now = store.cursor().execute("SELECT now()::TIMESTAMP").fetchone()[0]
    left = stored_expiry(store) - now
    assert timedelta(minutes=14) < left <= timedelta(minutes=15, seconds=1)
    # Travel 15 minutes ahead: move the stored expiry back instead of sleeping.
    with store._admin() as cur:
        cur.execute("UPDATE login_tokens SET expires_at = expires_at - INTERVAL 15 MINUTE")
    r = c.get(f"/login/token?token={token}")
    assert r.status_code == 401 and "expired or was already used" in r.text
    assert SESSION_COOKIE not in c.cookies


def test_a_login_link_works_once_even_when_raced(app_client: tuple[TestClient, Clock]) -> None:
    c, _ = app_client
    store = store_of(c)
    admin = store.user_by_email(ADMIN)
    token = store.create_login_token(admin["id"], LOGIN_LINK_TTL_S)
    first = c.get(f"/login/token?token={token}", follow_redirects=False)
    assert first.status_code == 303
    c.cookies.clear()
    second = c.get(f"/login/token?token={token}", follow_redirects=False)
    assert second.status_code == 401 and "expired or was already used" in second.text

    token = store.create_login_token(admin["id"], LOGIN_LINK_TTL_S)
    users: list[Any] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        users.append(store.use_login_token(token))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(u is not None for u in users) == 1


# -- security headers --------------------------------------------------------------------------

HEADERS = {
    "x-frame-options": "DENY",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def test_every_response_carries_the_security_headers(app_client: tuple[TestClient, Clock]) -> None:
    c, _ = app_client
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "object-src 'none'" in CONTENT_SECURITY_POLICY
    assert "base-uri 'self'" in CONTENT_SECURITY_POLICY
    api = {"Authorization": f"Bearer {SECRET_KEY}"}
    body = request([span(new_trace_id(), new_span_id(), "root")]).SerializeToString()
    responses = {
        "login page": c.get("/login"),
        "static file": c.get("/static/heron.js"),
        "api": c.get("/api/traces", headers=api),
        "api 401": c.get("/api/traces"),
        "404": c.get("/no/such/page"),
        "otlp": c.post(
            "/v1/traces",
            content=body,
            headers={**api, "Content-Type": "application/x-protobuf"},
        ),
        "otlp 415": c.post("/v1/traces", content=b"x", headers=api),
        "metrics": c.get("/metrics", headers=api),
        "openapi": c.get("/openapi.json"),
    }
    assert responses["otlp"].status_code == 200 and responses["404"].status_code == 404
    for what, r in responses.items():
        for name, expected in HEADERS.items():
            assert r.headers.get(name) == expected, (what, name, r.headers)
        assert len(r.headers.get_list("x-frame-options")) == 1, what
