"""feedback.js on a customer's page: a tiny page served by a second local HTTP server (another
port, so another origin, with its own strict CSP) loads /static/feedback.js from heron, and a
user gives thumbs, stars and a comment, copies the answer and accepts it. The scores are read
back from heron; a hostile trace id renders nothing and runs nothing; an origin heron does not
list gets no feedback through."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.otlp import genai_trace, request
from tests.support.server import ServerProject, admin_token
from tests.ui.conftest import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def customer_page(project: ServerProject, trace_id: str) -> str:
    """The customer's page: no inline script, a CSP allowing only heron's script and API;
    the widget sends with the project's public key."""
    h = html.escape
    heron = project.url
    return f"""<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src {h(heron)}; connect-src {h(heron)}">
<title>Shop assistant</title></head>
<body>
<article data-trace-id="{h(trace_id)}">
  <div data-heron-answer id="answer">Return the shoes within 30 days for a full refund.</div>
  <button data-heron-accept id="accept">Use this answer</button>
  <div data-heron-feedback id="fb"></div>
</article>
<article data-trace-id="{h(HOSTILE)}"><div data-heron-feedback id="hostile"></div></article>
<script src="{h(heron)}/static/feedback.js" data-host="{h(heron)}"
        data-public-key="{h(project.public_key)}" defer></script>
</body></html>"""


class Shop:
    """A local HTTP server on its own port serving one page (set ``body`` first)."""

    def __init__(self) -> None:
        self.body = b""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(shop.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    s = Shop()
    yield s
    s.close()


def new_trace(server: ServerProject) -> str:
    tid, spans = genai_trace()
    r = httpx.post(
        server.url + "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**server.auth, "Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    return tid.hex()


def scores(server: ServerProject, trace_id: str) -> list[dict]:
    """The trace's scores a browser sent (not the runner's EVAL scores beside them)."""
    r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.auth, timeout=10)
    assert r.status_code == 200, r.text
    return [s for s in r.json()["scores"] if s["source"] != "EVAL"]


def allow(server: ServerProject, origins: list[str]) -> None:
    r = httpx.post(
        server.url + "/api/admin/feedback",
        json={"project": server.name, "allowed_origins": origins},
        headers={"Authorization": f"Bearer {admin_token(server.server)}"},
    )
    assert r.status_code == 200, r.text


def test_feedback_from_a_customer_page(
    browser: Browser, live_server: ServerProject, shop: Shop
) -> None:
    trace_id = new_trace(live_server)
    allow(live_server, [shop.origin])
    shop.body = customer_page(live_server, trace_id).encode()
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    context.set_default_timeout(10_000)
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        tab.goto(shop.origin + "/")
        fb = tab.locator("#fb")
        send = fb.get_by_role("button", name="Send feedback")
        assert send.is_disabled()
        fb.get_by_role("button", name="Helpful", exact=True).click()
        assert (
            fb.get_by_role("button", name="Helpful", exact=True).get_attribute("aria-pressed")
            == "true"
        )
        fb.get_by_role("button", name="Rate 4 of 5").focus()
        tab.keyboard.press("Enter")  # keyboard works: buttons
        fb.get_by_label("Comment (optional)").fill("Clear <b>and</b> right")
        send.click()
        fb.get_by_role("status").filter(has_text="Thank you").wait_for()

        tab.locator("#answer").click(click_count=3)  # select the answer's text
        tab.keyboard.press("Control+C")
        tab.locator("#accept").click()
        tab.locator("#accept").click()  # once per trace and page

        deadline_names = {"user_feedback", "user_rating", "implicit_copy", "implicit_accept"}
        got: list[dict] = []
        for _ in range(50):
            got = scores(live_server, trace_id)
            if {s["name"] for s in got} >= deadline_names:
                break
            tab.wait_for_timeout(100)
        by = {s["name"]: s for s in got}
        assert set(by) == deadline_names, got
        assert len(got) == 4
        assert (by["user_feedback"]["data_type"], by["user_feedback"]["value"]) == ("BOOLEAN", 1.0)
        assert by["user_feedback"]["comment"] == "Clear <b>and</b> right"
        assert (by["user_rating"]["data_type"], by["user_rating"]["value"]) == ("NUMERIC", 4.0)
        for name in ("implicit_copy", "implicit_accept"):
            assert (by[name]["data_type"], by[name]["value"]) == ("BOOLEAN", 1.0)
        assert all(s["source"] == "API" for s in got)
        assert all(s["metadata"] == {"via": "feedback.js"} for s in got)

        # the hostile trace id: a widget built of text, no element from the id, nothing run
        assert tab.locator("#hostile .heron-fb").count() == 1
        assert tab.locator("img").count() == 0 and tab.locator("script").count() == 1
        assert dialogs == []
        assert not [p for p in problems if "Content Security Policy" in p], problems
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "feedback_widget.png"))
    finally:
        context.close()


def test_an_origin_heron_does_not_list_sends_nothing(
    browser: Browser, live_server: ServerProject, shop: Shop
) -> None:
    trace_id = new_trace(live_server)
    allow(live_server, ["http://shop.example.test"])
    shop.body = customer_page(live_server, trace_id).encode()
    context = browser.new_context()
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        tab.goto(shop.origin + "/")
        fb = tab.locator("#fb")
        fb.get_by_role("button", name="Not helpful").click()
        fb.get_by_role("button", name="Send feedback").click()
        fb.get_by_role("status").filter(has_text="could not be sent").wait_for()
        tab.locator("#accept").click()
        tab.wait_for_timeout(300)
        assert scores(live_server, trace_id) == []
    finally:
        context.close()


def test_owner_allows_an_origin_on_the_settings_page(
    page: Page, live_server: ServerProject, shop: Shop, snapshot: Callable[[str], None]
) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(live_server.email)
    page.get_by_label("Password").fill(live_server.password)
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Feedback").click()
    page.get_by_label("Allowed origins").fill(shop.origin + "\n")
    page.get_by_label("Allowed score names").fill("user_feedback\nuser_rating")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_label("Allowed origins").input_value() == shop.origin
    assert "/static/feedback.js" in page.locator("pre code").inner_text()
    snapshot("feedback-settings")
    pre = httpx.options(
        live_server.url + "/api/public/scores",
        headers={"Origin": shop.origin, "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == shop.origin
