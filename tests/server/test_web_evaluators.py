"""The evaluator pages and the LLM connections page in process: list with figures, the
editor (starters, problems with paths above the kept text, try on a trace, save, versions),
pause and resume, backfills and their progress, project scoping, and what a viewer may do."""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.evals.spec import Problems, check_evaluator, export_evaluator
from heron.model import ObservationRecord, TraceUpdate
from heron.server.app import create_app
from heron.server.evaluators import start_backfill
from heron.server.web import evaluator_editor as editor
from heron.settings import Settings
from heron.store.scores import ScoreFilter
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_settings import _join

TRACE = "ab" * 16
HOSTILE = "<script>alert('x')</script> You can get a Refund within 30 days."
CONTAINS = """\
name: mentions-refund
type: code
check: contains
args: {any: [refund], case_sensitive: false}
variables: {text: output}
"""


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One app for the module (the runner runs the evaluator tasks, for backfills); each
    test gets a project of its own."""
    return make_settings(
        tmp_path_factory.mktemp("web-evaluators"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
        runner_tasks="heron.evals.task:tasks",
    )


@pytest.fixture(scope="module")
def app_client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture
def pid(app_client: TestClient, request: pytest.FixtureRequest) -> str:
    """A fresh project of the admin's, holding the trace TRACE."""
    store = store_of(app_client)
    name = f"{request.node.originalname}-{secrets.token_hex(3)}"
    project_id = store.create_project(name, store.user_by_email(ADMIN)["id"])["id"]
    write_trace(app_client, project_id, TRACE, HOSTILE)
    return project_id


@pytest.fixture
def web(app_client: TestClient, pid: str) -> TestClient:
    """The admin's client (every test looks at its own project ``pid``)."""
    return app_client


def write_trace(c: TestClient, pid: str, trace_id: str, output: str) -> None:
    store_of(c).write_batch(
        [
            ObservationRecord(
                project_id=pid, id=trace_id[:16], trace_id=trace_id, parent_id=None,
                type="span", name="support-chat", start_us=1_764_000_000_000_000,
                end_us=1_764_000_001_000_000, output=output,
            )
        ],
        [TraceUpdate(project_id=pid, trace_id=trace_id, is_root=True, output=output,
                     name="support-chat")],
    )  # fmt: skip


def post(c: TestClient, pid: str, path: str, **data: str) -> Any:
    csrf = csrf_of(c.get(f"/evaluators?project={pid}").text)
    return c.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf},
                  follow_redirects=False)  # fmt: skip


def textarea(page_html: str) -> str:
    found = re.search(r'<textarea id="definition" name="definition"[^>]*>(.*?)</textarea>',
                      page_html, re.S)  # fmt: skip
    assert found, page_html
    return html.unescape(found.group(1))


def alert(page_html: str) -> str:
    return page_html.split('role="alert"', 1)[1].split("</div>", 1)[0]


def evaluators(c: TestClient, pid: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in store_of(c).list_evaluators(pid)}


def save(c: TestClient, pid: str, text: str = CONTAINS, editing: str = "") -> Any:
    return post(c, pid, "/evaluators", definition=text, editing=editing)


# -- the editor ----------------------------------------------------------------------------


