"""The notification channels settings page in process: list with hints, add and edit (the
secret kept when left blank, a generated one shown once), problems with paths, send test with
its outcome, the delivery log, delete; hostile names and URLs escaped; what a viewer may do;
other projects' channels invisible."""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heron.server.app import create_app
from heron.settings import Settings
from heron.signals.channels import seal
from heron.signals.webhooks import verify
from tests.conftest import make_settings
from tests.server.test_web_auth import ADMIN, PASSWORD, csrf_of, login, store_of
from tests.server.test_web_settings import _join
from tests.signals.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
SLACK = "slack://T0001AAAA/B0002BBBB/XyZsecretTokenQRST"


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("web-channels"),
        init_admin_email=ADMIN,
        init_admin_password=PASSWORD,
        public_url="https://heron.example.com",
    )


@pytest.fixture(scope="module")
def web(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        assert login(c, ADMIN, PASSWORD).status_code == 303
        yield c


@pytest.fixture
def pid(web: TestClient, request: pytest.FixtureRequest) -> str:
    """A fresh project of the admin's."""
    store = store_of(web)
    name = f"{request.node.originalname}-{secrets.token_hex(3)}"
    return store.create_project(name, store.user_by_email(ADMIN)["id"])["id"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as r:
        yield r


def post(c: TestClient, pid: str, path: str, **data: str) -> Any:
    csrf = csrf_of(c.get(f"/settings/channels?project={pid}").text)
    return c.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf},
                  follow_redirects=False)  # fmt: skip


def alert(page_html: str) -> str:
    return page_html.split('role="alert"', 1)[1].split("</div>", 1)[0]


def row(page_html: str, name: str) -> str:
    return page_html.split(f'data-name="{name}"', 1)[1].split("</tr>", 1)[0]


def _invite_to(c: TestClient, pid: str, role: str) -> str:
    page = c.get(f"/settings/members?project={pid}")
    r = c.post(f"/settings/members/invite?project={pid}",
               data={"role": role, "csrf_token": csrf_of(page.text)})  # fmt: skip
    found = re.search(r'class="invite-link">([^<]+)<', r.text)
    assert found, r.text
    return found.group(1).replace("&amp;", "&")


def test_add_edit_keeping_the_secret_test_log_and_delete(
    web: TestClient, pid: str, receiver: Receiver
) -> None:
    page = web.get(f"/settings/channels?project={pid}").text
    assert 'aria-current="page">Channels' in page and "No channels yet." in page
    r = post(web, pid, "/settings/channels", name="oncall", type="webhook", url=receiver.url,
             secret=SECRET, headers="X-Team: sre")  # fmt: skip
    assert r.status_code == 303, r.text
    page = web.get(r.headers["location"]).text
    line = row(page, "oncall")
    assert receiver.url in line and "whsec_…" + SECRET[-4:] in html.unescape(line)
    assert SECRET not in page and SECRET[10:30] not in page

    edit = web.get(f"/settings/channels?project={pid}&edit=oncall").text
    assert f'value="{receiver.url}"' in edit and "X-Team: sre" in edit
    assert "empty: keep the stored one" in edit and SECRET not in edit
    form = {"editing": "oncall", "name": "oncall", "type": "webhook", "url": receiver.url,
            "secret": "", "headers": ""}  # fmt: skip
    r = post(web, pid, "/settings/channels", **{**form, "url": "ftp://nope"})
    assert r.status_code == 400 and "<code>$.url</code>: an http(s) URL" in alert(r.text)
    assert 'value="ftp://nope"' in r.text
    r = post(web, pid, "/settings/channels", **{**form, "headers": "no colon"})
    assert r.status_code == 400 and "expected &#39;Name: value&#39;" in alert(r.text)
    r = post(web, pid, "/settings/channels", **{**form, "editing": ""})
    assert r.status_code == 400 and "a channel named oncall exists" in alert(r.text)
    assert post(web, pid, "/settings/channels", **form).status_code == 303
    stored = store_of(web).get_channel(pid, "oncall")
    assert stored["spec"]["headers"] == {}

    r = post(web, pid, "/settings/channels/oncall/test")  # the kept secret signs it
    assert r.status_code == 200
    result = r.text.split('class="test-result', 1)[1].split("</p>")[0]
    assert "delivered" in result and "HTTP 200" in result
    (got,) = receiver.received
    verify(SECRET, got.headers, got.body)
    assert got.json()["link"].startswith("https://heron.example.com/settings/channels")
    receiver.script = [500]
    r = post(web, pid, "/settings/channels/oncall/test")
    result = r.text.split('class="test-result', 1)[1].split("</p>")[0]
    assert "failed" in result and "HTTP 500" in result

    log = web.get(f"/settings/channels?project={pid}&log=oncall").text
    table = log.split('id="delivery-log"', 1)[1].split("</section>", 1)[0]
    assert table.count('<tr class="delivery-') == 2
    assert "delivery-failed" in table and "delivery-delivered" in table

    assert post(web, pid, "/settings/channels/oncall/delete").status_code == 303
    assert store_of(web).get_channel(pid, "oncall") is None
    assert post(web, pid, "/settings/channels/oncall/delete").status_code == 404
    assert post(web, pid, "/settings/channels/oncall/test").status_code == 404


