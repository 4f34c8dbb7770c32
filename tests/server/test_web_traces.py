"""The trace pages in process: list (filters, search, pages, errors) and detail (tree,
timeline, chat), project scoping, and that hostile content is only ever shown escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.server.web.payload import chat
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login, store_of
from tests.support.otlp import (
    T0_NS,
    genai_trace,
    new_span_id,
    new_trace_id,
    request,
    span,
)
from tests.support.server import CONSISTENT, SECRET_KEY

INGEST = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {SECRET_KEY}"}
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)"]


def ingest(c: TestClient, spans: list) -> None:
    r = c.post("/v1/traces", content=request(spans).SerializeToString(), headers=INGEST)
    assert r.status_code == 200, r.text


def trace_ids(page: str) -> list[str]:
    """Trace ids of the list's rows, in order (each row links its time and its name)."""
    found = re.findall(r'<td class="nowrap"><a href="/traces/([0-9a-f]+)\?', page)
    return found


@pytest.fixture
def seeded(web: TestClient) -> dict[str, str]:
    """``plant``'s five traces in the test's own app (for tests that add to them)."""
    return plant(web)


@pytest.fixture(scope="module")
def shared_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """``web``, shared by the tests that only read the five ``planted`` traces (an app and a
    login cost about a second a test)."""
    settings = make_settings(
        tmp_path_factory.mktemp("web"), init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture(scope="module")
def planted(shared_web: TestClient) -> dict[str, str]:
    """``seeded``'s five traces in the module's shared app."""
    return plant(shared_web)


def plant(web: TestClient) -> dict[str, str]:
    """Five traces: users u0..u2, one named kb-search, one whose input mentions 'refund'."""
    ids: dict[str, str] = {}
    spans = []
    for i in range(5):
        tid, root = new_trace_id(), new_span_id()
        spans.append(
            span(
                tid,
                root,
                "kb-search" if i == 3 else "support-chat",
                start_ns=T0_NS + i * 60_000_000_000,
                duration_ms=100 * (i + 1),
                attributes={
                    "user.id": f"u{i % 3}",
                    "session.id": f"s{i}",
                    "input.value": "I want a refund" if i == 4 else f"question {i}",
                    "langfuse.trace.tags": ["beta"] if i == 2 else [],
                },
            )
        )
        ids[f"t{i}"] = tid.hex()
    ingest(web, spans)
    return ids


def test_list_shows_every_trace_newest_first_with_links(
    shared_web: TestClient, planted: dict[str, str]
) -> None:
    r = shared_web.get("/traces")
    assert r.status_code == 200
    assert trace_ids(r.text) == [planted[f"t{i}"] for i in (4, 3, 2, 1, 0)]
    project = store_of(shared_web).list_projects()[0]["id"]
    assert f'href="/traces/{planted["t0"]}?project={project}"' in r.text
    assert f'href="/users/u0?project={project}"' in r.text
    assert f'href="/sessions/s0?project={project}"' in r.text
    assert "100 ms" in r.text and '<span class="tag">beta</span>' in r.text
    # input and output previews are on by default, with a model column and the total count
    assert '<td class="preview" title="question 0">question 0</td>' in r.text
    assert 'th class="col-output"' in r.text and 'th class="col-model"' in r.text
    assert "1\u20135 of 5" in r.text


def test_filters_narrow_the_list(shared_web: TestClient, planted: dict[str, str]) -> None:
    by_user = shared_web.get("/traces?user_id=u1")
    assert trace_ids(by_user.text) == [planted["t4"], planted["t1"]]
    assert 'value="user_id"' in by_user.text  # shown as a row of the filter bar
    by_name = shared_web.get("/traces?name=kb-search")
    assert trace_ids(by_name.text) == [planted["t3"]]
    as_json = orjson.dumps([{"column": "tags", "operator": "contains", "value": "beta"}]).decode()
    assert trace_ids(shared_web.get("/traces", params={"filter": as_json}).text) == [planted["t2"]]
    found = shared_web.get("/traces?search=REFUND")
    assert trace_ids(found.text) == [planted["t4"]] and 'value="REFUND"' in found.text
    slow = shared_web.get("/traces?order_by=latency.asc")
    assert trace_ids(slow.text) == [planted[f"t{i}"] for i in range(5)]


def test_the_filter_bar_rows_become_the_filter_json(
    shared_web: TestClient, planted: dict[str, str]
) -> None:
    r = shared_web.get(
        "/traces",
        params=[
            ("search", ""),
            ("fc", "user_id"),
            ("fo", "in"),
            ("fv", "u0,u2"),
            ("fc", "latency_ms"),
            ("fo", ">="),
            ("fv", "200"),
            ("fc", ""),
            ("fo", "="),
            ("fv", ""),
            ("order_by", "timestamp.asc"),
            ("limit", "50"),
        ],
        follow_redirects=False,
    )
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert orjson.loads(query["filter"][0]) == [
        {"column": "user_id", "operator": "in", "value": "u0,u2"},
        {"column": "latency_ms", "operator": ">=", "value": "200"},
    ]
    assert query["order_by"] == ["timestamp.asc"] and "search" not in query
    page = shared_web.get(r.headers["location"])
    assert trace_ids(page.text) == [planted["t2"], planted["t3"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "[{"}, "filter: invalid JSON"),
        ({"filter": '[{"column": "nope", "operator": "=", "value": 1}]'}, "unknown column"),
        ({"filter": '[{"column": "latency_ms", "operator": ">", "value": "x"}]'}, "number"),
        ({"order_by": "colour.desc"}, "order_by: unknown field"),
        ({"cursor": "garbage"}, "cursor: not a cursor"),
    ],
)
def test_invalid_filters_show_the_message_with_status_400(
    shared_web: TestClient, planted: dict[str, str], params: dict[str, str], message: str
) -> None:
    r = shared_web.get("/traces", params=params)
    assert r.status_code == 400
    assert 'role="alert"' in r.text and message in html.unescape(r.text)
    assert 'name="search"' in r.text  # the filter bar is still there to fix it


