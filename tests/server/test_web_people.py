"""Sessions and users pages, in process: lists, pagination, the conversation view, 404s,
project isolation and hostile content."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from heron.server.app import create_app
from heron.server.web.people import chat_text
from heron.settings import Settings
from heron.store import ListQuery
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_auth import web_settings as web_settings
from tests.support.otlp import T0_NS, new_span_id, new_trace_id, request, span
from tests.support.server import CONSISTENT, SECRET_KEY

S = 1_000_000_000  # ns per second


def esc(text: str) -> str:
    """As the templates escape it."""
    return str(escape(text))


XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)"]


def send(c: TestClient, turns: list[dict[str, Any]], key: str = SECRET_KEY) -> None:
    """One trace per turn: a root span with user, session, input and output attributes."""
    spans = []
    for t in turns:
        attributes: dict[str, Any] = {}
        for name, attr in (("user", "user.id"), ("session", "session.id")):
            if t.get(name) is not None:
                attributes[attr] = t[name]
        for name, attr in (("input", "input.value"), ("output", "output.value")):
            if t.get(name) is not None:
                value = t[name]
                attributes[attr] = value if isinstance(value, str) else json.dumps(value)
        spans.append(
            span(
                new_trace_id(),
                new_span_id(),
                t.get("name", "chat"),
                start_ns=T0_NS + int(t.get("at", 0) * S),
                duration_ms=t.get("ms", 1200),
                attributes=attributes,
                error=t.get("error"),
            )
        )
    r = c.post(
        "/v1/traces",
        content=request(spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text


CONVERSATION = [
    {"user": "alice", "session": "s-alpha", "at": 0, "input": "first question",
     "output": "first answer"},
    {"user": "alice", "session": "s-alpha", "at": 10, "error": "rate limited",
     "input": [{"role": "user", "parts": [{"type": "text", "content": "second question"}]}],
     "output": [{"role": "assistant", "parts": [{"type": "text", "content": "second answer"}]}]},
    {"user": "alice", "session": "s-alpha", "at": 20,
     "input": {"messages": [{"role": "system", "content": "be brief"},
                            {"role": "user", "content": "earlier question"},
                            {"role": "assistant", "content": "earlier answer"},
                            {"role": "user",
                             "content": [{"type": "text", "text": "third question"}]}]},
     "output": {"role": "assistant", "content": "third answer"}},
    {"user": "bob", "session": "s-beta", "at": 30, "input": {"foo": [1, 2], "bar": "opaque"},
     "output": {"weird": True}},
    {"user": "carol", "at": 40, "input": "no session here", "output": "ok"},
]  # fmt: skip


@pytest.fixture
def web(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), headers=CONSISTENT) as c:
        login(c, ADMIN, PASSWORD)
        yield c


@pytest.fixture
def chat(web: TestClient) -> TestClient:
    send(web, CONVERSATION)
    return web


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """``chat``, shared by the tests that only read the conversation (an app and a login cost
    most of a second a test)."""
    settings = make_settings(
        tmp_path_factory.mktemp("people"), init_admin_email=ADMIN, init_admin_password=PASSWORD
    )
    with TestClient(create_app(settings), headers=CONSISTENT) as c:
        login(c, ADMIN, PASSWORD)
        send(c, CONVERSATION)
        yield c


def rows(page_html: str) -> list[str]:
    return re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", page_html, re.S)


def test_sessions_list_shows_counts_users_and_errors(talk: TestClient) -> None:
    r = talk.get("/sessions")
    assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
    found = rows(r.text)
    assert len(found) == 2  # carol's trace has no session
    beta, alpha = found  # most recently active first
    assert 'href="/sessions/s-beta"' in beta and 'href="/users/bob"' in beta
    assert 'href="/sessions/s-alpha"' in alpha and 'href="/users/alice"' in alpha
    cells = re.findall(r"<td[^>]*>(.*?)</td>", alpha, re.S)
    # times in UTC, named, with the machine-readable instant for the viewer's-zone script
    assert cells[1] == (
        '<time datetime="2025-10-09T08:53:20.000Z" title="2025-10-09 08:53:20 UTC">'
        "2025-10-09 08:53:20 UTC</time>"
    )
    assert ">2025-10-09 08:53:41 UTC</time>" in cells[2]
    assert cells[3] == "3"  # turns
    assert '<span class="badge-error">1</span>' in alpha
    assert '<tr class="has-errors">' in r.text and "badge-error" not in beta


def test_sessions_list_filters_by_user_and_search(talk: TestClient) -> None:
    only_bob = talk.get("/sessions?user_id=bob").text
    assert "s-beta" in only_bob and "/sessions/s-alpha" not in only_bob
    assert 'value="bob"' in only_bob  # the filter is kept in the form
    searched = talk.get("/sessions", params={"search": "THIRD answer"}).text
    assert "/sessions/s-alpha" in searched and "/sessions/s-beta" not in searched
    assert "match these filters" in talk.get("/sessions?search=nowhere-to-be-found").text


def test_sessions_and_users_lists_paginate(web: TestClient) -> None:
    send(web, [{"user": f"u{i:02d}", "session": f"p{i:02d}", "at": i} for i in range(30)])
    first = web.get("/sessions").text
    assert len(rows(first)) == 25
    assert "/sessions/p29" in first and "/sessions/p05" in first and "/sessions/p04" not in first
    next_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    assert next_url.startswith("/sessions?cursor=")
    second = web.get(next_url).text
    assert len(rows(second)) == 5 and "/sessions/p04" in second and "/sessions/p05" not in second
    assert 'rel="next"' not in second and 'href="/sessions">First page' in second

    users = web.get("/users").text
    assert len(rows(users)) == 25
    more = html.unescape(re.search(r'href="([^"]+)" rel="next"', users).group(1))
    assert len(rows(web.get(more).text)) == 5

    filtered = web.get("/sessions?user_id=u03").text
    assert len(rows(filtered)) == 1 and "/sessions/p03" in filtered
    assert web.get("/sessions?cursor=garbage").status_code == 400

    send(web, [{"user": "a/b", "session": f"m{i:02d}", "at": 100 + i} for i in range(27)])
    mine = web.get("/users/a%2Fb").text
    assert len(rows(mine)) == 25 and 'href="/traces?user_id=a%2Fb"' in mine
    more = html.unescape(re.search(r'href="([^"]+)" rel="next"', mine).group(1))
    assert more.startswith("/users/a%2Fb?cursor=")
    rest = web.get(more).text
    assert len(rows(rest)) == 2 and "/sessions/m01" in rest and "/sessions/m00" in rest


def test_session_page_shows_the_conversation_turn_by_turn(talk: TestClient) -> None:
    r = talk.get("/sessions/s-alpha")
    assert r.status_code == 200
    text = r.text
    order = [
        text.index(s)
        for s in (
            "first question",
            "first answer",
            "second question",
            "second answer",
            "third question",
            "third answer",
        )
    ]
    assert order == sorted(order)
    assert "earlier question" not in text.split("Raw input")[0]  # the last user message only
    assert text.count('class="bubble user"') == 3 and text.count('class="bubble assistant"') == 3
    assert text.count("Turn ") >= 3 and 'href="/users/alice"' in text
    turns = re.findall(r'<li class="turn([^"]*)" data-trace-id="([0-9a-f]+)"', text)
    assert len(turns) == 3 and [t[0] for t in turns] == ["", " has-errors", ""]
    for _, trace_id in turns:
        assert f'href="/traces/{trace_id}"' in text
    assert "1 error<" in text and "1.20 s" in text


def test_unrecognised_content_is_shown_as_json(talk: TestClient) -> None:
    text = talk.get("/sessions/s-beta").text
    assert "Input (JSON)" in text and "Output (JSON)" in text
    assert '<span class="jv-key">foo</span>: ' in text and 'class="bubble' not in text  # JSON tree


def test_chat_text_reads_the_common_shapes() -> None:
    assert chat_text("plain", "user") == "plain"
    genai = [
        {"role": "user", "parts": [{"type": "text", "content": "a"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "b"}]},
    ]
    assert chat_text(genai, "user") == "a" and chat_text(genai, "assistant") == "b"
    openai = {"choices": [{"message": {"role": "assistant", "content": "c"}}]}
    assert chat_text(openai, "assistant") == "c"
    assert chat_text({"question": "q"}, "user") == "q"
    assert chat_text({"answer": "x"}, "assistant") == "x"
    assert chat_text({"foo": 1}, "user") is None
    assert chat_text([{"role": "system", "content": "s"}], "user") is None
    assert chat_text(None, "user") is None


def test_users_list_and_search(talk: TestClient) -> None:
    r = talk.get("/users")
    found = rows(r.text)
    assert [re.search(r'href="/users/(\w+)"', row).group(1) for row in found] == [
        "carol",
        "bob",
        "alice",
    ]
    alice = re.findall(r"<td[^>]*>(.*?)</td>", found[2], re.S)
    assert alice[1:3] == ["3", "1"]  # traces, sessions
    assert '<span class="badge-error">1</span>' in found[2]
    searched = talk.get("/users?search=LIC").text
    assert len(rows(searched)) == 1 and "/users/alice" in searched
    assert 'value="LIC"' in searched
    assert "No users match" in talk.get("/users?search=zzz").text


def test_user_page_lists_their_sessions_and_links_to_traces(talk: TestClient) -> None:
    r = talk.get("/users/alice")
    assert r.status_code == 200
    assert 'href="/sessions/s-alpha"' in r.text and "s-beta" not in r.text
    assert 'href="/traces?user_id=alice"' in r.text
    assert len(rows(r.text)) == 1
    carol = talk.get("/users/carol").text
    assert "carry no session id" in carol


def test_unknown_session_or_user_is_a_404_page(talk: TestClient) -> None:
    for path in ("/sessions/nope", "/users/nope"):
        r = talk.get(path)
        assert r.status_code == 404 and "Not found" in r.text and "<h1>404</h1>" in r.text


def test_another_projects_sessions_and_users_are_never_visible(chat: TestClient) -> None:
    store = store_of(chat)
    test_project = store.project_by_name("test")
    other = store.create_project("other")
    key = store.create_key(other["id"])["secret_key"]
    send(chat, [{"user": "secret-user", "session": "secret-session", "input": "hush"}], key=key)
    store.create_user("member@heron.test", "member-password", project_ids=[test_project["id"]])

    # the admin, in project "test", sees nothing of "other" ...
    assert "secret" not in chat.get("/sessions").text and "secret" not in chat.get("/users").text
    assert chat.get("/sessions/secret-session").status_code == 404
    assert chat.get("/users/secret-user").status_code == 404
    # ... until they switch to it (they are a member of every project)
    there = chat.get(f"/sessions/secret-session?project={other['id']}")
    assert there.status_code == 200 and "hush" in there.text
    assert "/sessions/s-alpha" not in chat.get("/sessions").text  # "other" is remembered

    chat.cookies.clear()
    login(chat, "member@heron.test", "member-password")
    assert "secret" not in chat.get("/sessions").text and "s-alpha" in chat.get("/sessions").text
    for path in ("/sessions/secret-session", "/users/secret-user", "/users/alice"):
        asked = chat.get(path, params={"project": other["id"]})
        assert asked.status_code == 404 and "hush" not in asked.text
    assert chat.get("/sessions/secret-session").status_code == 404
    assert chat.get("/users/secret-user").status_code == 404
    assert chat.get("/users/alice").status_code == 200


def test_pages_need_a_login(web_settings: Settings) -> None:
    with TestClient(create_app(web_settings)) as c:
        for path in ("/sessions", "/sessions/x", "/users", "/users/x"):
            assert c.get(path).url.path == "/login"


def test_hostile_ids_and_content_are_escaped_and_url_encoded(web: TestClient) -> None:
    hostile = " ".join(XSS)
    bad_user = "<script>alert(1)</script>&x=1"
    bad_session = '"><img src=x onerror=alert(1)>/../javascript:alert(1)'
    send(
        web,
        [
            {"user": bad_user, "session": bad_session, "at": 0, "input": hostile,
             "output": [{"role": "assistant", "content": hostile}], "name": XSS[0]},
            {"user": bad_user, "session": bad_session, "at": 5,
             "input": {"payload": XSS}, "output": {"html": XSS[1]}},
        ],
    )  # fmt: skip
    escaped = [esc(x) for x in XSS]
    pages = {
        "/sessions": web.get("/sessions"),
        "/users": web.get("/users"),
        "session": web.get("/sessions/" + quote(bad_session, safe="")),
        "user": web.get("/users/" + quote(bad_user, safe="")),
    }
    for name, r in pages.items():
        assert r.status_code == 200, (name, r.text)
        for raw in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"):
            assert raw not in r.text, name
        assert 'href="javascript:' not in r.text, name
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
    session_page = pages["session"].text
    for e in escaped:
        assert e in session_page
    assert esc(bad_session) in session_page
    assert esc(bad_user) in pages["user"].text
    # links carry the ids URL-encoded
    enc_session = quote(bad_session, safe="")
    enc_user = quote(bad_user, safe="")
    assert f'href="/sessions/{esc(enc_session)}"' in pages["/sessions"].text
    assert f'href="/users/{esc(enc_user)}"' in pages["/users"].text
    assert f'href="/users/{esc(enc_user)}"' in session_page
    assert f'href="/sessions/{esc(enc_session)}"' in pages["user"].text
    traces_link = re.search(r'class="traces-link" href="([^"]+)"', pages["user"].text).group(1)
    assert traces_link == "/traces?user_id=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%26x%3D1"
    # filters echoed into the form are escaped too
    echoed = web.get("/sessions", params={"user_id": XSS[1], "search": XSS[0]}).text
    assert XSS[0] not in echoed and XSS[1] not in echoed and escaped[1] in echoed
    assert XSS[0] not in web.get("/users", params={"search": XSS[0]}).text
    assert csrf_of(echoed)  # still a normal page


def test_demo_sessions_read_as_conversations(web: TestClient) -> None:
    from heron.demo import generate
    from heron.demo.model import DemoConfig

    for req in generate(DemoConfig(traces=60, end_us=T0_NS // 1000, seed=5)):
        r = web.post(
            "/v1/traces",
            content=req.SerializeToString(),
            headers={
                "Content-Type": "application/x-protobuf",
                "Authorization": f"Bearer {SECRET_KEY}",
            },
        )
        assert r.status_code == 200
    listed = web.get("/sessions").text
    ids = re.findall(r'href="/sessions/([^"?]+)"', listed)
    assert ids
    for session_id in ids[:5]:
        text = web.get(f"/sessions/{session_id}").text
        assert 'class="bubble user"' in text and 'class="bubble assistant"' in text
        assert "$0.00" in text and " tokens</span>" in text
    users = web.get("/users").text
    user_id = re.search(r'href="/users/([^"?]+)"', users).group(1)
    assert "/sessions/" in web.get(f"/users/{user_id}").text


def _ids(page_html: str, kind: str) -> list[str]:
    return re.findall(rf'<td><a class="mono" href="/{kind}/([^"]+)">', page_html)


def test_sessions_and_users_sort_on_the_server(talk: TestClient) -> None:
    assert _ids(talk.get("/sessions").text, "sessions") == ["s-beta", "s-alpha"]
    assert _ids(talk.get("/sessions?sort=traces.desc").text, "sessions") == ["s-alpha", "s-beta"]
    assert _ids(talk.get("/sessions?sort=traces.asc").text, "sessions") == ["s-beta", "s-alpha"]
    assert _ids(talk.get("/sessions?sort=last_seen.asc").text, "sessions") == ["s-alpha", "s-beta"]
    assert _ids(talk.get("/users").text, "users") == ["carol", "bob", "alice"]
    assert _ids(talk.get("/users?sort=traces.desc").text, "users")[0] == "alice"
    assert _ids(talk.get("/users?sort=first_seen.asc").text, "users") == ["alice", "bob", "carol"]
    assert _ids(talk.get("/users?sort=errors.desc").text, "users")[0] == "alice"
    # the header links sort (and reverse the active column), keeping the other parameters
    page = talk.get("/users?sort=traces.desc&search=a").text
    assert 'href="/users?search=a&amp;sort=traces.asc"' in page
    assert 'aria-sort="descending"' in page


def test_a_bad_sort_or_range_is_a_400_page_naming_it(talk: TestClient) -> None:
    for url in (
        "/sessions?sort=nope.desc",
        "/users?sort=cost.sideways",
        "/users?sort=user_id); DROP TABLE traces; --",
        "/sessions?range=forever",
    ):
        r = talk.get(url)
        assert r.status_code == 400, url
        assert ("sort:" in r.text or "range:" in r.text) and "text/html" in r.headers[
            "content-type"
        ]
    assert talk.get("/users").status_code == 200  # the table is still there


def test_a_time_range_narrows_sessions_and_users(chat: TestClient) -> None:
    # the conversation is from 2025-10-09: older than any preset range
    assert _ids(chat.get("/sessions?range=30d").text, "sessions") == []
    assert _ids(chat.get("/users?range=7d").text, "users") == []
    assert 'value="30d" selected' in chat.get("/sessions?range=30d").text
    send(chat, [{"user": "dave", "session": "s-now", "at": 0}])  # T0 again: still old
    assert len(_ids(chat.get("/users").text, "users")) == 4


def test_score_averages_are_columns_of_sessions_and_users(chat: TestClient) -> None:
    chat.get("/traces")  # a consistent read: every sent trace is stored
    store = store_of(chat)
    pid = store.list_projects()[0]["id"]
    trace_ids = [t["id"] for t in store.list_traces(pid, ListQuery(limit=10)).data]
    users = {t["id"]: t["user_id"] for t in store.list_traces(pid, ListQuery(limit=10)).data}
    alice = [t for t in trace_ids if users[t] == "alice"]
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    for trace_id, value in ((alice[0], 0.5), (alice[1], 1.0)):
        body = {"traceId": trace_id, "name": "quality", "value": value}
        assert chat.post("/api/scores", json=body, headers=auth).status_code == 201
    r = chat.get("/users")
    assert '<th class="num col-score" title="average score">quality</th>' in r.text
    alice_row = next(row for row in rows(r.text) if 'href="/users/alice"' in row)
    assert '<td class="num">0.75</td>' in alice_row
    assert '<td class="num">0.75</td>' in chat.get("/sessions").text


def test_the_user_page_draws_cost_and_score_per_day(web: TestClient) -> None:
    import time

    now_at = (time.time_ns() - T0_NS) / S
    send(web, [{"user": "erin", "session": "s-e", "at": now_at - 3600, "input": "hi"}])
    send(web, [{"user": "erin", "session": "s-e", "at": now_at - 5 * 86_400, "input": "hi"}])
    web.get("/traces")  # a consistent read: every sent trace is stored
    store = store_of(web)
    pid = store.list_projects()[0]["id"]
    traces = store.list_traces(pid, ListQuery(limit=10)).data
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    for t, value in zip(traces, (0.25, 0.75), strict=True):
        body = {"traceId": t["id"], "name": "helpful", "value": value}
        assert web.post("/api/scores", json=body, headers=auth).status_code == 201
    page = web.get("/users/erin").text
    lines = re.findall(r'<polyline points="([^"]*)">', page)
    assert len(lines) == 2  # cost, and one score
    assert len(lines[0].split()) == 30  # a cost for every day (0 without traces)
    assert len(lines[1].split()) == 2  # the two days with a score
    assert 'aria-label="helpful per day"' in page
    assert "last 0.25" in page  # the newest day's average (the newest trace scored 0.25)
