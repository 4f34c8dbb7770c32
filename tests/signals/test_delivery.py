"""Delivery of the outbox to real local receivers: signed webhooks verified per the
specification, an apprise ``json://`` delivery, retries with backoff, giving up, no retry on
a refusal, timeouts, the delivery log, and the secrets encrypted in the database file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from heron.signals.channels import seal
from heron.signals.delivery import Deliverer
from heron.signals.webhooks import generate_secret
from heron.store import EmbeddedStore
from tests.signals.receiver import Receiver

KEY = bytes(range(32))
NOW = datetime(2026, 12, 6, 12, 0, 0)
EVENT = {
    "type": "alert.state_changed",
    "title": "chat-error-rate is ALERT",
    "text": "error_rate avg over 5m is 0.12 (alert above 0.1)",
    "link": "/alerts/chat-error-rate",
    "alert": {"name": "chat-error-rate", "state": "ALERT", "value": 0.12, "window": "5m"},
}
PUBLIC = "https://heron.example.com"


@pytest.fixture
def project(store: EmbeddedStore) -> str:
    return store.create_project("shop")["id"]


@pytest.fixture
def secret() -> str:
    return generate_secret()


@pytest.fixture
def receiver(secret: str) -> Iterator[Receiver]:
    with Receiver(secret) as r:
        yield r


def webhook(store: EmbeddedStore, project: str, name: str, url: str, secret: str) -> None:
    spec = {"type": "webhook", "url": url, "headers": {"X-Team": "sre"}}
    store.put_channel(project, name, spec, *seal(KEY, "webhook", secret))


def apprise_channel(store: EmbeddedStore, project: str, name: str, url: str) -> None:
    store.put_channel(project, name, {"type": "apprise"}, *seal(KEY, "apprise", url))


def deliverer(store: EmbeddedStore, **kw: Any) -> Deliverer:
    return Deliverer(store, key=KEY, public_url=PUBLIC, **{"timeout_s": 5.0, **kw})


def enqueue(store: EmbeddedStore, project: str, channel: str, at: datetime = NOW) -> str:
    from heron.signals import outbox

    with store._admin() as cur:  # as a rule or an alert does, in its own transaction
        (nid,) = outbox.enqueue(cur, project, [channel], EVENT, now=at)
    return nid


def state(store: EmbeddedStore, project: str, nid: str) -> dict[str, Any]:
    (row,) = store.notifications(project, [nid])
    return row


def test_a_webhook_is_signed_per_the_specification_and_carries_the_event(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    d = deliverer(store)
    assert d.due(NOW) == NOW
    d.run(NOW)
    (got,) = receiver.received
    assert got.verified is True  # the receiver's own check, per the specification
    assert got.headers["webhook-id"] == nid and got.headers["x-team"] == "sre"
    assert got.headers["content-type"] == "application/json"
    body = got.json()
    assert body == {
        "id": nid, "type": "alert.state_changed", "timestamp": "2026-12-06T12:00:00.000Z",
        "project": {"id": project, "name": "shop"}, "title": EVENT["title"],
        "text": EVENT["text"], "link": "https://heron.example.com/alerts/chat-error-rate",
        "alert": EVENT["alert"],
    }  # fmt: skip
    row = state(store, project, nid)
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert row["delivered_at"] == NOW and row["last_error"] is None
    (log,) = store.channel_deliveries(project, "oncall")
    assert log["outcome"] == "delivered" and log["status_code"] == 200
    assert log["notification_id"] == nid and log["attempt"] == 1 and log["duration_ms"] > 0
    assert log["attempted_at"] == NOW and log["event_type"] == "alert.state_changed"
    assert d.due(NOW) is None  # nothing pending any more
    d.run(NOW + timedelta(hours=1))
    assert len(receiver.received) == 1


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    receiver.script = [500, 503]
    d = deliverer(store, backoff_s=30.0)
    d.run(NOW)
    first = state(store, project, nid)
    assert first["status"] == "pending" and first["attempts"] == 1
    retry_at = first["next_attempt_at"]
    assert NOW + timedelta(seconds=30) <= retry_at <= NOW + timedelta(seconds=33)
    d.run(NOW + timedelta(seconds=10))  # not due yet: nothing sent
    assert len(receiver.received) == 1
    d.run(retry_at)
    second = state(store, project, nid)
    assert second["attempts"] == 2 and second["last_error"].startswith("HTTP 503")
    assert second["next_attempt_at"] - retry_at >= timedelta(seconds=60)  # doubled
    d.run(second["next_attempt_at"])
    assert state(store, project, nid)["status"] == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.received] == [nid] * 3
    assert all(r.verified for r in receiver.received)
    log = store.channel_deliveries(project, "oncall")
    assert [(x["attempt"], x["outcome"], x["status_code"]) for x in log] == [
        (3, "delivered", 200), (2, "retrying", 503), (1, "retrying", 500)
    ]  # fmt: skip
    assert "HTTP 500" in log[2]["error"]


def test_after_the_maximum_attempts_it_is_failed_and_the_log_says_why(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    receiver.script = [500] * 10
    d = deliverer(store, max_attempts=3, backoff_s=1.0)
    at = NOW
    for _ in range(5):
        d.run(at)
        at += timedelta(hours=1)
    row = state(store, project, nid)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert row["next_attempt_at"] is None and row["last_error"].startswith("HTTP 500")
    assert len(receiver.received) == 3
    log = store.channel_deliveries(project, "oncall")
    assert [x["outcome"] for x in log] == ["failed", "retrying", "retrying"]
    assert d.due(at) is None


@pytest.mark.parametrize(("code", "outcome"), [(400, "failed"), (410, "failed"),
                                                (408, "retrying"), (429, "retrying")])  # fmt: skip
def test_a_refusal_is_not_retried_but_timeouts_and_rate_limits_are(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str, code: int, outcome: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    receiver.script = [code]
    deliverer(store).run(NOW)
    (log,) = store.channel_deliveries(project, "oncall")
    assert (log["outcome"], log["status_code"]) == (outcome, code)
    assert state(store, project, nid)["status"] == ("failed" if outcome == "failed" else "pending")


def test_a_receiver_refusing_stale_timestamps_fails_the_message(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    """A receiver whose clock is 10 minutes ahead sees the timestamp as stale: 401, and a
    4xx is not retried. The same message to a receiver with the right clock verifies."""
    webhook(store, project, "oncall", receiver.url, secret)
    receiver.clock = lambda: __import__("time").time() + 600
    nid = enqueue(store, project, "oncall")
    deliverer(store).run(NOW)
    assert receiver.received[0].verified is False
    assert state(store, project, nid)["status"] == "failed"
    (log,) = store.channel_deliveries(project, "oncall")
    assert log["status_code"] == 401 and "signature" in log["error"]


def test_a_wrong_secret_does_not_verify(
    store: EmbeddedStore, project: str, receiver: Receiver
) -> None:
    webhook(store, project, "oncall", receiver.url, generate_secret())
    enqueue(store, project, "oncall")
    deliverer(store).run(NOW)
    assert receiver.received[0].verified is False


def test_an_apprise_json_delivery_reaches_a_local_server(
    store: EmbeddedStore, project: str
) -> None:
    with Receiver() as server:
        apprise_channel(store, project, "team-chat", f"json://127.0.0.1:{server.port}/notify")
        nid = enqueue(store, project, "team-chat")
        deliverer(store).run(NOW)
        (got,) = server.received
    assert got.path == "/notify"
    body = got.json()
    assert body["title"] == EVENT["title"] and body["type"] == "warning"
    assert body["message"] == EVENT["text"] + "\n\nhttps://heron.example.com/alerts/chat-error-rate"
    assert state(store, project, nid)["status"] == "delivered"
    (log,) = store.channel_deliveries(project, "team-chat")
    assert log["outcome"] == "delivered" and log["status_code"] is None


def test_an_apprise_failure_is_retried_with_apprise_s_reason(
    store: EmbeddedStore, project: str
) -> None:
    with Receiver() as server:
        server.script = [500]
        apprise_channel(store, project, "team-chat", f"json://127.0.0.1:{server.port}/notify")
        nid = enqueue(store, project, "team-chat")
        d = deliverer(store)
        d.run(NOW)
        row = state(store, project, nid)
        assert row["status"] == "pending" and "JSON" in row["last_error"]
        d.run(row["next_attempt_at"])
        assert len(server.received) == 2
    assert state(store, project, nid)["status"] == "delivered"


def test_a_slow_receiver_times_out_and_the_run_ends(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    receiver.delay_s = 2.0
    import time

    started = time.monotonic()
    deliverer(store, timeout_s=0.3).run(NOW)
    assert time.monotonic() - started < 1.8
    row = state(store, project, nid)
    assert row["status"] == "pending" and "timed out after 0.3 s" in row["last_error"]


def test_an_unreachable_or_unknown_channel_is_retried_and_named(
    store: EmbeddedStore, project: str, secret: str
) -> None:
    webhook(store, project, "down", "http://127.0.0.1:9/hook", secret)  # nothing listens
    down = enqueue(store, project, "down")
    ghost = enqueue(store, project, "ghost")
    deliverer(store).run(NOW)
    assert "ConnectError" in state(store, project, down)["last_error"]
    assert state(store, project, ghost)["last_error"] == "no channel named 'ghost' in this project"
    assert state(store, project, ghost)["status"] == "pending"


def test_a_run_past_its_budget_gives_back_what_it_did_not_try(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    ids = [enqueue(store, project, "oncall") for _ in range(3)]
    deliverer(store, budget_s=-1.0).run(NOW)
    assert receiver.received == []
    for nid in ids:
        row = state(store, project, nid)
        assert row["status"] == "pending" and row["attempts"] == 0
        assert row["next_attempt_at"] == NOW
    d = deliverer(store, concurrency=2)
    d.run(NOW)
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(ids)


def test_a_leased_notification_is_not_sent_twice_by_an_overlapping_run(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    (claimed,) = store.claim_notifications(NOW, NOW + timedelta(minutes=5), 10)
    assert claimed["id"] == nid and claimed["event"] == EVENT
    deliverer(store).run(NOW + timedelta(minutes=1))  # another run meanwhile
    assert receiver.received == []
    deliverer(store).run(NOW + timedelta(minutes=6))  # the lease ended (a crashed run)
    assert len(receiver.received) == 1


def test_deleting_a_channel_fails_its_pending_notifications_and_drops_its_log(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    enqueue(store, project, "oncall")
    deliverer(store).run(NOW)
    pending = enqueue(store, project, "oncall")
    assert store.channel_deliveries(project, "oncall")
    assert store.delete_channel(project, "oncall")
    assert store.channel_deliveries(project, "oncall") == []
    row = state(store, project, pending)
    assert row["status"] == "failed" and row["last_error"] == "the channel was deleted"


def test_send_test_answers_the_outcome_and_logs_it(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    from heron.errors import NotFound

    webhook(store, project, "oncall", receiver.url, secret)
    d = deliverer(store)
    attempt = d.send_test(project, "oncall", NOW)
    assert attempt["outcome"] == "delivered" and attempt["status_code"] == 200
    body = receiver.received[0].json()
    assert body["type"] == "test" and receiver.received[0].verified
    assert body["id"].startswith("test_") and body["link"].startswith(PUBLIC + "/settings/")
    receiver.script = [500]
    assert d.send_test(project, "oncall", NOW)["outcome"] == "failed"  # no retry for a test
    log = store.channel_deliveries(project, "oncall")
    assert [(x["outcome"], x["notification_id"]) for x in log] == [
        ("failed", None),
        ("delivered", None),
    ] or [(x["outcome"], x["notification_id"]) for x in log] == [
        ("delivered", None),
        ("failed", None),
    ]  # same attempted_at: either order
    assert d.due(NOW) is None  # a test leaves nothing in the outbox
    with pytest.raises(NotFound):
        d.send_test(project, "nope", NOW)
    other = store.create_project("other")["id"]
    with pytest.raises(NotFound):
        d.send_test(other, "oncall", NOW)


def test_a_deliverer_without_the_server_key_says_so(
    store: EmbeddedStore, project: str, receiver: Receiver, secret: str
) -> None:
    webhook(store, project, "oncall", receiver.url, secret)
    nid = enqueue(store, project, "oncall")
    Deliverer(store).run(NOW)
    assert "not configured" in state(store, project, nid)["last_error"]
    Deliverer(store, key=bytes(32)).run(NOW + timedelta(hours=1))
    assert "does not decrypt" in state(store, project, nid)["last_error"]
    assert receiver.received == []


def test_configure_takes_the_key_and_the_public_address(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    d = Deliverer()
    d.configure(make_settings(tmp_path, public_url="https://h.example"))
    assert d.key is not None and len(d.key) == 32 and d.public_url == "https://h.example"
    d.configure(make_settings(tmp_path, port=4999))
    assert d.public_url == "http://127.0.0.1:4999"
    assert d.due(NOW) is None  # no store bound yet: nothing planned


def test_the_backoff_doubles_honours_retry_after_and_is_capped() -> None:
    from heron.signals.delivery import Result

    d = Deliverer(backoff_s=30.0, max_backoff_s=600.0)
    none = lambda: 0.0  # noqa: E731
    assert [d.delay(n, jitter=none) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, 600]
    assert d.delay(1, jitter=lambda: 1.0) == pytest.approx(33.0)
    asked = Result(False, 429, "HTTP 429", 1.0, retry_after_s=300.0)
    assert d.delay(1, asked, jitter=none) == 300.0
    assert d.delay(1, Result(False, 429, "x", 1.0, retry_after_s=9999.0), jitter=none) == 600.0


def test_the_runner_hosts_the_deliverer_from_its_task_list(
    tmp_path: Path, receiver: Receiver, secret: str
) -> None:
    """``heron.signals.delivery:Deliverer`` in HERON_RUNNER_TASKS: the runner binds the
    store, configures the key and the public address, and a pass delivers what is due."""
    from heron.runner import Runner, configured, load_tasks
    from heron.signals.channels import seal as seal_with
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, public_url="https://heron.example.com")
    from heron.evals.secrets import settings_key

    store = EmbeddedStore(tmp_path / "heron.duckdb")
    try:
        project = store.create_project("shop")["id"]
        spec = {"type": "webhook", "url": receiver.url, "headers": {}}
        key = settings_key(settings)
        store.put_channel(project, "oncall", spec, *seal_with(key, "webhook", secret))
        nid = store.enqueue_notifications(project, ["oncall"], EVENT)[0]
        runner = configured(Runner(store, load_tasks("heron.signals.delivery:Deliverer")), settings)
        runner.run_until_idle()
        assert state(store, project, nid)["status"] == "delivered"
        assert receiver.received[0].verified
        assert receiver.received[0].json()["link"].startswith("https://heron.example.com/")
        runner.stop()
    finally:
        store.close()


def test_a_slow_apprise_service_does_not_hold_the_run(store: EmbeddedStore, project: str) -> None:
    import time

    with Receiver() as server:
        server.delay_s = 4.0
        apprise_channel(store, project, "slow", f"json://127.0.0.1:{server.port}/notify")
        nid = enqueue(store, project, "slow")
        started = time.monotonic()
        deliverer(store, timeout_s=0.5).run(NOW)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0  # the timeout plus the thread's margin, not the service's 4 s
    row = state(store, project, nid)
    assert row["status"] == "pending" and row["last_error"]
