"""The settings area in a real browser: rename the project, create a key (its secret shown
once), revoke it, invite a viewer by link, and what that viewer sees and may not do."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.support.server import ServerProject
from tests.ui.test_traces import log_in


def test_settings_keys_members_and_a_viewer(
    page: Page, browser: Browser, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    url = live_server.url
    log_in(page, live_server)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Settings")
    page.get_by_label("Project name", exact=True).fill("Production <1>")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Production <1>")
    snapshot("general")

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys").click()
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator(".new-secret").inner_text()
    public = page.locator(".new-public").inner_text()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    snapshot("key-created")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(url + "/api/traces", headers=bearer).status_code == 200
    page.goto(url + "/settings/keys")  # the secret is gone, its hint stays
    expect(page.locator(".new-secret")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text=public)
    expect(row.locator(".hint")).to_have_text(secret[:6] + "…" + secret[-4:])
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row").filter(has_text=public)).to_have_count(0)
    assert httpx.get(url + "/api/traces", headers=bearer).status_code == 401

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Members").click()
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator(".invite-link").inner_text()
    snapshot("invited")

    guest = browser.new_context().new_page()
    try:
        guest.goto(link)
        expect(guest.get_by_role("heading", level=1)).to_have_text("Join Production <1>")
        guest.get_by_label("Email").fill("viewer@heron.test")
        guest.get_by_label("Password").fill("viewers-password")
        guest.get_by_role("button", name="Join project").click()
        expect(guest).to_have_url(url + "/")
        guest.goto(url + "/settings/members")
        expect(guest.locator(".role")).to_have_text("viewer")
        expect(guest.get_by_role("row").filter(has_text="viewer@heron.test")).to_be_visible()
        expect(guest.get_by_role("button", name="Remove")).to_have_count(0)
        expect(guest.get_by_role("button", name="Create invitation link")).to_have_count(0)
        guest.goto(url + "/settings/keys")
        expect(guest.get_by_role("button", name="Create key")).to_have_count(0)
        guest.goto(url + "/settings")
        expect(guest.get_by_role("button", name="Rename")).to_have_count(0)
        guest.goto(url + "/dashboards")
        expect(guest.get_by_role("button", name="Create dashboard")).to_have_count(0)
        # a forged form post, with the viewer's own session and CSRF token
        forged = guest.evaluate(
            """async () => {
                const body = new URLSearchParams({name: 'hijacked',
                    csrf_token: document.querySelector('meta[name=csrf-token]').content});
                const r = await fetch('/settings/project', {method: 'POST', body});
                return r.status;
            }"""
        )
        assert forged == 403
        snapshot("viewer")
        guest.goto(link)  # spent
        expect(guest.get_by_role("alert")).to_contain_text("not valid")
    finally:
        guest.context.close()
    page.goto(url + "/settings/members")
    expect(page.get_by_role("row").filter(has_text="viewer@heron.test")).to_contain_text("viewer")