def test_a_new_webhook_without_a_secret_shows_the_generated_one_once(
    web: TestClient, pid: str, receiver: Receiver
) -> None:
    r = post(web, pid, "/settings/channels", name="gen", type="webhook", url=receiver.url)
    assert r.status_code == 200
    shown = re.search(r'class="generated-secret">([^<]+)<', r.text).group(1)
    assert shown.startswith("whsec_")
    assert shown not in web.get(f"/settings/channels?project={pid}").text
    receiver.secret = shown
    post(web, pid, "/settings/channels/gen/test")
    assert receiver.received[0].verified


def test_an_apprise_url_is_shown_only_by_its_hint_and_kept_on_edit(
    web: TestClient, pid: str
) -> None:
    r = post(web, pid, "/settings/channels", name="chat", type="apprise", url=SLACK)
    assert r.status_code == 303, r.text
    page = web.get(f"/settings/channels?project={pid}&edit=chat").text
    assert "slack://…QRST" in html.unescape(page)
    assert "secretToken" not in page and "T0001" not in page
    r = post(web, pid, "/settings/channels", editing="chat", name="chat", type="apprise", url="")
    assert r.status_code == 303
    stored = store_of(web).get_channel(pid, "chat", with_secret=True)
    assert stored["secret"].startswith("v1:") and stored["secret_hint"] == "slack://…QRST"
    r = post(web, pid, "/settings/channels", name="bad", type="apprise", url="bogus://x")
    assert r.status_code == 400 and "apprise does not accept" in alert(r.text)


def test_hostile_names_and_urls_are_escaped(web: TestClient, pid: str) -> None:
    hostile_url = 'https://example.com/h?a=<script>alert(1)</script>&b="x"'
    spec = {"type": "webhook", "url": hostile_url, "headers": {"X-A": "<b>bold</b>"}}
    store = store_of(web)
    # a name the API refuses, stored directly: the page must still escape it
    name = "<img src=x onerror=alert(1)>"
    store.put_channel(pid, name, spec, *seal(bytes(32), "webhook", SECRET))
    store.put_channel(pid, "plain", spec, None, None)
    page = web.get(f"/settings/channels?project={pid}").text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    edit = web.get(f"/settings/channels?project={pid}&edit=plain").text
    assert "<b>bold</b>" not in edit and "&lt;b&gt;bold&lt;/b&gt;" in edit
    r = post(web, pid, "/settings/channels", name="<i>x</i>", type="webhook",
             url="javascript:alert(1)")  # fmt: skip
    assert r.status_code == 400 and "<i>x</i>" not in r.text
    assert 'value="javascript:alert(1)"' in r.text  # kept in the form, as text


def test_a_viewer_reads_but_sees_no_buttons_and_forged_posts_get_403(
    web: TestClient, pid: str
) -> None:
    store = store_of(web)
    spec = {"type": "webhook", "url": "https://example.com/h", "headers": {}}
    store.put_channel(pid, "oncall", spec, *seal(bytes(32), "webhook", SECRET))
    viewer = _join(web, _invite_to(web, pid, "viewer"), f"viewer-{pid}@heron.test")
    page = viewer.get(f"/settings/channels?project={pid}").text
    assert "https://example.com/h" in page and "delivery log" in page
    for button in ("Send test", "Add channel", ">Delete<", ">edit<", 'id="channel-form"'):
        assert button not in page, button
    assert viewer.get(f"/settings/channels?project={pid}&log=oncall").status_code == 200
    csrf = csrf_of(page)
    for path, data in (
        ("/settings/channels", {"name": "x", "type": "apprise", "url": SLACK}),
        ("/settings/channels", {"editing": "oncall", "name": "oncall", "type": "webhook",
                                "url": "https://evil.example/h"}),
        ("/settings/channels/oncall/delete", {}),
        ("/settings/channels/oncall/test", {}),
    ):  # fmt: skip
        r = viewer.post(f"{path}?project={pid}", data={**data, "csrf_token": csrf})
        assert r.status_code == 403 and "Your role (viewer)" in r.text, path
    assert [c["name"] for c in store.list_channels(pid)] == ["oncall"]
    assert store.get_channel(pid, "oncall")["spec"]["url"] == "https://example.com/h"
    assert store.channel_deliveries(pid, "oncall") == []


def test_another_project_s_channels_are_invisible(web: TestClient, pid: str) -> None:
    store = store_of(web)
    other = store.create_project(f"other-{secrets.token_hex(3)}")["id"]
    spec = {"type": "webhook", "url": "https://other.example/h", "headers": {}}
    store.put_channel(other, "theirs", spec, *seal(bytes(32), "webhook", SECRET))
    mine = web.get(f"/settings/channels?project={pid}").text
    assert "theirs" not in mine and "other.example" not in mine
    assert "theirs" not in web.get(f"/settings/channels?project={pid}&edit=theirs&log=theirs").text
    assert post(web, pid, "/settings/channels/theirs/test").status_code == 404
    assert post(web, pid, "/settings/channels/theirs/delete").status_code == 404
    assert store.get_channel(other, "theirs") is not None
    # a member of this project only (server admins join every project) cannot open the other
    member = _join(web, _invite_to(web, pid, "member"), f"member-{pid}@heron.test")
    r = member.get(f"/settings/channels?project={other}")
    assert r.status_code == 404 and "other.example" not in r.text
    csrf = csrf_of(member.get(f"/settings/channels?project={pid}").text)
    for path in ("/settings/channels/theirs/delete", "/settings/channels/theirs/test"):
        r = member.post(f"{path}?project={other}", data={"csrf_token": csrf})
        assert r.status_code == 404, path
    assert store.get_channel(other, "theirs") is not None
