"""The channels API in process (real store file): create, read, update keeping the secret,
a generated webhook secret answered once, "send test" to a local receiver, the delivery log,
bad input named with a 4xx, read keys, other projects, and no plain secret in the file."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import duckdb
import pytest
from fastapi.testclient import TestClient

from heron.settings import Settings
from heron.signals.webhooks import verify
from tests.signals.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SLACK = "slack://T0001AAAA/B0002BBBB/XyZsecretTokenQRST"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as r:
        yield r


def _other_client(client: TestClient) -> TestClient:
    """A client with a full key of another project of the same app."""
    st = client.app.state.heron
    other = st.store.create_project("other")["id"]
    key = st.store.create_key(other)["secret_key"]
    c = TestClient(client.app)
    c.headers["Authorization"] = f"Bearer {key}"
    return c


def test_a_webhook_round_trip_keeps_its_secret_hidden_and_kept(
    client: TestClient, receiver: Receiver
) -> None:
    body = {"type": "webhook", "url": receiver.url, "secret": SECRET, "headers": {"X-A": "1"}}
    r = client.put("/api/channels/oncall", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["action"] == "created" and out["name"] == "oncall" and "secret" not in out
    assert out["secret_hint"] == "whsec_…" + SECRET[-4:]
    assert SECRET not in r.text
    listed = client.get("/api/channels").json()["data"]
    assert [c["name"] for c in listed] == ["oncall"] and SECRET not in str(listed)
    got = client.get("/api/channels/oncall").json()
    assert got["url"] == receiver.url and got["headers"] == {"X-A": "1"}
    # the definition applied back (no secret) changes nothing and keeps the secret
    definition = {k: got[k] for k in ("type", "url", "headers")}
    assert client.put("/api/channels/oncall", json=definition).json()["action"] == "unchanged"
    # so does the same secret given again (a configuration naming it applied twice)
    r = client.put("/api/channels/oncall", json={**definition, "secret": SECRET})
    assert r.json()["action"] == "unchanged"
    rotated = "whsec_" + base64.b64encode(b"r" * 32).decode()
    r = client.put("/api/channels/oncall", json={**definition, "secret": rotated})
    assert r.json()["action"] == "updated" and r.json()["secret_hint"].endswith(rotated[-4:])
    r = client.put("/api/channels/oncall", json={**definition, "secret": SECRET})
    assert r.json()["action"] == "updated"
    r = client.put("/api/channels/oncall", json={**definition, "headers": {}})
    assert r.status_code == 200 and r.json()["action"] == "updated"
    # a test goes out signed with the kept secret
    r = client.post("/api/channels/oncall/test")
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["status_code"] == 200
    (got_msg,) = receiver.received
    assert got_msg.verified is True
    verify(SECRET, got_msg.headers, got_msg.body)
    log = client.get("/api/channels/oncall/deliveries").json()["data"]
    assert [(x["event_type"], x["outcome"], x["status_code"]) for x in log] == [
        ("test", "delivered", 200)
    ]
    assert client.delete("/api/channels/oncall").json() == {"deleted": "oncall"}
    assert client.get("/api/channels/oncall").status_code == 404
    assert client.delete("/api/channels/oncall").status_code == 404


def test_a_new_webhook_without_a_secret_gets_one_answered_once(
    client: TestClient, receiver: Receiver
) -> None:
    r = client.put("/api/channels/gen", json={"type": "webhook", "url": receiver.url})
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert secret.startswith("whsec_") and r.json()["secret_hint"].endswith(secret[-4:])
    assert "secret" not in client.get("/api/channels/gen").json()
    receiver.secret = secret
    assert client.post("/api/channels/gen/test").json()["ok"] is True
    assert receiver.received[0].verified


def test_an_apprise_url_is_never_returned_and_a_type_change_needs_its_secret(
    client: TestClient,
) -> None:
    r = client.put("/api/channels/team-chat", json={"type": "apprise", "url": SLACK})
    assert r.status_code == 201 and r.json()["secret_hint"] == "slack://…QRST"
    for text in (
        r.text,
        client.get("/api/channels").text,
        client.get("/api/channels/team-chat").text,
    ):
        assert "secretToken" not in text and "T0001" not in text
    assert client.put("/api/channels/team-chat", json={"type": "apprise"}).json()["action"] == (
        "unchanged"
    )
    # becoming a webhook: the apprise URL is no webhook secret, so a new one is made
    r = client.put("/api/channels/team-chat", json={"type": "webhook", "url": "https://e.com/h"})
    assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
    r = client.put("/api/channels/team-chat", json={"type": "apprise"})
    assert r.status_code == 400 and "$.url: required for a new apprise channel" in r.text


def test_the_test_of_an_unreachable_channel_says_why_and_is_logged(client: TestClient) -> None:
    client.put("/api/channels/down", json={"type": "webhook", "url": "http://127.0.0.1:9/h"})
    r = client.post("/api/channels/down/test")
    assert r.status_code == 200
    out = r.json()
    assert out["ok"] is False and out["outcome"] == "failed" and "ConnectError" in out["error"]
    (log,) = client.get("/api/channels/down/deliveries").json()["data"]
    assert log["outcome"] == "failed" and log["notification_id"] is None
    assert client.post("/api/channels/nope/test").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "webhook", "url": "ftp://x"}, "$.url: an http(s) URL"),
        ({"type": "webhook", "url": "https://e.com", "secret": "nope"}, "$.secret"),
        ({"type": "apprise", "url": "bogus://x"}, "apprise does not accept"),
        ({"type": "pager"}, "$.type: one of webhook, apprise"),
        ({"name": "other", "type": "apprise", "url": SLACK}, "the body names"),
        (["oncall"], "expected an object"),
        ({"type": "webhook", "url": "https://e.com", "headers": {"Host": "x"}}, "$.headers.Host"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    module_client: TestClient, body: object, message: str
) -> None:
    client = module_client  # one app for the module's refused requests: they change nothing
    r = client.put("/api/channels/oncall", json=body)
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    assert client.get("/api/channels").json()["data"] == []


def test_bad_names_bodies_and_limits_are_4xx(client: TestClient) -> None:
    r = client.put("/api/channels/" + "x" * 65, json={"type": "apprise", "url": SLACK})
    assert r.status_code == 400 and "$.name" in r.text
    r = client.put("/api/channels/bad%20name", json={"type": "apprise", "url": SLACK})
    assert r.status_code == 400
    r = client.put("/api/channels/a", content=b"{not json", headers={"content-type": "x"})
    assert r.status_code == 400 and "invalid JSON" in r.text
    client.put("/api/channels/a", json={"type": "apprise", "url": SLACK})
    assert client.get("/api/channels/a/deliveries?limit=0").status_code in (400, 422)
    assert client.get("/api/channels/a/deliveries?limit=9999").status_code in (400, 422)
    assert client.get("/api/channels/nope/deliveries").status_code == 404


def test_a_read_key_reads_but_does_not_change_or_send(client: TestClient) -> None:
    client.put("/api/channels/team-chat", json={"type": "apprise", "url": SLACK})
    st = client.app.state.heron
    project = st.store.project_by_name("test")["id"]
    reader = TestClient(client.app)
    reader.headers["Authorization"] = (
        f"Bearer {st.store.create_key(project, scope='read')['secret_key']}"
    )
    assert reader.get("/api/channels").status_code == 200
    assert reader.get("/api/channels/team-chat/deliveries").status_code == 200
    for method, path in (("PUT", "/api/channels/x"), ("DELETE", "/api/channels/team-chat"),
                         ("POST", "/api/channels/team-chat/test")):  # fmt: skip
        r = reader.request(method, path, json={"type": "apprise", "url": SLACK})
        assert r.status_code == 403 and "scope" in r.text, path
    assert [c["name"] for c in client.get("/api/channels").json()["data"]] == ["team-chat"]


def test_another_project_sees_and_changes_nothing(client: TestClient, receiver: Receiver) -> None:
    client.put("/api/channels/oncall", json={"type": "webhook", "url": receiver.url,
                                              "secret": SECRET})  # fmt: skip
    other = _other_client(client)
    assert other.get("/api/channels").json()["data"] == []
    assert other.get("/api/channels/oncall").status_code == 404
    assert other.get("/api/channels/oncall/deliveries").status_code == 404
    assert other.post("/api/channels/oncall/test").status_code == 404
    assert other.delete("/api/channels/oncall").status_code == 404
    # the same name in the other project is its own channel
    r = other.put("/api/channels/oncall", json={"type": "apprise", "url": SLACK})
    assert r.status_code == 201
    assert client.get("/api/channels/oncall").json()["type"] == "webhook"
    assert receiver.received == []


def test_the_store_file_holds_no_plain_secret_after_restart(settings: Settings) -> None:
    from heron.server.app import create_app
    from tests.support.server import SECRET_KEY

    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        hook = {"type": "webhook", "url": "https://e.com/h", "secret": SECRET}
        assert c.put("/api/channels/oncall", json=hook).status_code == 201
        assert (
            c.put("/api/channels/chat", json={"type": "apprise", "url": SLACK}).status_code == 201
        )
    raw = b"".join(p.read_bytes() for p in settings.db_path.parent.glob("heron.duckdb*"))
    assert b"https://e.com/h" in raw  # the file is read: the spec is there, in clear
    for plain in (SECRET, SECRET[len("whsec_") :], SLACK, "secretTokenQRST", "T0001AAAA"):
        assert plain.encode() not in raw, plain
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        tokens = [t for (t,) in con.execute("SELECT secret FROM channels").fetchall()]
    finally:
        con.close()
    assert len(tokens) == 2 and all(t.startswith("v1:") for t in tokens)
    # after a restart the sealed secrets still open (the key file is kept)
    with TestClient(create_app(settings)) as c, Receiver(SECRET) as r:
        c.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        c.put("/api/channels/oncall", json={"type": "webhook", "url": r.url})
        assert c.post("/api/channels/oncall/test").json()["ok"] is True
        assert r.received[0].verified