def test_next_link_pages_through_keeping_the_other_parameters(
    shared_web: TestClient, planted: dict[str, str]
) -> None:
    seen: list[str] = []
    url = "/traces?limit=2&order_by=timestamp.asc&user_id=u0"
    pages = 0
    while url:
        r = shared_web.get(url)
        assert r.status_code == 200
        seen += trace_ids(r.text)
        pages += 1
        nxt = re.search(r'<a href="([^"]+)" rel="next">Next</a>', r.text)
        url = html.unescape(nxt.group(1)) if nxt else ""
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["limit"] == ["2"] and query["user_id"] == ["u0"] and "cursor" in query
    assert seen == [planted["t0"], planted["t3"]] and pages == 1
    everything: list[str] = []
    url = "/traces?limit=2&order_by=timestamp.asc"
    while url:
        r = shared_web.get(url)
        everything += trace_ids(r.text)
        nxt = re.search(r'<a href="([^"]+)" rel="next">Next</a>', r.text)
        url = html.unescape(nxt.group(1)) if nxt else ""
    assert everything == [planted[f"t{i}"] for i in range(5)]


def test_detail_shows_the_tree_timeline_and_a_chat(web: TestClient) -> None:
    tid, spans = genai_trace(user="alice", session="sess-9", n_children=2)
    root = spans[0].span_id
    tool = new_span_id()
    spans.append(
        span(
            tid,
            tool,
            "lookup-account",
            parent=spans[1].span_id,
            start_ns=T0_NS + 150_000_000,
            duration_ms=50,
            error="account service down",
            attributes={"openinference.span.kind": "TOOL"},
        )
    )
    ingest(web, spans)
    r = web.get(f"/traces/{tid.hex()}")
    assert r.status_code == 200, r.text
    rows = re.findall(r'<li class="wf-row[^"]*" data-depth="(\d+)" data-id="([0-9a-f]+)">', r.text)
    ids = [s.span_id.hex() for s in spans]
    assert rows == [("0", root.hex()), ("1", ids[1]), ("2", tool.hex()), ("1", ids[2])]
    # the root spans the whole timeline; the first child starts 5% in and lasts 25%
    bars = re.findall(r'class="wf-bar" style="left: ([\d.]+)%; width: ([\d.]+)%"', r.text)
    assert bars[0] == ("0.0", "100.0") and bars[1] == ("5.0", "25.0")
    # the failing tool call stands out; its status message is on its panel
    assert re.search(r'<li class="wf-row is-error" data-depth="2"', r.text)
    assert "account service down" not in r.text  # only the selected observation's panel
    r_tool = web.get(f"/traces/{tid.hex()}?observation={tool.hex()}")
    assert "Status: account service down" in r_tool.text
    assert re.search(
        rf'<li class="wf-row is-error is-selected"[^>]*data-id="{tool.hex()}"', r_tool.text
    )
    # generations render as a chat (the panel alone, as trace.js fetches it, says the same)
    r = web.get(f"/traces/{tid.hex()}?observation={ids[1]}")
    panel = web.get(f"/traces/{tid.hex()}/panel?observation={ids[1]}")
    assert panel.status_code == 200 and '<li class="msg role-user">' in panel.text
    assert "<html" not in panel.text and f'data-selected="{ids[1]}"' in panel.text
    assert web.get(f"/traces/{tid.hex()}/panel?observation=nope").status_code == 404
    assert '<li class="msg role-user">' in r.text and '<li class="msg role-assistant">' in r.text
    assert '<div class="msg-role">user' in r.text and '<div class="msg-role">assistant' in r.text
    assert '<div class="msg-text">How do I reset my password?</div>' in r.text
    assert '<div class="msg-text">Open settings and click reset.</div>' in r.text
    assert "gpt-4o-mini" in r.text and 'href="/users/alice?project=' in r.text
    assert "support-chat" in r.text and "alice" in r.text and "sess-9" in r.text