def test_try_on_a_trace_then_save_then_edit_makes_version_2(web: TestClient, pid: str) -> None:
    listed = web.get(f"/evaluators?project={pid}").text
    assert "No evaluators yet" in listed and 'aria-current="page">Evaluators' in listed
    new = web.get(f"/evaluators/new?project={pid}&trace={TRACE}&start=check:contains")
    assert new.status_code == 200 and f'name="trace_id" value="{TRACE}"' in new.text
    assert "check: contains" in textarea(new.text)

    tried = post(web, pid, "/evaluators/try", definition=CONTAINS, trace_id=TRACE)
    assert tried.status_code == 200, tried.text
    trial = tried.text.split('id="trial"', 1)[1]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in trial  # the output, escaped
    assert "<script>alert" not in tried.text
    assert "mentions-refund: true" in trial and "refund" in trial.split("score-comment")[1]
    assert textarea(tried.text) == CONTAINS  # the text is kept, unsaved
    assert evaluators(web, pid) == {}
    assert store_of(web).list_scores(pid, ScoreFilter(), 1, 10)[1] == 0

    saved = save(web, pid)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/evaluators/mentions-refund?project={pid}&saved=created"
    page = web.get(saved.headers["location"]).text
    assert "Created: version 1." in page and "check: contains" in page
    assert evaluators(web, pid)["mentions-refund"]["version"] == 1

    edit = web.get(f"/evaluators/mentions-refund/edit?project={pid}").text
    assert textarea(edit) == editor.definition_text(
        "mentions-refund", evaluators(web, pid)["mentions-refund"]["spec"]
    )
    changed = textarea(edit).replace("[refund]", "[refunds]")
    r = save(web, pid, changed, editing="mentions-refund")
    assert r.status_code == 303 and r.headers["location"].endswith("saved=updated")
    page = web.get(r.headers["location"]).text
    assert "Saved: version 2." in page
    assert page.count('class="version"') == 2
    assert evaluators(web, pid)["mentions-refund"]["spec"]["args"]["any"] == ["refunds"]
    r = save(web, pid, changed, editing="mentions-refund")
    assert "Nothing changed: still version 2." in web.get(r.headers["location"]).text

    r = save(web, pid, changed.replace("name: mentions-refund", "name: other"), "mentions-refund")
    assert r.status_code == 400 and "this page edits mentions-refund" in alert(r.text)
    r = save(web, pid, changed)  # a new evaluator may not take an existing name
    assert r.status_code == 400 and "an evaluator named mentions-refund exists" in alert(r.text)
    assert set(evaluators(web, pid)) == {"mentions-refund"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CONTAINS.replace("check: contains", "check: nope") + "colour: red\n",
         ["<code>$.check</code>: one of", "<code>$.colour</code>: unknown field"]),
        ("name: [unclosed\n", ["<code>$</code>: not valid YAML or JSON at line"]),
        (CONTAINS.replace("name: mentions-refund", "name: <b>x</b>"),
         ["<code>$.name</code>: a name of 1 to 64"]),
        (CONTAINS.replace("{any: [refund], case_sensitive: false}", "{any: 3}"),
         ["<code>$.args.any</code>"]),
        ("", ["<code>$</code>: empty"]),
    ],
)  # fmt: skip
def test_problems_are_listed_with_their_paths_above_the_kept_text(
    web: TestClient, pid: str, text: str, expected: list[str]
) -> None:
    for path in ("/evaluators", "/evaluators/try"):
        r = post(web, pid, path, definition=text, trace_id=TRACE)
        assert r.status_code == 400, (path, r.text)
        problems = alert(r.text)
        for item in expected:
            assert item in problems, (path, problems)
        assert "<b>" not in problems
        assert textarea(r.text) == text
    assert evaluators(web, pid) == {}


def test_trying_needs_a_trace_of_this_project(web: TestClient, pid: str) -> None:
    r = post(web, pid, "/evaluators/try", definition=CONTAINS, trace_id="")
    assert r.status_code == 400 and "give the id of a trace" in alert(r.text)
    r = post(web, pid, "/evaluators/try", definition=CONTAINS, trace_id="ff" * 16)
    assert r.status_code == 400 and "not found in this project" in alert(r.text)
    other = store_of(web).create_project("try-elsewhere")["id"]
    write_trace(web, other, "cd" * 16, "elsewhere refund")
    r = post(web, pid, "/evaluators/try", definition=CONTAINS, trace_id="cd" * 16)
    assert r.status_code == 400 and "not found in this project" in alert(r.text)
    failing = (
        CONTAINS.replace("contains", "equals")
        .replace("args: {any: [refund], case_sensitive: false}", "args: {}")
        .replace("variables: {text: output}", "variables: {text: output, expected: metadata.nope}")
    )
    r = post(web, pid, "/evaluators/try", definition=failing, trace_id=TRACE)
    assert r.status_code == 200 and "Error: ValueError" in r.text.split('id="trial"')[1]


