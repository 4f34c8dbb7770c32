"""Browser tests: Debian's chromium driven through Playwright, against a real `heron serve`.

Playwright's own browser download is not used: the tests launch ``/usr/bin/chromium``
(``make test`` installs it). Each launch gets a fresh temporary profile from Playwright, each
test a fresh browser context (no cookies), and every test leaves a screenshot in
``tests/artifacts/``.

All of tests/ui shares one `heron serve` (``ui_server``): each test's ``live_server`` is a
project of its own on it, with its own key and an owner who belongs to it alone, so lists,
counts and settings hold that test's data only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import CONSISTENT, HeronProcess, ServerProject, new_project

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium. "
            "Run `make test` (it installs it) or `apt-get install chromium`.",
            pytrace=False,
        )
    return str(CHROMIUM)


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One Chromium for tests/ui, closed when the process leaves tests/ui: Playwright's sync
    API keeps an asyncio event loop marked running in this thread while it is open, and
    ``asyncio.run`` (tests/sdk, tests/clients, tests/ingest) refuses to start under it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeronProcess]:
    """One `heron serve` for all of tests/ui (one unit of the run, on one worker): a server
    start costs ~3.5 s of CPU, a project on a running one a few milliseconds."""
    server = HeronProcess(tmp_path_factory.mktemp("ui") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def live_server(ui_server: HeronProcess) -> ServerProject:
    """A new project on the shared server, with its key and its owner (``log_in``)."""
    return new_project(ui_server)


def _save(tab: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", name)
    tab.screenshot(path=str(ARTIFACTS / f"{safe}.png"), full_page=True)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context; its screenshot is saved after the test, pass or fail.

    The test fails if the browser refused anything under the Content-Security-Policy.
    Pages ask for consistency: they show the spans the test has just posted."""
    context = browser.new_context(
        viewport={"width": 1200, "height": 800}, extra_http_headers=CONSISTENT
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    refused: list[str] = []
    tab.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield tab
    try:
        _save(tab, request.node.name)
    finally:
        context.close()
    assert not refused, f"blocked by the Content-Security-Policy: {refused}"


@pytest.fixture
def snapshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``snapshot("step")`` saves tests/artifacts/<test>-<step>.png now."""
    return lambda step: _save(page, f"{request.node.name}-{step}")
