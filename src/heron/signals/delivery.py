"""Delivery of the notification outbox: the runner's ``notifications`` task.

Each run leases the pending notifications that are due (:func:`heron.store.channels.claim_due`)
and sends each to its channel, a few at a time, within a time budget:

- ``webhook``: a JSON POST of the payload (:func:`payload`), signed per Standard Webhooks
  (:mod:`heron.signals.webhooks`); a 2xx answer is delivered;
- ``apprise``: the title, and the text with the absolute link as body, through
  ``apprise.Apprise().notify`` (synchronous: it runs in a thread of its own, abandoned when it
  overruns the timeout, so the runner never hangs on it).

A failed attempt is tried again after an exponential backoff (longer when the receiver asks,
``Retry-After``), up to ``max_attempts``; then the notification is ``failed``. A 4xx other
than 408 and 429 is the receiver refusing the message: it fails at once. Every attempt is
logged per channel (:func:`heron.store.channels.record_attempts`).

Delivery is at least once: a crash between sending and recording sends again when the lease
ends. The ``webhook-id`` header (the notification's id) is the same on every attempt, so a
receiver drops duplicates by it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from heron import __version__
from heron.errors import NotFound
from heron.signals import webhooks
from heron.signals.channels import unseal

log = logging.getLogger("heron.signals")

MAX_ATTEMPTS = 10
BACKOFF_S = 30.0  # the first retry's delay; each next one doubles, up to MAX_BACKOFF_S
MAX_BACKOFF_S = 3600.0
TIMEOUT_S = 10.0
CONCURRENCY = 8
BATCH = 100  # notifications leased per run
BUDGET_S = 20.0  # a run starts no new attempt after this long (the runner thread is shared)
PERMANENT = range(400, 500)
RETRYABLE_4XX = (408, 429)
_ERROR_TEXT = 300  # characters of an error answer kept in the log
_APPRISE_TYPES = {"test": "info", "issue.opened": "warning", "issue.regressed": "warning",
                  "alert.state_changed": "warning", "alert.firing": "failure"}  # fmt: skip


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def absolute(link: str, public_url: str) -> str:
    """``link`` (a path on the heron server) made absolute with the server's public address."""
    if link.startswith(("http://", "https://")):
        return link
    return public_url.rstrip("/") + "/" + link.lstrip("/")


def payload(
    notification_id: str,
    event: dict[str, Any],
    created_at: datetime,
    project: dict[str, Any],
    public_url: str,
) -> dict[str, Any]:
    """What a webhook receives: the event (``type``, ``title``, ``text``, what the producer
    added under ``issue``, ``alert`` or ``data``) with the notification's ``id``, its
    ``timestamp``, the ``project`` and an absolute ``link``."""
    head = {
        "id": notification_id,
        "type": event["type"],
        "timestamp": iso(created_at),
        "project": {"id": project["id"], "name": project.get("name")},
        "title": event["title"],
        "text": event["text"],
        "link": absolute(str(event["link"]), public_url),
    }
    return {**head, **{k: v for k, v in event.items() if k not in head}}


