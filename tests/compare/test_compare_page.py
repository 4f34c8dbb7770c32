"""The /compare page, in process: the URL change markers link to, the field form, cohort links
to the traces page, errors shown on the page, escaping and project scoping."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlparse

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.compare.conftest import Demo
from tests.compare.test_compare_api import VERDICTS
from tests.server.test_web_auth import ADMIN, PASSWORD, login


@pytest.fixture
def web(demo: Demo) -> TestClient:
    c = demo.client
    if c.cookies.get("heron_session") is None:
        assert login(c, ADMIN, PASSWORD).status_code in (302, 303)
    return c


def rows(page: str) -> dict[str, str]:
    found = re.findall(r'<tr class="verdict-(\w+)" data-metric="([^"]+)"', page)
    return {html.unescape(metric): verdict for verdict, metric in found}


def test_baseline_and_candidate_suggest_the_columns_values(web: TestClient) -> None:
    r = web.get("/compare?field=release&baseline=v1.4.0&candidate=v1.5.0")
    assert r.status_code == 200, r.text
    assert 'id="baseline" name="baseline" value="v1.4.0" list="compare-values-release"' in r.text
    listed = re.search(r'<datalist id="compare-values-release">(.*?)</datalist>', r.text, re.S)
    # the values among the project's newest traces
    assert listed and 'value="v1.5.0"' in listed.group(1) and 'value="v1.6.0"' in listed.group(1)


def test_change_marker_url_compares_before_and_after(web: TestClient, demo: Demo) -> None:
    r = web.get("/compare?at=2025-10-08T20:53:20Z&days=0.5")
    assert r.status_code == 200, r.text
    found = rows(r.text)
    assert {"count", "p50_latency", "error_rate", "scores.user_feedback"} <= set(found)
    assert set(found.values()) <= set(VERDICTS)
    # the windows as times the viewer's-zone script converts (UTC, named, without it)
    assert '<time datetime="2025-10-08T08:53:20.000Z"' in r.text
    assert '<time datetime="2025-10-09T08:53:20.000Z"' in r.text
    links = [html.unescape(h) for h in re.findall(r'class="cohort-link" href="([^"]+)"', r.text)]
    assert len(links) == 2
    filters = orjson.loads(parse_qs(urlparse(links[1]).query)["filter"][0])
    assert {"column": "start_time", "operator": ">=", "value": "2025-10-08T20:53:20Z"} in filters
    listed = web.get(links[1])
    assert listed.status_code == 200 and "support-chat" in listed.text


def test_field_form_compares_prompt_versions(web: TestClient) -> None:
    chat = '[{"column": "name", "operator": "=", "value": "support-chat"}]'
    params = {"field": "prompt_version", "baseline": "3", "candidate": "4", "filter": chat}
    r = web.get("/compare", params=params)
    assert r.status_code == 200, r.text
    found = rows(r.text)
    assert found["p50_latency"] == "better" and found["scores.user_feedback"] == "better"
    assert 'value="prompt_version"' in r.text  # the form keeps what was asked
    assert '<span class="verdict verdict-better"' in r.text


def test_without_parameters_the_page_shows_the_form(web: TestClient) -> None:
    r = web.get("/compare")
    assert r.status_code == 200
    assert '<form class="compare-form' in r.text and "compare-table" not in r.text


def test_bad_parameters_are_a_400_page_naming_them(web: TestClient) -> None:
    r = web.get("/compare?at=whenever")
    assert r.status_code == 400 and "at: expected an ISO 8601 time" in r.text
    r = web.get("/compare?at=2025-10-08T20:53:20Z&days=many")
    assert r.status_code == 400 and "days: expected a number" in r.text
    r = web.get("/compare", params={"field": "release", "baseline": "a", "filter": "[{"})
    assert r.status_code == 400 and "filter: invalid JSON" in r.text


def test_user_input_is_escaped(web: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    r = web.get("/compare", params={"field": "release", "baseline": evil, "candidate": "v1.5.0"})
    assert r.status_code == 200
    assert evil not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_pages_need_a_login_and_a_member_project(demo: Demo) -> None:
    anonymous = TestClient(demo.client.app)  # no `with`: the shared app keeps running
    r = anonymous.get("/compare?at=2025-10-08T20:53:20Z", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    r = demo.client.get("/compare?project=not-mine&at=2025-10-08T20:53:20Z")
    assert r.status_code == 404


def test_values_are_formatted_by_unit() -> None:
    from heron.server.web.compare import fmt

    assert fmt(-0.00004, "USD") == "-$0.00004" and fmt(0.0123, "USD") == "$0.0123"
    assert fmt(0.071, "share") == "7.1%" and fmt(1025, "count") == "1,025"
    assert fmt(None, "ms") == "\u2013"
    assert fmt(1643.4, "ms") == "1,643 ms" and fmt(12.5, "tokens") == "12.5 tokens"
    assert fmt(0.8, "score") == "0.8"