def test_every_code_starter_is_a_valid_definition() -> None:
    code = [s["value"] for s in editor.starters() if s["value"].startswith("check:")]
    assert len(code) >= 12
    for value in code:
        problems = Problems()
        name, spec = check_evaluator(
            editor.parse(editor.starter(value, [])), "$", problems,
            connections=(), score_configs={},
        )  # fmt: skip
        assert not problems.items and spec is not None, (value, problems.items)
        assert editor.parse(editor.definition_text(name, spec)) == export_evaluator(name, spec)


def test_every_judge_starter_is_a_valid_definition() -> None:
    judges = [s["value"] for s in editor.starters() if not s["value"].startswith("check:")]
    assert "judge" in judges and any(v.startswith("template:") for v in judges)
    for value in judges:
        if value == "custom":
            continue
        problems = Problems()
        check_evaluator(editor.parse(editor.starter(value, ["judge"])), "$", problems,
                        connections=("judge",), score_configs={})  # fmt: skip
        assert not problems.items, (value, problems.items)


# -- list, pause, backfill -----------------------------------------------------------------


def test_list_shows_figures_and_pause_resume_go_back_to_it(web: TestClient, pid: str) -> None:
    save(web, pid)
    ev = evaluators(web, pid)["mentions-refund"]
    store_of(web).record_evaluator_runs(
        [{"project_id": pid, "evaluator_id": ev["id"], "version": 1, "scored": 3, "failed": 1,
          "cost": 0.0, "last_error": "ValueError: <i>broken</i>"}],
        [{"project_id": pid, "evaluator_id": ev["id"], "level": "error",
          "message": "ValueError: <i>broken</i>", "target": TRACE}],
    )  # fmt: skip
    row = web.get(f"/evaluators?project={pid}").text.split('data-name="mentions-refund"')[1]
    row = row.split("</tr>")[0]
    assert ">code<" in row and ">traces<" in row and ">3<" in row and "25.0%" in row
    assert "active" in row and "<time" in row

    r = post(web, pid, "/evaluators/mentions-refund/pause", next="list")
    assert r.status_code == 303 and r.headers["location"] == f"/evaluators?project={pid}"
    listed = web.get(r.headers["location"]).text
    assert "paused by a user" in listed and ">Resume<" in listed
    page = web.get(f"/evaluators/mentions-refund?project={pid}").text
    assert "Paused: paused by a user" in page
    assert "&lt;i&gt;broken&lt;/i&gt;" in page and "<i>broken" not in page
    assert f'href="/traces/{TRACE}?project={pid}"' in page  # the run log links its target
    r = post(web, pid, "/evaluators/mentions-refund/backfill")
    assert r.status_code == 409 and "is paused; resume it first" in r.text
    r = post(web, pid, "/evaluators/mentions-refund/resume")
    assert r.headers["location"] == f"/evaluators/mentions-refund?project={pid}"
    assert evaluators(web, pid)["mentions-refund"]["status"] == "active"
    assert post(web, pid, "/evaluators/nope/pause").status_code == 404


