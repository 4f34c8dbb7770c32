"""Evaluators in a real browser: from a trace to a new code evaluator, its problems shown,
tried on that trace (markup in the trace shown as text), saved, then a backfill of the
project's traces followed to its end, and a pause and resume."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.otlp import new_span_id, new_trace_id, span
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in

HOSTILE = "<img src=x onerror=alert(1)> Sure, you can get a refund."
DEFINITION = """\
name: ui-refund
type: code
check: contains
args: {any: [refund], case_sensitive: false}
variables: {text: output}
delay_seconds: 0
"""


def test_create_try_save_and_backfill_a_code_evaluator(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    ids = []
    for output in (HOSTILE, "No refunds here? Refund denied.", "Nothing to see."):
        tid = new_trace_id()
        ids.append(tid.hex())
        ingest(live_server, [span(tid, new_span_id(), "support-chat",
                                  attributes={"output.value": output})])  # fmt: skip
    url = live_server.url
    log_in(page, live_server)

    page.goto(f"{url}/traces/{ids[0]}")
    page.get_by_role("link", name="Try an evaluator on this trace").click()
    expect(page.get_by_role("status")).to_contain_text(f"Trying on trace {ids[0]}")
    page.get_by_role("link", name="New evaluator").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New evaluator")
    expect(page.get_by_label("Trace id")).to_have_value(ids[0])
    page.get_by_label("Start from").select_option("check:regex")
    page.get_by_role("button", name="Use this example").click()
    definition = page.get_by_label("Definition")
    expect(definition).to_have_value(re.compile(r"^name: regex\n(.|\n)*check: regex\n"))
    expect(page.get_by_label("Trace id")).to_have_value(ids[0])

    definition.fill(DEFINITION.replace("check: contains", "check: contain"))
    page.get_by_role("button", name="Create evaluator").click()
    problems = page.get_by_role("alert")
    expect(problems).to_contain_text("$.check: one of")
    expect(page.get_by_label("Definition")).to_have_value(
        DEFINITION.replace("check: contains", "check: contain")
    )

    page.get_by_label("Definition").fill(DEFINITION)
    page.get_by_role("button", name="Try on this trace").click()
    trial = page.locator("#trial")
    expect(trial).to_contain_text(f"Tried on trace {ids[0]}")
    expect(trial.locator(".score-value")).to_have_text("ui-refund: true")
    expect(trial.locator(".trial-variables")).to_contain_text(HOSTILE)  # text, not markup
    expect(trial.locator("img")).to_have_count(0)
    snapshot("tried")

    page.get_by_role("button", name="Create evaluator").click()
    expect(page.get_by_role("status").first).to_have_text("Created: version 1.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("ui-refund")

    page.get_by_role("button", name="Start backfill").click()
    job = page.locator(".backfill-job").first
    expect(job.locator(".job-status")).to_have_text("done, 3 of 3 targets", timeout=30_000)
    expect(page.locator(".scores-written")).to_have_text("3", timeout=10_000)
    snapshot("backfilled")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".evaluator-head .badge")).to_have_text("paused")
    expect(page.get_by_role("button", name="Start backfill")).to_be_disabled()
    page.get_by_role("link", name="Evaluators").first.click()
    row = page.locator("tr.evaluator-row", has_text="ui-refund")
    expect(row).to_contain_text("paused by a user")
    expect(row).to_contain_text("0.0%")
    row.get_by_role("button", name="Resume").click()
    expect(page.locator("tr.evaluator-row", has_text="ui-refund")).to_contain_text("active")
    # the header, Evaluators included, fits the 1200 px window: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200
    assert dialogs == []
