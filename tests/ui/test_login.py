"""Logging in to the web UI in a real browser: the form, the project switcher, logging out,
and the one-time link `heron serve` prints."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from heron.admin_client import Admin
from tests.support.server import ADMIN_EMAIL, ADMIN_PASSWORD, HeronProcess

LINK = re.compile(r"http://127\.0\.0\.1:\d+/login/token\?token=\S+")


def login_link(server: HeronProcess) -> str:
    deadline = time.monotonic() + 10  # printed just after the server answers
    while not (found := LINK.search(server.log())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, server.log()
    return found.group(0)


def test_log_in_switch_project_and_log_out(
    page: Page, ui_server: HeronProcess, snapshot: Callable[[str], None]
) -> None:
    """The server's admin, who belongs to every project, opens on 'test' (the project made at
    start, empty: every other test of tests/ui writes into a project of its own)."""
    url = ui_server.url
    Admin(ui_server.data_dir).create_project("staging")  # admins join new projects

    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    snapshot("wrong-password")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("test")
    # who is signed in: the Log out button says so at any width, the header from 1320 px
    expect(page.get_by_role("button", name="Log out")).to_have_attribute(
        "title", f"Signed in as {ADMIN_EMAIL}"
    )
    page.set_viewport_size({"width": 1400, "height": 800})
    expect(page.get_by_text(ADMIN_EMAIL)).to_be_visible()
    page.set_viewport_size({"width": 1200, "height": 800})
    expect(page.get_by_text(f"{url}/v1/traces")).to_be_visible()  # the empty state
    snapshot("home")

    page.get_by_label("Project").select_option(label="staging")  # heron.js submits it
    expect(page.get_by_role("heading", level=1)).to_have_text("staging")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("staging")
    snapshot("switched")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(url + "/login")
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")


def test_one_time_login_link(
    page: Page, ui_server: HeronProcess, snapshot: Callable[[str], None]
) -> None:
    link = login_link(ui_server)
    page.goto(link)
    expect(page).to_have_url(ui_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("test")
    snapshot("logged-in")

    [session] = [c for c in page.context.cookies() if c["name"] == "heron_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    # scripts send the CSRF token in a header; without it a POST is refused
    status = page.evaluate("fetch('/projects/switch', {method: 'POST'}).then(r => r.status)")
    assert status == 403
    ended = page.evaluate("heron.send('POST', '/logout').then(r => new URL(r.url).pathname)")
    assert ended == "/login"

    page.context.clear_cookies()
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("already used")
    page.goto(ui_server.url + "/")
    expect(page).to_have_url(ui_server.url + "/login")