def test_backfill_runs_and_its_progress_is_polled_in_this_project_only(
    web: TestClient, pid: str
) -> None:
    for i in range(5):
        write_trace(web, pid, f"{i:032x}", "refund" if i % 2 else "nothing")
    save(web, pid, CONTAINS + "delay_seconds: 0\n")  # the traces were just written
    r = post(web, pid, "/evaluators/mentions-refund/backfill", limit="ten")
    assert r.status_code == 400 and "limit: a positive whole number" in r.text
    assert 'value="ten"' in r.text  # the form is kept
    r = post(web, pid, "/evaluators/mentions-refund/backfill", **{"from": "2025-13-01T00:00"})
    assert r.status_code == 400 and "from: expected an ISO 8601 time" in r.text
    r = post(web, pid, "/evaluators/mentions-refund/backfill", **{"from": "2020-01-01T00:00"})
    assert r.status_code == 303, r.text
    job_id = re.search(r"job=([^#&]+)", r.headers["location"]).group(1)  # type: ignore[union-attr]
    page = web.get(r.headers["location"]).text
    assert f'data-url="/evaluators/mentions-refund/jobs/{job_id}?project={pid}"' in page
    url = f"/evaluators/mentions-refund/jobs/{job_id}?project={pid}"
    deadline = time.monotonic() + 20
    while (job := web.get(url).json())["status"] != "done":
        assert time.monotonic() < deadline and job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    assert job["done"] == job["total"] == 6
    page = web.get(f"/evaluators/mentions-refund?project={pid}").text
    assert "done, 6 of 6 targets" in page
    assert evaluators(web, pid)["mentions-refund"]["status"] == "active"
    scored = page.split('class="scores-written">')[1].split("<")[0]
    assert scored == "6"

    # another project's job is not found through this project, nor through another evaluator
    other = store_of(web).create_project(f"{pid}-other")["id"]
    assert save(web, other).status_code == 303
    theirs = start_backfill(web.app.state.heron, other, "mentions-refund", {})
    jobs = "/evaluators/mentions-refund/jobs"
    assert web.get(f"{jobs}/{theirs['id']}?project={pid}").status_code == 404
    assert web.get(f"{jobs}/{theirs['id']}?project={other}").status_code == 200
    assert web.get(f"/evaluators/other/jobs/{job_id}?project={pid}").status_code == 404
    assert post(web, pid, f"{jobs}/{theirs['id']}/cancel").status_code == 404


# -- scoping and roles ---------------------------------------------------------------------


def test_another_projects_evaluators_are_invisible(web: TestClient, pid: str) -> None:
    save(web, pid)
    store = store_of(web)
    other = store.create_project(f"{pid}-secret")["id"]
    problems = Problems()
    _, spec = check_evaluator(editor.parse(CONTAINS.replace("mentions-refund", "secret-eval")),
                              "$", problems, connections=(), score_configs={})  # fmt: skip
    store.put_evaluator(other, "secret-eval", spec)
    listed = web.get(f"/evaluators?project={pid}").text
    assert "mentions-refund" in listed and "secret-eval" not in listed
    assert web.get(f"/evaluators/secret-eval?project={pid}").status_code == 404
    assert web.get(f"/evaluators/secret-eval/edit?project={pid}").status_code == 404
    assert post(web, pid, "/evaluators/secret-eval/pause").status_code == 404
    assert store.get_evaluator(other, "secret-eval")["status"] == "active"
    # a member of this project only does not see the other project at all
    member = _join(web, _invite_to(web, pid, "member"), f"member-{pid}@heron.test")
    assert member.get(f"/evaluators?project={other}").status_code == 404
    assert member.get(f"/evaluators/secret-eval?project={other}").status_code == 404
    assert "mentions-refund" in member.get(f"/evaluators?project={pid}").text


def _invite_to(c: TestClient, pid: str, role: str) -> str:
    page = c.get(f"/settings/members?project={pid}")
    r = c.post(f"/settings/members/invite?project={pid}",
               data={"role": role, "csrf_token": csrf_of(page.text)})  # fmt: skip
    found = re.search(r'class="invite-link">([^<]+)<', r.text)
    assert found, r.text
    return found.group(1).replace("&amp;", "&")


