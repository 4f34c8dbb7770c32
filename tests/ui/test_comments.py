"""Comments in a real browser: add, edit and delete a comment on a trace page, and one on an
observation in the side panel (picked without reloading)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Dialog, Page, expect

from tests.support.otlp import genai_trace
from tests.support.server import ServerProject
from tests.ui.test_traces import ingest, log_in


def test_add_edit_and_delete_a_comment_on_a_trace(
    page: Page, live_server: ServerProject, snapshot: Callable[[str], None]
) -> None:
    tid, spans = genai_trace(session="ui-comments")
    ingest(live_server, spans)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/traces/{tid.hex()}")
    comments = page.locator("#trace-panel .comments")
    expect(comments.get_by_text("No comments yet.")).to_be_visible()
    box = comments.get_by_label("New comment")
    box.fill("Wrong **refund** policy\n<b>not bold</b>")
    comments.get_by_role("button", name="Comment").click()
    item = page.locator("#trace-panel .comment")
    expect(item).to_have_count(1)
    expect(item.locator("strong")).to_have_text("refund")
    expect(item.locator(".comment-body")).to_contain_text("<b>not bold</b>")  # shown, not markup
    expect(item.locator(".comment-author")).to_have_text(live_server.email)
    expect(item.locator("time")).to_have_text("just now")  # relative, in the viewer's zone
    snapshot("added")

    item.get_by_text("Edit").click()
    edit = item.get_by_label("Edit comment")
    edit.fill("Wrong refund policy (checked twice)")
    item.get_by_role("button", name="Save").click()
    item = page.locator("#trace-panel .comment")
    expect(item.locator(".comment-body")).to_have_text("Wrong refund policy (checked twice)")
    expect(item.locator(".comment-meta")).to_contain_text("(edited)")

    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete").click()
    expect(page.locator("#trace-panel .comment")).to_have_count(0)
    expect(page.locator("#trace-panel").get_by_text("No comments yet.")).to_be_visible()


def test_comment_on_an_observation_picked_in_the_tree(
    page: Page, live_server: ServerProject
) -> None:
    tid, spans = genai_trace(session="ui-comments-obs", n_children=1)
    ingest(live_server, spans)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/traces/{tid.hex()}")
    page.locator(".wf-row").nth(2).locator("a.wf-name").click()  # the child, via trace.js
    oid = spans[1].span_id.hex()
    expect(page.locator("#trace-panel .panel-id")).to_contain_text(oid)
    panel = page.locator("#trace-panel")
    panel.get_by_label("New comment").fill("the model answered from memory")
    dialogs: list[Dialog] = []
    page.on("dialog", lambda d: (dialogs.append(d), d.dismiss()))
    panel.get_by_role("button", name="Comment").click()
    expect(page.locator("#trace-panel .panel-id")).to_contain_text(oid)  # back on the observation
    expect(panel.locator(".comment-body")).to_have_text("the model answered from memory")
    page.locator(".wf-row").first.locator("a.wf-name").click()  # the trace's own panel
    expect(page.locator("#trace-panel .panel-title")).to_contain_text("Trace")
    expect(page.locator("#trace-panel .comment")).to_have_count(0)
    assert not dialogs
