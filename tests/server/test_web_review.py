"""The Review hub: one header entry for issues, alerts, annotation queues and error
analyses, with what waits in each for the selected project only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, login, store_of


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(
        Path(tmp_path_factory.mktemp("review")),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
    )
    with TestClient(create_app(settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_review_counts_what_waits_in_this_project_only(web: TestClient) -> None:
    store = store_of(web)
    pid = store.project_by_name("test")["id"]
    other = store.create_project("elsewhere")["id"]
    for project, n in ((pid, 3), (other, 7)):
        q = store.create_annotation_queue(project, {"name": "q", "score_config_ids": ["c"]})
        store.add_queue_items(project, q["id"], [("TRACE", f"t{i}") for i in range(n)])
    text = _text(web.get(f"/review?project={pid}").text)
    assert "3 items waiting" in text and "1 queue:" in text
    assert "0 open or regressed" in text and "0 alerting" in text
    assert "7 items waiting" not in text
    store.add_queue_items(pid, q_id := store.list_annotation_queues(pid)[0]["id"], [("TRACE", "x")])
    assert "4 items waiting" in _text(web.get(f"/review?project={pid}").text)
    assert store.queue_progress(pid, q_id)["pending"] == 4


def test_the_header_marks_review_on_the_pages_it_leads_to(web: TestClient) -> None:
    pid = store_of(web).project_by_name("test")["id"]
    for path in ("/review", "/issues", "/alerts", "/annotation-queues", "/error-analysis"):
        html = web.get(f"{path}?project={pid}").text
        current = re.search(r'<a href="([^"?]+)[^"]*" aria-current="page"', html)
        assert current and current.group(1) == "/review", path
    html = web.get(f"/traces?project={pid}").text
    assert 'href="/review' in html
