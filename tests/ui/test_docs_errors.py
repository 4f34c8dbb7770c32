"""The API reference at /docs with the browser's network limited to loopback, and the
error pages a browser gets, in Chromium against a real `heron serve`."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.support.server import ServerProject


def test_docs_work_offline(page: Page, live_server: ServerProject) -> None:
    outside: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", loopback_only)
    page.goto(live_server.url + "/docs")
    expect(page.get_by_text("/api/traces", exact=True).first).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("heron")
    page.wait_for_load_state("networkidle")
    assert outside == [], f"requests that left the machine: {outside}"


def test_unknown_page_in_the_browser(page: Page, live_server: ServerProject) -> None:
    response = page.goto(live_server.url + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("404")
    page.get_by_role("link", name="Back to heron").click()
    expect(page).to_have_url(live_server.url + "/login")  # home, then the login form
    icon = page.request.get(live_server.url + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