def test_chat_shapes_and_non_chat_values() -> None:
    openai = chat(
        [
            {"role": "system", "content": "be brief"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "found"},
        ]
    )
    assert openai is not None
    assert [m["role"] for m in openai] == ["system", "assistant", "tool"]
    assert openai[1]["parts"] == [
        {"kind": "tool_call", "name": "lookup", "id": "c1", "text": '{\n  "q": 1\n}'}
    ]
    assert openai[2]["tool_call_id"] == "c1"
    genai = chat(
        [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": "checking"},
                    {"type": "tool_call", "id": "x", "name": "get", "arguments": {"a": 1}},
                ],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "x", "response": "ok"}],
            },
        ]
    )
    assert genai is not None
    assert genai[0]["parts"][0] == {"kind": "text", "text": "checking"}
    assert genai[0]["parts"][1]["kind"] == "tool_call" and genai[0]["parts"][1]["name"] == "get"
    assert genai[1]["parts"][0]["kind"] == "tool_result"
    assert chat({"role": "assistant", "content": "hi"}) is not None  # one message
    assert chat(["a", "b"]) is None and chat({"answer": 1}) is None and chat("text") is None
    assert chat([{"role": "<b>", "content": "x"}])[0]["role_class"] == "other"  # type: ignore[index]


def test_a_trace_of_another_project_is_a_404(web: TestClient) -> None:
    store = store_of(web)
    other = store.create_project("other")
    key = store.create_key(other["id"])
    tid, spans = genai_trace()
    r = web.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={**INGEST, "Authorization": f"Bearer {key['secret_key']}"},
    )
    assert r.status_code == 200
    test_project = next(p for p in store.list_projects() if p["name"] == "test")
    missing = web.get(f"/traces/{tid.hex()}?project={test_project['id']}")
    assert missing.status_code == 404 and "Not found" in missing.text
    assert web.get("/traces/0123?project=" + test_project["id"]).status_code == 404
    # the admin belongs to "other" too: asked for there, it shows
    assert web.get(f"/traces/{tid.hex()}?project={other['id']}").status_code == 200
    # a user who is not a member of "other" cannot ask for it
    store.create_user("x@heron.test", "password-of-x", project_ids=[test_project["id"]])
    web.cookies.clear()
    login(web, "x@heron.test", "password-of-x")
    assert web.get(f"/traces/{tid.hex()}?project={other['id']}").status_code == 404
    assert web.get(f"/traces/{tid.hex()}").status_code == 404
    assert tid.hex() not in web.get("/traces").text