def test_viewer_reads_but_sees_no_buttons_and_forged_posts_get_403(
    web: TestClient, pid: str
) -> None:
    save(web, pid)
    store_of(web).put_connection(pid, "judge", {"provider": "openai", "base_url": "http://x/v1",
                                                "model": "m"}, "v1:token", "sk-…1234")  # fmt: skip
    viewer = _join(web, _invite_to(web, pid, "viewer"), f"viewer-{pid}@heron.test")
    listed = viewer.get(f"/evaluators?project={pid}").text
    assert "mentions-refund" in listed
    page = viewer.get(f"/evaluators/mentions-refund?project={pid}").text
    conns = viewer.get(f"/settings/connections?project={pid}").text
    assert "sk-…1234" in conns
    for html_, buttons in (
        (listed, ("New evaluator", ">Pause<", "try on this trace")),
        (page, (">Edit<", ">Pause<", "Start backfill", ">Delete<")),
        (conns, ("Test connection", "Add connection", ">Delete<", ">edit<")),
    ):
        for button in buttons:
            assert button not in html_, button
    assert viewer.get(f"/evaluators/new?project={pid}").status_code == 403
    assert viewer.get(f"/evaluators/mentions-refund/edit?project={pid}").status_code == 403
    csrf = csrf_of(conns)
    for path, data in (
        ("/evaluators", {"definition": CONTAINS.replace("refund", "x")}),
        ("/evaluators/try", {"definition": CONTAINS, "trace_id": TRACE}),
        ("/evaluators/mentions-refund/pause", {}),
        ("/evaluators/mentions-refund/resume", {}),
        ("/evaluators/mentions-refund/delete", {}),
        ("/evaluators/mentions-refund/backfill", {}),
        ("/evaluators/mentions-refund/jobs/x/cancel", {}),
        ("/settings/connections", {"name": "x", "base_url": "http://x/v1", "model": "m",
                                   "api_key": "k"}),
        ("/settings/connections/judge/delete", {}),
        ("/settings/connections/judge/test", {}),
    ):  # fmt: skip
        r = viewer.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf})
        assert r.status_code == 403 and "Your role (viewer)" in r.text, path
    assert evaluators(web, pid)["mentions-refund"]["status"] == "active"
    assert evaluators(web, pid)["mentions-refund"]["version"] == 1
    assert store_of(web).get_connection(pid, "judge") is not None


def test_the_trace_page_offers_to_try_an_evaluator(web: TestClient, pid: str) -> None:
    save(web, pid)
    trace = web.get(f"/traces/{TRACE}?project={pid}").text
    link = f"/evaluators?project={pid}&amp;trace={TRACE}"
    assert f'href="{link}"' in trace
    listed = web.get(html.unescape(link)).text
    assert f"Trying on trace <code>{TRACE}</code>" in listed
    assert f"/evaluators/mentions-refund/edit?project={pid}&amp;trace={TRACE}#try" in listed
    assert f"/evaluators/new?project={pid}&amp;trace={TRACE}" in listed
    edit = web.get(f"/evaluators/mentions-refund/edit?project={pid}&trace={TRACE}").text
    assert f'name="trace_id" value="{TRACE}"' in edit


# -- LLM connections -----------------------------------------------------------------------

SPEC = {
    "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini",
    "headers": {}, "api_version": None, "max_concurrency": 8, "timeout_seconds": 60.0,
}  # fmt: skip


def _judge_spec(connection: str) -> dict[str, Any]:
    """A stored judge's spec, written as-is (checking one needs the judge module)."""
    return {"type": "llm_judge", "target": "traces", "description": None, "sampling": 1.0,
            "delay_seconds": 10.0, "filter": [], "connection": connection, "model": None,
            "template": None, "prompt": "Rate {{output}}", "variables": {"output": "output"},
            "output": {"data_type": "NUMERIC", "min": 0.0, "max": 1.0}}  # fmt: skip


