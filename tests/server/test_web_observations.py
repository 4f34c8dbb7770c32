"""The observations page: the shared filter language over observations, columns, saved views
kept apart from the trace list's, paging."""

from __future__ import annotations

import html
import re

import orjson
from fastapi.testclient import TestClient

from tests.server.test_web_auth import csrf_of
from tests.server.test_web_traces import header_cells, ingest
from tests.support.otlp import genai_trace


def obs_rows(page: str) -> list[str]:
    return re.findall(r'<tr class="level-[a-z]+" data-href="[^"]+">(.*?)</tr>', page, re.S)


def test_the_list_shows_observations_and_filters_them(web: TestClient) -> None:
    _, spans = genai_trace(user="alice", model="gpt-4o-mini", n_children=2)
    _, more = genai_trace(user="bob", model="claude-3-haiku", n_children=1)
    ingest(web, [*spans, *more])
    r = web.get("/observations")
    assert r.status_code == 200
    assert len(obs_rows(r.text)) == 5  # two roots and three generations
    assert header_cells(r.text) == [
        "time", "type", "name", "model", "level", "latency", "tokens", "cost", "trace",
    ]  # fmt: skip
    assert '<a href="/observations" aria-current="page">Observations</a>' in r.text  # nav
    by_model = web.get("/observations", params={"model": "claude-3-haiku"})
    assert len(obs_rows(by_model.text)) == 1 and "claude-3-haiku" in by_model.text
    as_json = orjson.dumps([{"column": "type", "operator": "=", "value": "generation"}]).decode()
    gens = web.get("/observations", params={"filter": as_json})
    assert len(obs_rows(gens.text)) == 3
    assert "1,200" in gens.text  # 1000 + 200 tokens a generation
    # the filter bar's rows redirect to the filter JSON, with the chosen columns
    bar = [("fc", "model"), ("fo", "="), ("fv", "gpt-4o-mini"), ("col", "name"), ("col", "model")]
    moved = web.get("/observations", params=bar, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"].startswith("/observations?")
    shown = web.get(moved.headers["location"])
    assert header_cells(shown.text) == ["name", "model"] and len(obs_rows(shown.text)) == 2
    # a bad filter is a 400 page naming it
    bad = web.get("/observations", params={"filter": '[{"column":"nope","operator":"="}]'})
    assert bad.status_code == 400 and "nope" in bad.text
    # paging: the next link carries the cursor and the next first row's number
    first = web.get("/observations?limit=2")
    assert "1\u20132" in first.text
    nxt = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert nxt
    assert "3\u20134" in web.get(html.unescape(nxt.group(1))).text


def test_saved_views_of_observations_are_their_own(web: TestClient) -> None:
    _, spans = genai_trace(model="gpt-4o-mini", n_children=1)
    ingest(web, spans)
    page = web.get("/observations?model=gpt-4o-mini&cols=name,model").text
    token = csrf_of(page)
    saved = web.post(
        "/observations/views",
        data={"csrf_token": token, "name": "<b>gpt</b>", "query": "model=gpt-4o-mini&cols=name"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/observations?")
    listing = web.get("/observations").text
    assert "&lt;b&gt;gpt&lt;/b&gt;" in listing and "<b>gpt</b>" not in listing
    assert "&lt;b&gt;gpt&lt;/b&gt;" not in web.get("/traces").text  # not a trace view
    view_id = re.search(r'action="/observations/views/([0-9a-f]+)/delete', listing)
    assert view_id
    opened = web.get(f"/observations/views/{view_id.group(1)}", follow_redirects=False)
    assert opened.status_code == 303 and "model=gpt-4o-mini" in opened.headers["location"]
    assert web.get(f"/traces/views/{view_id.group(1)}").status_code == 404
    gone = web.post(
        f"/observations/views/{view_id.group(1)}/delete",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert "&lt;b&gt;gpt&lt;/b&gt;" not in web.get("/observations").text
