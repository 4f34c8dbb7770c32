"""The look of every page: the nav marks the current page, links take the product's accent
colour (never the browser's blue), the dark theme follows the system setting, and `heron
demo` shows its loading progress until its data is in (and makes the README's screenshot)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.server import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProject, free_port
from tests.ui.test_traces import log_in, log_in_as

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
DEMO_TRACES = 1000


def token(page: Page, name: str) -> str:
    """The computed value of a CSS custom property, as an `rgb(...)` colour."""
    return page.evaluate(
        """name => {
            const probe = document.createElement("span");
            probe.style.color = `var(${name})`;
            document.body.appendChild(probe);
            const value = getComputedStyle(probe).color;
            probe.remove();
            return value;
        }""",
        name,
    )


def computed(page: Page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(
        "(el, prop) => getComputedStyle(el).getPropertyValue(prop)", prop
    )


def test_nav_marks_the_current_page(page: Page, live_server: ServerProject) -> None:
    url = live_server.url
    log_in(page, live_server)
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.locator("[aria-current]")).to_have_count(0)  # home is no section
    for path, label in [("/traces", "Traces"), ("/sessions", "Sessions"), ("/compare", "Compare")]:
        page.goto(url + path)
        current = nav.locator('[aria-current="page"]')
        expect(current).to_have_count(1)
        expect(current).to_have_text(label)
        # the marked link looks different from the others
        assert computed(page, '.sections a[aria-current="page"]', "color") == token(
            page, "--accent"
        )
        assert computed(page, ".sections a:not([aria-current])", "color") == token(page, "--muted")
    page.goto(url + "/traces/" + "ab" * 16)  # a page under a section, even a missing trace
    expect(nav.locator('[aria-current="page"]')).to_have_text("Traces")
    # every section link on one line at 1200 px (the page's width here)
    tops = nav.locator("a").evaluate_all("links => links.map(a => a.getBoundingClientRect().top)")
    assert len(tops) >= 8 and len(set(tops)) == 1, tops
    # ... and the Log out button still inside the window
    width = page.evaluate("() => document.documentElement.clientWidth")
    right = page.get_by_role("button", name="Log out").evaluate(
        "b => b.getBoundingClientRect().right"
    )
    assert width <= 1200 and right <= width, (right, width)
    page.goto(url + "/issues")  # reached from the Review hub
    expect(nav.locator('[aria-current="page"]')).to_have_text("Review")


def test_links_take_the_accent_not_the_browser_blue(page: Page, live_server: ServerProject) -> None:
    page.goto(live_server.url + "/nowhere", wait_until="load")  # the error page has a link
    link = page.get_by_role("link", name="Back to heron")
    expect(link).to_be_visible()
    colour = link.evaluate("el => getComputedStyle(el).color")
    assert colour == token(page, "--accent")
    assert colour not in {"rgb(0, 0, 238)", "rgb(85, 26, 139)"}  # Chromium's link/visited


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_follows_the_system_setting(
    browser: Browser, live_server: ServerProject, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1200, "height": 800})
    try:
        tab = context.new_page()
        log_in(tab, live_server)
        tab.goto(live_server.url + "/traces")
        body = computed(tab, "html", "background-color")
        header = computed(tab, ".top", "background-color")
        text = computed(tab, "body", "color")
        light_paper = "rgb(246, 247, 249)"
        if scheme == "dark":
            assert body != light_paper and body == token(tab, "--paper")
            assert header == token(tab, "--surface") and header != "rgb(255, 255, 255)"
            assert _luminance(body) < 0.05 < _luminance(text)
        else:
            assert body == light_paper and header == "rgb(255, 255, 255)"
        tab.screenshot(path=str(Path("tests/artifacts") / f"theme-{scheme}.png"))
    finally:
        context.close()


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`heron demo` as users run it, with a known admin, loading DEMO_TRACES traces."""
    data = tmp_path_factory.mktemp("demo") / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env.update(HERON_INIT_ADMIN_EMAIL=ADMIN_EMAIL, HERON_INIT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log_path = data.parent / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "heron.cli", "demo", "--traces", str(DEMO_TRACES),
             "--port", str(port), "--host", "127.0.0.1", "--data-dir", str(data)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                try:
                    if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            yield url, log_path
        finally:
            proc.send_signal(2)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_demo_shows_loading_progress_until_its_data_is_in(
    page: Page, demo_server: tuple[str, Path]
) -> None:
    url, log_path = demo_server
    log_in_as(page, url, ADMIN_EMAIL, ADMIN_PASSWORD)
    banner = page.get_by_role("status")
    text = banner.locator("[data-demo-text]")
    expect(text).to_have_text(re.compile(rf"^Loading demo data: \d+ of {DEMO_TRACES} traces$"))
    first = int(text.inner_text().split()[3])
    # the poll moves the count on without a reload, then the banner goes once all is in
    expect(text).not_to_have_text(f"Loading demo data: {first} of {DEMO_TRACES} traces")
    expect(banner).to_have_count(0, timeout=240_000)
    assert "Loaded" in log_path.read_text(errors="replace")
    page.reload()
    expect(page.locator("[data-demo-loading]")).to_have_count(0)


def test_readme_screenshot(browser: Browser, demo_server: tuple[str, Path]) -> None:
    """The README's screenshot: the dashboard over the demo data at 1400x900. Written to
    docs/screenshot.png only with HERON_WRITE_SCREENSHOT=1."""
    url, _ = demo_server
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="light")
    context.set_default_timeout(30_000)
    try:
        tab = context.new_page()
        log_in_as(tab, url, ADMIN_EMAIL, ADMIN_PASSWORD)
        deadline = time.monotonic() + 240
        while tab.request.get(url + "/demo/progress").json()["loading"]:
            assert time.monotonic() < deadline, "the demo did not finish loading"
            time.sleep(0.5)
        tab.goto(url + "/dashboard")
        expect(tab.locator('.sections a[aria-current="page"]')).to_have_text("Dashboards")
        expect(tab.locator(".js-plotly-plot").first).to_be_visible()
        tab.wait_for_load_state("networkidle")
        out = (
            SCREENSHOT
            if os.environ.get("HERON_WRITE_SCREENSHOT") == "1"
            else Path("tests/artifacts/readme-screenshot.png")
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(out))
        assert out.stat().st_size > 10_000  # something was drawn
    finally:
        context.close()