@dataclass(slots=True)
class Result:
    """One attempt's outcome: ``ok``, the HTTP status (webhooks), an error, its duration, and
    how long the receiver asked to wait before the next try (``Retry-After``)."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after_s: float | None = None

    @property
    def permanent(self) -> bool:
        code = self.status_code
        return code is not None and code in PERMANENT and code not in RETRYABLE_4XX


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: the backoff decides
        return None


def send_webhook(
    spec: dict[str, Any],
    secret: str,
    message: dict[str, Any],
    timeout_s: float,
    client: httpx.Client | None = None,
) -> Result:
    """POST ``message`` as JSON to the webhook, signed with ``secret`` (through ``client``,
    one a run shares: making a client costs more than a local delivery)."""
    body = orjson.dumps(message)
    headers = {
        **spec.get("headers", {}),
        "content-type": "application/json",
        "user-agent": f"heron/{__version__}",
        **webhooks.headers(secret, message["id"], int(time.time()), body),
    }
    started = time.perf_counter()
    try:
        with (
            contextlib.nullcontext(client) if client else _client(timeout_s, 1) as http,
            http.stream("POST", spec["url"], content=body, headers=headers) as answer,
        ):
            head = b""
            for chunk in answer.iter_bytes():  # enough of the answer to explain a refusal
                head += chunk
                if len(head) >= _ERROR_TEXT:
                    break
    except httpx.TimeoutException:
        return Result(False, None, f"timed out after {timeout_s:g} s", _ms(started))
    except httpx.HTTPError as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT], _ms(started))
    code = answer.status_code
    if 200 <= code < 300:
        return Result(True, code, None, _ms(started))
    text = head[:_ERROR_TEXT].decode(errors="replace").strip()
    error = f"HTTP {code}" + (f": {text}" if text else "")
    return Result(False, code, error, _ms(started), _retry_after(answer.headers.get("retry-after")))


def _client(timeout_s: float, connections: int) -> httpx.Client:
    return httpx.Client(
        timeout=timeout_s,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def send_apprise(url: str, title: str, body: str, kind: str, timeout_s: float) -> Result:
    """Notify through apprise, in a thread given ``timeout_s`` (plus a margin) to finish."""
    import apprise

    started = time.perf_counter()
    outcome: list[Result] = []

    def work() -> None:
        try:
            sender = apprise.Apprise()
            if not sender.add(url):
                outcome.append(Result(False, None, "apprise does not accept the URL", 0.0))
                return
            answer = sender.notify(body=body, title=title, notify_type=kind, timeout=timeout_s)
            if answer:
                outcome.append(Result(True, None, None, 0.0))
                return
            messages = [entry.message for entry in answer.logs()]
            error = "; ".join(messages) or f"apprise: {answer.status}"
            outcome.append(Result(False, None, error[:_ERROR_TEXT], 0.0))
        except Exception as exc:  # a plugin's bug: an attempt that failed, said why
            outcome.append(Result(False, None, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT], 0.0))

    thread = threading.Thread(target=work, name="heron-apprise", daemon=True)
    thread.start()
    thread.join(timeout_s + 2.0)
    if not outcome:
        return Result(False, None, f"timed out after {timeout_s:g} s", _ms(started))
    result = outcome[0]
    result.duration_ms = _ms(started)
    return result


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


class Deliverer:
    """The runner's periodic task ``notifications`` (:class:`heron.runner.task.Periodic`):
    sends the due notifications of every project. The runner gives it the store
    (:meth:`bind`) and the server's settings (:meth:`configure`: the key of channel secrets,
    ``HERON_PUBLIC_URL``)."""

    name = "notifications"

    def __init__(
        self,
        store: Any = None,
        *,
        key: bytes | None = None,
        public_url: str = "",
        max_attempts: int = MAX_ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        timeout_s: float = TIMEOUT_S,
        concurrency: int = CONCURRENCY,
        batch: int = BATCH,
        budget_s: float = BUDGET_S,
    ) -> None:
        self.store = store
        self.key = key
        self.public_url = public_url or "http://127.0.0.1:4376"
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.batch = batch
        self.budget_s = budget_s

    def bind(self, store: Any) -> None:
        self.store = store

    def configure(self, settings: Any) -> None:
        """Take the server's key for secrets and its public address for links."""
        from heron.evals.secrets import settings_key

        self.key = settings_key(settings)
        self.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"

    # -- the Periodic protocol -----------------------------------------------------------------

    def due(self, now: datetime) -> datetime | None:
        """When the earliest pending notification is due (``None``: nothing to send)."""
        return self.store.next_notification_due() if self.store is not None else None

    def run(self, now: datetime) -> None:
        """Send what is due at ``now`` (see the module docstring)."""
        self.deliver_due(now)

    # -- delivery ------------------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> list[dict[str, Any]]:
        """One run: the attempts made (as logged)."""
        lease = now + timedelta(seconds=self.budget_s + 2 * self.timeout_s + 30.0)
        claimed = self.store.claim_notifications(now, lease, self.batch)
        if not claimed:
            return []
        projects = {p["id"]: p for p in self.store.list_projects()}
        channels: dict[tuple[str, str], tuple[dict[str, Any] | None, str | None, str | None]] = {}
        for n in claimed:
            channel_key = (n["project_id"], n["channel"])
            if channel_key not in channels:
                channels[channel_key] = self._channel(*channel_key)
        deadline = time.monotonic() + self.budget_s

        def attempt(n: dict[str, Any]) -> dict[str, Any] | None:
            if time.monotonic() > deadline:
                return None
            channel, secret, problem = channels[(n["project_id"], n["channel"])]
            project = projects.get(n["project_id"], {"id": n["project_id"]})
            if channel is None or secret is None:
                result = Result(False, None, problem, 0.0)
            else:
                result = self._send(
                    channel, secret, n["id"], n["event"], n["created_at"], project, http
                )
            return self._attempt(n, result, now)

        with (
            _client(self.timeout_s, self.concurrency) as http,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="heron-notify") as pool,
        ):
            done = list(pool.map(attempt, claimed))
        attempts = [a for a in done if a is not None]
        self.store.record_deliveries(attempts)
        skipped = [n["id"] for n, a in zip(claimed, done, strict=True) if a is None]
        if skipped:
            self.store.release_notifications(skipped, now)
        for a in attempts:
            if a["outcome"] != "delivered":
                log.info("notification %s: %s", a["notification_id"], a["error"])
        return attempts

    def send_test(self, project_id: str, name: str, now: datetime | None = None) -> dict[str, Any]:
        """Send a ``test`` event to the channel at once (no retry) and log the attempt."""
        at = now or _utcnow()
        channel, secret, problem = self._channel(project_id, name)
        if channel is None:
            raise NotFound(f"channel {name!r} not found in this project")
        project = next((p for p in self.store.list_projects() if p["id"] == project_id), None)
        event = {
            "type": "test",
            "title": f"Test notification from heron (channel {name})",
            "text": f"This is a test of the channel {name}: it reaches you.",
            "link": f"/settings/channels?project={project_id}",
        }
        msg_id = "test_" + secrets.token_hex(12)
        if secret is None:
            result = Result(False, None, problem, 0.0)
        else:
            result = self._send(channel, secret, msg_id, event, at, project or {"id": project_id})
        attempt = {
            "project_id": project_id, "channel": name, "notification_id": None,
            "event_type": "test", "title": event["title"], "attempt": 1, "attempted_at": at,
            "outcome": "delivered" if result.ok else "failed", "status_code": result.status_code,
            "error": result.error, "duration_ms": result.duration_ms,
        }  # fmt: skip
        self.store.record_deliveries([attempt])
        return attempt

    def _channel(
        self, project_id: str, name: str
    ) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """``(channel, secret in clear, problem)`` of a project's channel."""
        channel = self.store.get_channel(project_id, name, with_secret=True)
        if channel is None:
            return None, None, f"no channel named {name!r} in this project"
        if self.key is None:
            return channel, None, "the deliverer has no key for channel secrets (not configured)"
        if not channel.get("secret"):
            return channel, None, "the channel has no secret stored"
        try:
            return channel, unseal(self.key, channel["secret"]), None
        except ValueError as exc:  # InvalidSecret: another server key, an altered token
            return channel, None, f"the channel's secret does not decrypt: {exc}"

    def _send(
        self,
        channel: dict[str, Any],
        secret: str,
        msg_id: str,
        event: dict[str, Any],
        created_at: datetime,
        project: dict[str, Any],
        http: httpx.Client | None = None,
    ) -> Result:
        spec = channel["spec"]
        if spec["type"] == "webhook":
            message = payload(msg_id, event, created_at, project, self.public_url)
            return send_webhook(spec, secret, message, self.timeout_s, http)
        link = absolute(str(event["link"]), self.public_url)
        kind = _APPRISE_TYPES.get(str(event["type"]), "info")
        return send_apprise(
            secret, str(event["title"]), f"{event['text']}\n\n{link}", kind, self.timeout_s
        )

    def _attempt(self, n: dict[str, Any], result: Result, now: datetime) -> dict[str, Any]:
        number = n["attempts"] + 1
        if result.ok:
            outcome, retry_at = "delivered", None
        elif result.permanent or number >= self.max_attempts:
            outcome, retry_at = "failed", None
        else:
            outcome, retry_at = "retrying", now + timedelta(seconds=self.delay(number, result))
        return {
            "project_id": n["project_id"], "channel": n["channel"], "notification_id": n["id"],
            "event_type": str(n["event"].get("type")), "title": str(n["event"].get("title")),
            "attempt": number, "attempted_at": now, "outcome": outcome,
            "status_code": result.status_code, "error": result.error,
            "duration_ms": result.duration_ms, "next_attempt_at": retry_at,
        }  # fmt: skip

    def delay(
        self,
        attempt: int,
        result: Result | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> float:
        """Seconds before the try after attempt number ``attempt``: the backoff doubling from
        ``backoff_s`` (plus up to 10% so retries spread), at least what the receiver asked
        for, at most ``max_backoff_s``."""
        base = self.backoff_s * 2 ** (attempt - 1) * (1.0 + 0.1 * jitter())
        asked = result.retry_after_s if result is not None and result.retry_after_s else 0.0
        return min(self.max_backoff_s, max(base, asked))
