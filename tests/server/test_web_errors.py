"""Error answers by audience (HTML pages for browsers, JSON for the API), the favicon and
the offline API reference at /docs, in process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.apidocs import VENDOR
from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def boom() -> None:
    raise RuntimeError("a secret detail that must not reach the client")


def typed(n: int) -> dict[str, int]:
    return {"n": n}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path, init_admin_email=ADMIN, init_admin_password=PASSWORD))
    app.add_api_route("/boom-page", boom)  # an unexpected exception in a page
    app.add_api_route("/api/boom", boom)  # and in the API
    app.add_api_route("/typed-page", typed)  # a page with a typed parameter
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_unknown_page_is_an_html_404_in_the_layout(client: TestClient) -> None:
    r = client.get("/no-such-page", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert '<a class="brand" href="/">heron</a>' in r.text  # the layout's header
    assert '<a href="/">Back to heron</a>' in r.text
    assert "There is no page here." in r.text
    assert "Log out" not in r.text  # nobody is logged in


def test_logged_in_404_shows_the_menu(client: TestClient) -> None:
    assert login(client, ADMIN, PASSWORD).status_code == 303
    r = client.get("/no-such-page", headers=HTML)
    assert r.status_code == 404 and "Log out" in r.text and ADMIN in r.text
    assert csrf_of(r.text)  # the logout form carries the session's token


def test_api_and_non_browser_requests_keep_json_errors(client: TestClient) -> None:
    for path, headers in (("/api/nope", HTML), ("/v1/nope", HTML), ("/no-such-page", {})):
        r = client.get(path, headers=headers)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "http_404", path


def test_page_405_is_html(client: TestClient) -> None:
    r = client.delete("/login", headers=HTML)
    assert r.status_code == 405 and "<h1>405</h1>" in r.text


def test_forbidden_page_is_html_403(client: TestClient) -> None:
    login_form = client.get("/login")
    assert login_form.status_code == 200
    r = client.post("/login", data={"email": ADMIN, "password": PASSWORD}, headers=HTML)
    assert r.status_code == 403  # no CSRF token
    assert "<h1>403</h1>" in r.text and '<a class="brand" href="/">' in r.text


def test_unexpected_exception_in_a_page_is_an_html_500_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="heron.server"):
        r = client.get("/boom-page", headers=HTML)
    assert r.status_code == 500 and "<h1>500</h1>" in r.text
    assert '<a class="brand" href="/">heron</a>' in r.text
    assert "a secret detail" not in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert len(logged) == 1 and "a secret detail" in str(logged[0].exc_info[1])


def test_unexpected_exception_in_the_api_is_a_generic_json_500(client: TestClient) -> None:
    r = client.get("/api/boom", headers=HTML)
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal server error"}}
    assert r.headers["x-frame-options"] == "DENY"


def test_bad_parameter_on_a_page_is_an_html_400(client: TestClient) -> None:
    r = client.get("/typed-page?n=many", headers=HTML)
    assert r.status_code == 400 and "<h1>400</h1>" in r.text and "query.n" in r.text
    assert client.get("/typed-page?n=many").json()["error"]["code"] == "bad_request"


def test_favicon(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.startswith(b"<svg")
    assert client.get("/static/favicon.svg").status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/login").text


def test_docs_use_local_assets_only(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert "cdn" not in r.text.lower() and "https://" not in r.text
    assert "<script>" not in r.text  # no inline script (the CSP refuses it)
    assert 'data-openapi-url="/openapi.json"' in r.text
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        asset = client.get(f"{VENDOR}/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "immutable" in asset.headers["cache-control"]
    assert client.get(f"{VENDOR}/../../apidocs.py").status_code == 404
    assert client.get(f"{VENDOR}/favicon.png").status_code == 404
    assert client.get("/static/swagger-init.js").status_code == 200
    assert client.get("/redoc").status_code == 404