def hostile_trace() -> tuple[bytes, list]:
    tid, root, child = new_trace_id(), new_span_id(), new_span_id()
    script, img, js = HOSTILE
    spans = [
        span(
            tid,
            root,
            script,
            attributes={
                "user.id": js,
                "session.id": img,
                "input.value": f"{script} {img} {js} &lt;b&gt;",
                "output.value": f'{{"{script}": "{img}"}}',
                "langfuse.trace.tags": [img, js, "&lt;b&gt;"],
                f"langfuse.trace.metadata.{script}": img,
                "langfuse.release": js,
            },
        ),
        span(
            tid,
            child,
            img,
            parent=root,
            start_ns=T0_NS + 10_000_000,
            duration_ms=50,
            error=script,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": script,
                "gen_ai.input.messages": orjson.dumps(
                    [{"role": script, "parts": [{"type": "text", "content": script}]}]
                ).decode(),
                "gen_ai.output.messages": orjson.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [
                                {"type": "text", "content": f"{img} &lt;b&gt;"},
                                {"type": "tool_call", "name": js, "arguments": {js: script}},
                            ],
                        }
                    ]
                ).decode(),
                f"langfuse.observation.metadata.{img}": script,
            },
        ),
    ]
    return tid, spans


def assert_only_escaped(page: str) -> None:
    lowered = page.lower()
    assert "<script>alert" not in lowered and "<img src=x" not in lowered
    assert 'href="javascript:' not in lowered and "onerror=alert(1)>" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_hostile_content_is_only_ever_escaped(web: TestClient) -> None:
    tid, spans = hostile_trace()
    ingest(web, spans)
    listed = web.get("/traces")
    assert listed.status_code == 200 and tid.hex() in listed.text
    assert_only_escaped(listed.text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in listed.text  # the tag, as text
    assert "&amp;lt;b&amp;gt;" in listed.text  # entities stay text too
    detail = web.get(f"/traces/{tid.hex()}")
    assert detail.status_code == 200
    assert_only_escaped(detail.text)
    for needle in (
        "&lt;img src=x onerror=alert(1)&gt;",
        "&amp;lt;b&amp;gt;",
        "javascript:alert(1)",
    ):
        assert needle in detail.text
    # the user link is a relative path, never a javascript: URL
    assert 'href="/users/javascript%3Aalert%281%29?project=' in detail.text
    # a hostile filter value is echoed escaped too
    r = web.get("/traces", params={"filter": f'[{{"column": "{HOSTILE[0]}", "operator": "="}}]'})
    assert r.status_code == 400
    assert_only_escaped(r.text)


# ---- column chooser, saved views, suggestions -------------------------------------------


def header_cells(page: str) -> list[str]:
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", page, re.S)
    assert head, page
    return re.findall(r'<th class="col-(\w+)', head.group(1))


def test_the_column_chooser_picks_the_columns_in_the_url(
    web: TestClient, seeded: dict[str, str]
) -> None:
    default = web.get("/traces")
    assert header_cells(default.text) == [
        "time",
        "name",
        "model",
        "user",
        "session",
        "latency",
        "cost",
        "tokens",
        "level",
        "scores",
        "tags",
        "input",
        "output",
    ]
    assert 'name="col" value="input" checked>' in default.text
    assert 'name="col" value="tags" checked>' in default.text
    # unknown names are ignored; the list's order wins over the URL's
    r = web.get("/traces?cols=input,nope,time,user")
    assert header_cells(r.text) == ["time", "user", "input"]
    assert trace_ids(r.text) == [seeded[f"t{i}"] for i in (4, 3, 2, 1, 0)]
    assert "100 ms" not in r.text  # latency is hidden
    assert r.text.count('<td class="preview" title="') == 5  # a preview, or empty without one
    # the next-page link keeps the choice
    paged = web.get("/traces?cols=time,name&limit=2")
    nxt = re.search(r'<a href="([^"]+)" rel="next">', paged.text)
    assert nxt and parse_qs(urlsplit(html.unescape(nxt.group(1))).query)["cols"] == ["time,name"]
    # nothing known: the default
    assert header_cells(web.get("/traces?cols=zzz").text)[-1] == "output"


def test_the_filter_bar_turns_checked_columns_into_cols(
    web: TestClient, seeded: dict[str, str]
) -> None:
    params = [("fc", ""), ("fo", "="), ("fv", ""), ("col", "name"), ("col", "latency")]
    r = web.get("/traces", params=params, follow_redirects=False)
    assert r.status_code == 303
    assert parse_qs(urlsplit(r.headers["location"]).query)["cols"] == ["name,latency"]
    every_default = [("fc", ""), ("fo", "=")] + [
        ("col", c)
        for c in (
            "time",
            "name",
            "user",
            "session",
            "latency",
            "cost",
            "tokens",
            "level",
            "scores",
            "tags",
            "model",
            "input",
            "output",
        )
    ]
    r = web.get("/traces", params=every_default, follow_redirects=False)
    assert "cols" not in parse_qs(urlsplit(r.headers["location"]).query)


def test_the_input_preview_column_shows_a_preview_when_rows_carry_one(
    web: TestClient, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(web)
    real = store.list_traces

    def with_preview(project_id: str, q: object) -> object:
        found = real(project_id, q)
        for t in found.data:
            t["input_preview"] = f"preview <b>{t['user_id']}</b>"
        return found

    monkeypatch.setattr(store, "list_traces", with_preview)
    r = web.get("/traces?cols=name,input")
    assert '<td class="preview" title="preview &lt;b&gt;u0&lt;/b&gt;">' in r.text
    assert "preview &lt;b&gt;u1&lt;/b&gt;</td>" in r.text


def test_the_scores_column_shows_each_trace_s_score_summary(
    web: TestClient, seeded: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    for body in (
        {"traceId": seeded["t1"], "name": "quality", "value": 0.5},
        {"traceId": seeded["t1"], "name": "quality", "value": 1.0},
        {"traceId": seeded["t1"], "name": "mood", "value": "<calm>"},
    ):
        assert web.post("/api/scores", json=body, headers=auth).status_code == 201
    r = web.get("/traces?cols=name,scores")
    assert header_cells(r.text) == ["name", "scores"]
    assert (
        '<span class="score">mood: &lt;calm&gt;</span> <span class="score">quality: 0.75</span>'
        in (r.text)
    )
    # (the runner's implicit-feedback scores of the seeded sessions may sit beside them)
    assert len(re.findall(r'<span class="score">(?:mood|quality):', r.text)) == 2


def test_the_trace_panel_shows_each_score_with_source_author_time_and_reacting_trace(
    web: TestClient, seeded: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    other = seeded["t2"]
    for body in (
        {"traceId": seeded["t1"], "name": "implicit_retry", "value": True, "source": "EVAL",
         "comment": "retry: <again>", "timestamp": "2026-11-30T10:00:00Z",
         "metadata": {"reacting_trace_id": other}},
        {"traceId": seeded["t1"], "name": "hostile", "value": 1,
         "metadata": {"reacting_trace_id": "../../settings/keys"}},
    ):  # fmt: skip
        assert web.post("/api/scores", json=body, headers=auth).status_code == 201
    pid = project_id(web)
    page = web.get(f"/traces/{seeded['t1']}", params={"project": pid}).text
    table = page[
        page.index('<table class="scores">') : page.index(
            "</table>", page.index('<table class="scores">')
        )
    ]
    assert re.findall(r"<th>(\w+)</th>", table) == [
        "name", "value", "source", "comment", "author", "time",
    ]  # fmt: skip
    assert "retry: &lt;again&gt;" in table and ">EVAL<" in table
    assert f'href="/traces/{other}?project={pid}"' in table
    assert table.count('class="reacting"') == 1  # not for a metadata value that is no trace id
    assert "2026-11-30" in table


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def project_id(web: TestClient, name: str = "test") -> str:
    return next(p["id"] for p in store_of(web).list_projects() if p["name"] == name)


def test_saved_views_are_created_listed_opened_and_deleted(
    web: TestClient, seeded: dict[str, str]
) -> None:
    pid = project_id(web)
    listed = web.get(f"/traces?project={pid}&user_id=u1&cols=time,name&cursor=abc")
    saved_query = re.search(r'name="query" value="([^"]*)"', listed.text)
    assert saved_query and html.unescape(saved_query.group(1)) == "user_id=u1&cols=time%2Cname"
    assert "No saved views yet." in listed.text
    r = web.post(
        f"/traces/views?project={pid}",
        data={
            "csrf_token": csrf(listed.text),
            "name": "  <u1> only ",
            "query": html.unescape(saved_query.group(1)),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/traces?project={pid}&user_id=u1&cols=time%2Cname"
    page = web.get(f"/traces?project={pid}")
    link = re.search(r'<li><a href="([^"]+)">&lt;u1&gt; only</a>', page.text)
    assert link, page.text
    opened = web.get(html.unescape(link.group(1)))
    assert trace_ids(opened.text) == [seeded["t4"], seeded["t1"]]
    assert header_cells(opened.text) == ["time", "name"]
    view_id = re.search(r'action="/traces/views/([0-9a-f]+)/delete', page.text)
    assert view_id
    by_id = web.get(f"/traces/views/{view_id.group(1)}?project={pid}", follow_redirects=False)
    assert by_id.status_code == 303 and by_id.headers["location"] == r.headers["location"]
    gone = web.post(
        f"/traces/views/{view_id.group(1)}/delete?project={pid}",
        data={"csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert "No saved views yet." in web.get(f"/traces?project={pid}").text
    again = web.post(
        f"/traces/views/{view_id.group(1)}/delete?project={pid}",
        data={"csrf_token": csrf(page.text)},
    )
    assert again.status_code == 404
    nameless = web.post(
        f"/traces/views?project={pid}",
        data={"csrf_token": csrf(page.text), "name": " ", "query": ""},
    )
    assert nameless.status_code == 400 and "needs a name" in nameless.text


def test_saving_a_view_needs_the_csrf_token(web: TestClient) -> None:
    pid = project_id(web)
    for data in ({"name": "x", "query": ""}, {"name": "x", "query": "", "csrf_token": "forged"}):
        r = web.post(f"/traces/views?project={pid}", data=data)
        assert r.status_code == 403 and "CSRF token" in r.text
    assert "No saved views yet." in web.get(f"/traces?project={pid}").text


def test_a_view_of_another_project_is_a_404(web: TestClient) -> None:
    store = store_of(web)
    other = store.create_project("other")  # the admin is a member of both
    pid = project_id(web)
    token = csrf(web.get(f"/traces?project={pid}").text)
    web.post(
        f"/traces/views?project={other['id']}",
        data={"csrf_token": token, "name": "theirs", "query": "user_id=u1"},
    )
    theirs = re.search(
        r'action="/traces/views/([0-9a-f]+)/delete',
        web.get(f"/traces?project={other['id']}").text,
    )
    assert theirs
    view_id = theirs.group(1)
    assert "theirs" not in web.get(f"/traces?project={pid}").text
    assert web.get(f"/traces/views/{view_id}?project={pid}").status_code == 404
    r = web.post(f"/traces/views/{view_id}/delete?project={pid}", data={"csrf_token": token})
    assert r.status_code == 404
    assert "theirs" in web.get(f"/traces?project={other['id']}").text  # still there
    # a user who is not a member of the other project cannot reach it at all
    store.create_user("y@heron.test", "password-of-y", project_ids=[pid])
    web.cookies.clear()
    login(web, "y@heron.test", "password-of-y")
    assert web.get(f"/traces/views/{view_id}?project={other['id']}").status_code == 404


def datalist(page: str, list_id: str) -> list[str]:
    found = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', page, re.S)
    assert found, list_id
    return [html.unescape(v) for v in re.findall(r'<option value="([^"]*)">', found.group(1))]


def test_the_value_field_suggests_recent_names_users_models_and_tags(
    web: TestClient, seeded: dict[str, str]
) -> None:
    _, spans = genai_trace(user="alice", session="s-a")
    ingest(web, spans)
    r = web.get("/traces?user_id=u1")
    assert datalist(r.text, "values-name") == ["kb-search", "support-chat"]
    assert datalist(r.text, "values-user_id") == ["alice", "u0", "u1", "u2"]
    assert datalist(r.text, "values-model") == ["gpt-4o-mini"]
    assert datalist(r.text, "values-tags") == ["beta"]
    assert "u2" in datalist(r.text, "values-any")
    # the existing row of the bar suggests users, the blank one everything
    assert re.search(r'name="fv" value="u1"[^>]*list="values-user_id"', r.text)
    assert re.search(r'name="fv" value=""[^>]*list="values-any"', r.text)


def test_time_range_picker_presets(web: TestClient) -> None:
    import time

    now_ns = time.time_ns()
    recent, old = new_trace_id(), new_trace_id()
    hour, day = 3600 * 10**9, 86_400 * 10**9
    ingest(
        web,
        [
            span(recent, new_span_id(), "recent", start_ns=now_ns - hour // 2),
            span(old, new_span_id(), "old", start_ns=now_ns - 3 * day),
        ],
    )
    assert set(trace_ids(web.get("/traces").text)) == {recent.hex(), old.hex()}
    assert trace_ids(web.get("/traces?range=1h").text) == [recent.hex()]
    assert set(trace_ids(web.get("/traces?range=7d").text)) == {recent.hex(), old.hex()}
    page = web.get("/traces?range=24h").text
    assert '<option value="24h" selected>' in page
    # an explicit "from" wins over the preset
    both = web.get("/traces?range=1h&from=2000-01-01T00:00:00Z").text
    assert set(trace_ids(both)) == {recent.hex(), old.hex()}
    # the filter bar keeps the preset through its redirect
    r = web.get("/traces?fc=&fo=%3D&fv=&range=7d", follow_redirects=False)
    assert r.status_code == 303 and "range=7d" in r.headers["location"]


def test_empty_project_shows_how_to_send_the_first_trace(web: TestClient) -> None:
    page = web.get("/traces").text
    assert "Send your first trace" in page and "/v1/traces" in page
    assert "heron keys create" in page
    filtered = web.get("/traces?user_id=nobody").text
    assert "No traces match." in filtered and "Send your first trace" not in filtered


def test_a_chain_of_thousands_of_spans_reads_and_renders(web: TestClient) -> None:
    """Nesting stops at MAX_TREE_DEPTH: a 2,000-span parent chain (an agent recursing, or a
    hostile client) was a 500 from the API (the response could not be serialised) and the
    page; now every span is in the tree and both answer."""
    from heron.store.reads import MAX_TREE_DEPTH

    tid, parent, spans = new_trace_id(), None, []
    for i in range(2000):
        sid = new_span_id()
        spans.append(span(tid, sid, f"step-{i}", parent=parent, start_ns=T0_NS + i * 1000))
        parent = sid
    ingest(web, spans)
    r = web.get(f"/api/traces/{tid.hex()}", headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert r.status_code == 200, r.text[:300]
    seen, depth, node = [], 0, {"children": r.json()["observations"]}
    while node["children"]:
        depth += 1
        todo = list(node["children"])
        seen += todo
        node = todo[0]
    # MAX_TREE_DEPTH nested levels, then the rest listed flat, in order, under the deepest
    # one, each keeping its real parent
    assert depth == MAX_TREE_DEPTH + 1
    assert len(seen) == 2000 and [o["name"] for o in seen] == [f"step-{i}" for i in range(2000)]
    assert all(o["parent_id"] == p["id"] for p, o in pairwise(seen))
    page = web.get(f"/traces/{tid.hex()}")
    assert page.status_code == 200 and "step-1999" in page.text


def test_the_total_count_is_exact_under_filters_and_pages(
    web: TestClient, seeded: dict[str, str]
) -> None:
    assert "1\u20132 of 2" in web.get("/traces?user_id=u1").text
    assert "0 of 0" in web.get("/traces?user_id=nobody").text
    first = web.get("/traces?limit=2")
    assert "1\u20132 of 5" in first.text
    nxt = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert nxt
    second = web.get(html.unescape(nxt.group(1)))
    assert "3\u20134 of 5" in second.text
    assert len(trace_ids(second.text)) == 2
    # a text search is not counted (it costs as much as the list): the rows' numbers only
    searched = web.get("/traces?search=REFUND")
    assert "1\u20131" in searched.text and " of " not in searched.text.split("data-count>")[1][:20]
