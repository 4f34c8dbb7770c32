"""The score configs settings page in process: list, create, edit, archive/unarchive, form
errors shown, names escaped, a viewer reads but cannot change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of, web_settings
from tests.server.test_web_settings import _invite, _join

__all__ = ["web_settings"]
PATH = "/settings/score-configs"


@pytest.fixture
def web(web_settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


def _pid(c: TestClient) -> str:
    return store_of(c).project_by_name("test")["id"]


def _configs(c: TestClient) -> dict[str, dict]:
    items, _ = store_of(c).list_score_configs(_pid(c), 1, 100)
    return {x["name"]: x for x in items}


def _post(c: TestClient, path: str, **data: str) -> Any:
    csrf = csrf_of(c.get(f"{PATH}?project={_pid(c)}").text)
    return c.post(f"{path}?project={_pid(c)}", data={**data, "csrf_token": csrf},
                  follow_redirects=False)  # fmt: skip


def test_create_edit_archive_and_unarchive(web: TestClient) -> None:
    page = web.get(f"{PATH}?project={_pid(web)}")
    assert page.status_code == 200 and "No score configs yet" in page.text
    assert 'aria-current="page">Score configs' in page.text
    r = _post(web, PATH, name="tone", data_type="CATEGORICAL",
              categories="calm = 1\nrude = 0", description="how it sounds")  # fmt: skip
    assert r.status_code == 303, r.text
    r = _post(web, PATH, name="quality", data_type="NUMERIC", min_value="0", max_value="5")
    assert r.status_code == 303
    configs = _configs(web)
    assert configs["tone"]["categories"] == [
        {"label": "calm", "value": 1}, {"label": "rude", "value": 0},
    ]  # fmt: skip
    assert (configs["quality"]["minValue"], configs["quality"]["maxValue"]) == (0, 5)
    html = web.get(f"{PATH}?project={_pid(web)}").text
    assert "calm (1), rude (0)" in html and "0 … 5" in html and "how it sounds" in html

    quality = configs["quality"]
    edit = web.get(f"{PATH}?project={_pid(web)}&edit={quality['id']}").text
    assert 'value="quality"' in edit and "Save config" in edit
    r = _post(web, PATH, id=quality["id"], name="quality", min_value="1", max_value="10")
    assert r.status_code == 303
    assert _configs(web)["quality"]["maxValue"] == 10
    assert _configs(web)["quality"]["dataType"] == "NUMERIC"

    r = _post(web, f"{PATH}/{quality['id']}/archive", archived="true")
    assert r.status_code == 303 and _configs(web)["quality"]["isArchived"] is True
    assert "unarchive" in web.get(f"{PATH}?project={_pid(web)}").text
    r = _post(web, f"{PATH}/{quality['id']}/archive", archived="false")
    assert _configs(web)["quality"]["isArchived"] is False
    assert _post(web, f"{PATH}/nope/archive", archived="true").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x" * 36, "data_type": "NUMERIC"}, "name: longer than 35"),
        ({"name": "a", "data_type": "CATEGORICAL"}, "needs at least one category"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": "ten"}, "minimum: &#39;ten&#39;"),
        ({"name": "a", "data_type": "CATEGORICAL", "categories": "calm"}, "label = value"),
        ({"name": "a<b>", "data_type": "TEXT"}, "name: &#39;a&lt;b&gt;&#39; has other"),
    ],
)
def test_form_errors_are_shown_escaped_and_kept(web: TestClient, data: dict, message: str) -> None:
    r = _post(web, PATH, **data)
    assert r.status_code == 400
    assert message in r.text
    assert re.search(r'<p class="error" role="alert">', r.text)
    assert f'value="{data["name"]}"' in r.text or "&lt;b&gt;" in r.text
    assert "<b>" not in r.text.split('role="alert"')[1].split("</p>")[0]
    assert _configs(web) == {}


def test_viewer_reads_but_cannot_change(web: TestClient) -> None:
    _post(web, PATH, name="quality", data_type="NUMERIC")
    viewer = _join(web, _invite(web, "viewer"), "viewer@heron.test")
    html = viewer.get(f"{PATH}?project={_pid(web)}").text
    assert "quality" in html
    assert "Create config" not in html and "archive" not in html and "edit</a>" not in html
    csrf = csrf_of(viewer.get(f"/settings?project={_pid(web)}").text)
    config_id = _configs(web)["quality"]["id"]
    for path, data in ((PATH, {"name": "x", "data_type": "TEXT"}),
                       (f"{PATH}/{config_id}/archive", {"archived": "true"})):  # fmt: skip
        r = viewer.post(f"{path}?project={_pid(web)}", data={**data, "csrf_token": csrf})
        assert r.status_code == 403 and "Your role (viewer)" in r.text
    assert set(_configs(web)) == {"quality"} and not _configs(web)["quality"]["isArchived"]
