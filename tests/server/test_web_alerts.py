"""The alert pages in process: the list with states, the editor (create through the form,
problems with paths above the kept text, backtest on planted data before saving, delete),
the history, escaping, project scoping, and what a viewer may do."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from fastapi.testclient import TestClient

from heron.evals.spec import Problems
from heron.server.app import create_app
from heron.settings import Settings
from heron.signals.alert_task import AlertTask
from heron.signals.alerts import check_alert
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_evaluators import _invite_to
from tests.server.test_web_settings import _join
from tests.support.alert_data import add_traces

T0 = datetime(2026, 11, 2, 0, 0)
MIN = timedelta(minutes=1)
SLOW = """\
name: slow-answers
query:
  view: traces
  metric: {measure: latency, aggregation: p50}
window: 1m
every: 1m
condition: {operator: '>', warning: 2000, alert: 5000}
"""
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings: Settings = make_settings(
        tmp_path_factory.mktemp("web-alerts"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture
def pid(app_client: TestClient, request: pytest.FixtureRequest) -> str:
    store = store_of(app_client)
    name = f"{request.node.originalname}-{secrets.token_hex(3)}"
    return store.create_project(name, store.user_by_email(ADMIN)["id"])["id"]


@pytest.fixture
def web(app_client: TestClient, pid: str) -> TestClient:
    return app_client


def post(c: TestClient, pid: str, path: str, **data: str) -> Any:
    csrf = csrf_of(c.get(f"/alerts/new?project={pid}").text)
    return c.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf},
                  follow_redirects=False)  # fmt: skip


def textarea(page_html: str) -> str:
    found = re.search(r'<textarea id="definition" name="definition"[^>]*>(.*?)</textarea>',
                      page_html, re.S)  # fmt: skip
    assert found, page_html
    return html.unescape(found.group(1))


def problems_of(page_html: str) -> str:
    return page_html.split('role="alert"', 1)[1].split("</div>", 1)[0]


def plant(c: TestClient, pid: str, start: datetime) -> None:
    """Two hours of traces every minute at 1 s; 8 s during 10 minutes from 30 and 15 minutes
    from 80 (two episodes)."""
    slow = {i for i in range(30, 40)} | {i for i in range(80, 95)}
    times = [start + i * MIN + timedelta(seconds=5) for i in range(120)]
    store = store_of(c)
    add_traces(store, [t for i, t in enumerate(times) if i not in slow], project=pid)
    add_traces(store, [t for i, t in enumerate(times) if i in slow], project=pid,
               latency_ms=8000)  # fmt: skip


def test_create_through_the_form_then_list_edit_and_delete(web: TestClient, pid: str) -> None:
    new = web.get(f"/alerts/new?project={pid}")
    assert new.status_code == 200 and "Create alert" in new.text
    starter = textarea(new.text)
    assert "condition" in starter and "window" in starter
    r = post(web, pid, "/alerts", definition=SLOW, editing="")
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/alerts/slow-answers?")
    stored = store_of(web).get_alert(pid, "slow-answers")
    assert stored["spec"]["condition"] == {"operator": ">", "warning": 2000.0, "alert": 5000.0}
    page = web.get(r.headers["location"]).text
    assert "Saved (created)" in page and "Delete" in page and "Not evaluated yet" in page
    assert "slow-answers" in textarea(page) and "5000" in textarea(page)
    # a second alert with the same name is refused, the text kept
    again = post(web, pid, "/alerts", definition=SLOW, editing="")
    assert again.status_code == 400 and "an alert named slow-answers exists" in again.text
    # the list: state badge, metric, window / every; linked from the issues inbox
    listed = web.get(f"/alerts?project={pid}").text
    assert 'href="/alerts/slow-answers?project=' in listed and "not evaluated" in listed
    assert "p50(latency) of traces" in listed and "1m / 1m" in listed and "New alert" in listed
    assert f'href="/alerts?project={pid}"' in web.get(f"/issues?project={pid}").text
    # edited: the same name, a new threshold
    edited = SLOW.replace("alert: 5000", "alert: 6000")
    r = post(web, pid, "/alerts", definition=edited, editing="slow-answers")
    assert r.status_code == 303
    assert store_of(web).get_alert(pid, "slow-answers")["spec"]["condition"]["alert"] == 6000.0
    renamed = post(web, pid, "/alerts", definition=edited.replace("slow-answers", "x"),
                   editing="slow-answers")  # fmt: skip
    assert renamed.status_code == 400 and "this page edits slow-answers" in renamed.text
    # deleted
    r = post(web, pid, "/alerts/slow-answers/delete")
    assert r.status_code == 303 and store_of(web).get_alert(pid, "slow-answers") is None
    assert web.get(f"/alerts/slow-answers?project={pid}").status_code == 404
    assert post(web, pid, "/alerts/slow-answers/delete").status_code == 404


def test_history_and_list_after_evaluations(web: TestClient, pid: str) -> None:
    five = SLOW.replace("window: 1m", "window: 5m")
    assert post(web, pid, "/alerts", definition=five, editing="").status_code == 303
    add_traces(store_of(web), [T0 - 2 * MIN] * 3, project=pid, latency_ms=6000)
    task = AlertTask()
    task.bind(store_of(web))
    task.run(T0 + MIN)
    task.run(T0 + 2 * MIN)
    page = web.get(f"/alerts/slow-answers?project={pid}").text
    history = page.split('class="alert-history"', 1)[1]
    assert history.count('<span class="badge bad">ALERT</span>') == 2
    assert "6000" in history
    first, second = re.findall(r'datetime="([^"]+)"', history)[:2]
    assert first > second  # newest first
    listed = web.get(f"/alerts?project={pid}").text
    assert '<span class="badge bad">ALERT</span>' in listed and "6000" in listed


def test_backtest_shows_planted_episodes_without_saving(web: TestClient, pid: str) -> None:
    plant(web, pid, T0)
    r = post(web, pid, "/alerts/backtest", definition=SLOW, editing="",
             **{"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T02:00:00Z"})  # fmt: skip
    assert r.status_code == 200, r.text
    section = r.text.split('id="backtest"', 1)[1]
    assert "2 firing episodes" in section
    assert section.count('<tr class="episode">') == 2
    assert "ALERT 25" in section  # 10 + 15 firing minutes
    chart = re.search(r'id="alert-chart-data">(.*?)</script>', r.text, re.S)
    assert chart and (
        '"episodes":[{"start":"2026-11-02 00:31:00.000000","end":"2026-11-02 00:41:00.000000"},'
        '{"start":"2026-11-02 01:21:00.000000","end":"2026-11-02 01:36:00.000000"}]'
    ) in chart.group(1)
    assert '"condition":{"operator":"\\u003e"' in chart.group(1)
    assert "plotly" in r.text and "/static/alerts.js" in r.text
    assert textarea(r.text) == SLOW  # the text kept
    assert store_of(web).list_alerts(pid) == []
    # an anomaly alert: the band is in the chart's data
    anomaly = SLOW.replace("condition: {operator: '>', warning: 2000, alert: 5000}",
                           "anomaly: {sensitivity: high}")  # fmt: skip
    r = post(web, pid, "/alerts/backtest", definition=anomaly, editing="",
             **{"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T02:00:00Z"})  # fmt: skip
    assert r.status_code == 200 and '"anomaly":true' in r.text and '"upper":[' in r.text
    assert store_of(web).list_alerts(pid) == []


def test_backtest_defaults_to_the_last_seven_days(web: TestClient, pid: str) -> None:
    start = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=3)
    plant(web, pid, start)
    r = post(web, pid, "/alerts/backtest", definition=SLOW, editing="")
    assert r.status_code == 200, r.text
    assert "2 firing episodes" in r.text and 'id="alert-chart-data"' in r.text
    week = re.search(r'name="from" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert datetime.fromisoformat(week) < datetime.now(UTC) - timedelta(days=6, hours=23)


def test_problems_are_listed_with_their_paths_above_the_kept_text(
    web: TestClient, pid: str
) -> None:
    bad = SLOW.replace("latency", "lateness").replace("every: 1m", "every: 5s") + "notify: [ops]\n"
    r = post(web, pid, "/alerts", definition=bad, editing="")
    assert r.status_code == 400
    shown = problems_of(r.text)
    assert "<code>$.query.metric.measure</code>" in shown
    assert "<code>$.every</code>" in shown and "<code>$.notify[0]</code>" in shown
    assert textarea(r.text) == bad
    r = post(web, pid, "/alerts", definition="name: [unclosed", editing="")
    assert r.status_code == 400 and "not valid YAML" in problems_of(r.text)
    r = post(web, pid, "/alerts/backtest", definition=SLOW, editing="",
             **{"from": "2026-11-02T02:00:00Z", "to": "2026-11-02T00:00:00Z"})  # fmt: skip
    assert r.status_code == 400 and "must be before to" in problems_of(r.text)
    r = post(web, pid, "/alerts/backtest", definition=SLOW, editing="",
             **{"from": "yesterday-ish", "to": "2026-11-02T00:00:00Z"})  # fmt: skip
    assert r.status_code == 400 and "from" in problems_of(r.text)
    often = SLOW.replace("every: 1m", "every: 30s")
    r = post(web, pid, "/alerts/backtest", definition=often, editing="",
             **{"from": "2026-01-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"})  # fmt: skip
    assert r.status_code == 400 and "at most" in problems_of(r.text)
    assert store_of(web).list_alerts(pid) == []


def test_hostile_names_and_filter_values_are_escaped(web: TestClient, pid: str) -> None:
    raw = {
        "name": "evil",
        "query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p50"},
                  "filters": [{"column": "name", "operator": "=", "value": HOSTILE}]},
        "window": "5m", "every": "1m", "description": HOSTILE,
        "condition": {"operator": ">", "alert": 1},
    }  # fmt: skip
    problems = Problems()
    name, spec = check_alert(raw, "$", problems, channels=set())
    assert spec is not None, problems.items
    store_of(web).put_alert(pid, name, spec)
    for path in (f"/alerts?project={pid}", f"/alerts/evil?project={pid}"):
        page = web.get(path).text
        assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    # a hostile name in the definition comes back escaped with its problem
    r = post(web, pid, "/alerts", definition=SLOW.replace("slow-answers", HOSTILE), editing="")
    assert r.status_code == 400 and HOSTILE not in r.text and "$.name" in problems_of(r.text)
    # and in a path (no slash: the page's own 404)
    name = '"><img src=x onerror=alert(1)>'
    r = web.get(f"/alerts/{quote(name, safe='')}?project={pid}")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "<img" not in r.text and "&lt;img" in r.text


def test_viewer_sees_no_buttons_and_forged_posts_get_403(web: TestClient, pid: str) -> None:
    assert post(web, pid, "/alerts", definition=SLOW, editing="").status_code == 303
    viewer = _join(web, _invite_to(web, pid, "viewer"), f"viewer-{pid}@heron.test")
    listed = viewer.get(f"/alerts?project={pid}").text
    assert "slow-answers" in listed and "New alert" not in listed
    page = viewer.get(f"/alerts/slow-answers?project={pid}").text
    assert "slow-answers" in textarea(page) and "readonly" in page
    for button in (">Save<", ">Delete<", ">Backtest<", "Create alert"):
        assert button not in page, button
    assert viewer.get(f"/alerts/new?project={pid}").status_code == 403
    csrf = csrf_of(viewer.get(f"/settings/members?project={pid}").text)
    for path, data in (
        ("/alerts", {"definition": SLOW.replace("slow-answers", "x"), "editing": ""}),
        ("/alerts", {"definition": SLOW, "editing": "slow-answers"}),
        ("/alerts/backtest", {"definition": SLOW}),
        ("/alerts/slow-answers/delete", {}),
    ):
        r = viewer.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf})
        assert r.status_code == 403 and "Your role (viewer)" in r.text, path
    assert [a["name"] for a in store_of(web).list_alerts(pid)] == ["slow-answers"]


def test_another_projects_alerts_are_invisible(web: TestClient, pid: str) -> None:
    assert post(web, pid, "/alerts", definition=SLOW, editing="").status_code == 303
    store = store_of(web)
    other = store.create_project(f"{pid}-secret")["id"]
    problems = Problems()
    _, spec = check_alert({**yaml.safe_load(SLOW), "name": "secret-alert"}, "$",
                          problems, channels=set())  # fmt: skip
    assert spec is not None
    store.put_alert(other, "secret-alert", spec)
    listed = web.get(f"/alerts?project={pid}").text
    assert "slow-answers" in listed and "secret-alert" not in listed
    assert web.get(f"/alerts/secret-alert?project={pid}").status_code == 404
    assert post(web, pid, "/alerts/secret-alert/delete").status_code == 404
    edit = post(web, pid, "/alerts", definition=SLOW.replace("slow-answers", "secret-alert"),
                editing="secret-alert")  # fmt: skip
    assert edit.status_code == 404
    assert store.get_alert(other, "secret-alert") is not None
    member = _join(web, _invite_to(web, pid, "member"), f"member-{pid}@heron.test")
    assert member.get(f"/alerts?project={other}").status_code == 404
    assert member.get(f"/alerts/secret-alert?project={other}").status_code == 404