def test_connections_list_hints_update_keeps_the_key_and_delete_is_refused_while_used(
    web: TestClient, pid: str
) -> None:
    store = store_of(web)
    store.put_connection(pid, "judge", SPEC, "v1:ciphertext-of-the-key", "sk-…1234")
    store.put_evaluator(pid, "helpfulness", _judge_spec("judge"))
    page = web.get(f"/settings/connections?project={pid}").text
    assert 'aria-current="page">LLM connections' in page
    row = page.split('data-name="judge"')[1].split("</tr>")[0]
    assert "http://127.0.0.1:9/v1" in row and "gpt-4o-mini" in row and "sk-…1234" in row
    assert "ciphertext" not in page and "helpfulness" in row

    edit = web.get(f"/settings/connections?project={pid}&edit=judge").text
    assert 'value="gpt-4o-mini"' in edit and "empty: keep the stored one" in edit
    form = {
        "editing": "judge", "name": "judge", "provider": "openai", "model": "gpt-4.1",
        "base_url": "http://127.0.0.1:9/v1", "headers": "X-Team: evals", "api_key": "",
    }  # fmt: skip
    r = post(web, pid, "/settings/connections", **{**form, "base_url": "ftp://nope"})
    assert r.status_code == 400 and "<code>$.base_url</code>: an http(s) URL" in alert(r.text)
    assert 'value="ftp://nope"' in r.text and 'value="gpt-4.1"' in r.text
    r = post(web, pid, "/settings/connections", **{**form, "headers": "no colon"})
    assert r.status_code == 400 and "expected &#39;Name: value&#39;" in alert(r.text)
    r = post(web, pid, "/settings/connections", **form)
    assert r.status_code == 303, r.text
    saved = store.get_connection(pid, "judge", with_key=True)
    assert saved["spec"]["model"] == "gpt-4.1" and saved["spec"]["headers"] == {"X-Team": "evals"}
    assert saved["api_key"] == "v1:ciphertext-of-the-key"  # kept
    r = post(web, pid, "/settings/connections", **{**form, "editing": ""})
    assert r.status_code == 400 and "a connection named judge exists" in alert(r.text)

    r = post(web, pid, "/settings/connections/judge/delete")
    assert r.status_code == 409 and "used by evaluators [&#39;helpfulness&#39;]" in r.text
    store.delete_evaluator(pid, store.get_evaluator(pid, "helpfulness")["id"])
    assert post(web, pid, "/settings/connections/judge/delete").status_code == 303
    assert store.get_connection(pid, "judge") is None
    assert post(web, pid, "/settings/connections/judge/delete").status_code == 404


def test_a_new_connection_keeps_its_key_encrypted_and_shows_its_hint(
    web: TestClient, pid: str
) -> None:
    key = "sk-test-<b>abcdef</b>-1234"
    r = post(web, pid, "/settings/connections", name="judge", provider="openai", model="m",
             base_url="http://127.0.0.1:9/v1", api_key=key)  # fmt: skip
    assert r.status_code == 303, r.text
    page = web.get(r.headers["location"]).text
    assert "abcdef" not in page
    stored = store_of(web).get_connection(pid, "judge", with_key=True)
    assert stored["api_key"] and "abcdef" not in stored["api_key"]
    assert stored["api_key_hint"] in html.unescape(page)


def test_testing_a_connection_shows_what_went_wrong(web: TestClient, pid: str) -> None:
    r = post(web, pid, "/settings/connections", name="judge", provider="openai", model="m",
             base_url="http://127.0.0.1:9/v1", api_key="sk-test-abcdef-1234")  # fmt: skip
    assert r.status_code == 303, r.text
    r = post(web, pid, "/settings/connections/judge/test")
    assert r.status_code == 200
    result = r.text.split('class="test-result', 1)[1].split("</p>")[0]
    assert "failed:" in result and "unreachable" in result
    assert post(web, pid, "/settings/connections/nope/test").status_code == 404
