"""Scores: validated on the caller's thread, sent in the background to ``POST /api/scores``.

A bounded queue (full: the score is dropped and counted in ``failed``); a thread sends up to
100 scores per request, retrying 429 / 502 / 503 / 504 and connection errors with
exponential backoff (``Retry-After`` honoured) until ``Config.timeout`` has passed. A 4xx
answer is logged with the server's message and counted in ``failed``. Nothing raises into
the caller.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import random
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from heron.sdk import attributes as A
from heron.sdk.config import Config

log = logging.getLogger("heron")

__all__ = ["DATA_TYPES", "ScoreSender", "build_score"]

DATA_TYPES = frozenset(("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT"))
MAX_QUEUE = 10_000
BATCH = 100
RETRY_STATUS = frozenset((429, 502, 503, 504))


class ScoreError(ValueError):
    """A score that cannot be sent (logged and counted, not raised to the user)."""


def build_score(
    *,
    name: str,
    value: float | int | bool | str,
    trace_id: str | None = None,
    observation_id: str | None = None,
    session_id: str | None = None,
    comment: str | None = None,
    data_type: str | None = None,
    id: str | None = None,
    metadata: dict[str, Any] | None = None,
    timestamp: datetime | float | str | None = None,
) -> dict[str, Any]:
    """The JSON body of one score; raises :class:`ScoreError` naming the problem."""
    if not isinstance(name, str) or not name.strip():
        raise ScoreError("name is required (a non-empty string)")
    if trace_id is None and session_id is None:
        raise ScoreError("trace_id or session_id is required")
    if data_type is not None:
        data_type = str(data_type).upper()
        if data_type not in DATA_TYPES:
            raise ScoreError(f"data_type must be one of {sorted(DATA_TYPES)}, got {data_type!r}")
    if isinstance(value, bool):
        data_type = data_type or "BOOLEAN"
        if data_type != "BOOLEAN":
            raise ScoreError(f"a bool value needs data_type BOOLEAN, not {data_type}")
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ScoreError("value must be a finite number")
        data_type = data_type or "NUMERIC"
        if data_type not in ("NUMERIC", "BOOLEAN"):
            raise ScoreError(f"a numeric value needs data_type NUMERIC or BOOLEAN, not {data_type}")
        if data_type == "BOOLEAN" and value not in (0, 1):
            raise ScoreError("a BOOLEAN score's value must be 0 or 1")
    elif isinstance(value, str):
        data_type = data_type or "CATEGORICAL"
        if data_type not in ("CATEGORICAL", "TEXT"):
            raise ScoreError(f"a string value needs data_type CATEGORICAL or TEXT, not {data_type}")
    else:
        raise ScoreError(f"value must be a number, bool or string, not {type(value).__name__}")
    body: dict[str, Any] = {
        "id": id or uuid.uuid4().hex,
        "name": name,
        "value": value,
        "dataType": data_type,
        "source": "API",
        "timestamp": A.iso_time(timestamp if timestamp is not None else time.time()),
    }
    if trace_id is not None:
        body["traceId"] = str(trace_id)
    if observation_id is not None:
        body["observationId"] = str(observation_id)
    if session_id is not None:
        body["sessionId"] = str(session_id)
    if comment is not None:
        body["comment"] = str(comment)
    if metadata:
        body["metadata"] = metadata
    return body


class ScoreSender:
    """Background sender of score bodies with a bounded queue and a failure count."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        self._http: Any = None
        self._thread = threading.Thread(target=self._run, name="heron-scores", daemon=True)
        self._thread.start()

    def submit(self, **fields: Any) -> str | None:
        """Validate and queue one score; its id, or ``None`` if it was refused."""
        try:
            body = build_score(**fields)
        except (ScoreError, TypeError) as exc:
            self._fail(f"score refused: {exc}")
            return None
        with self._cond:
            if self._closed or len(self._queue) >= MAX_QUEUE:
                self._fail("score dropped: queue full or client shut down")
                return None
            self._queue.append(body)
            self._cond.notify_all()
        return body["id"]

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued score was sent (or failed). ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def shutdown(self) -> None:
        self.flush(self._config.timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        if self._http is not None:
            self._http.close()

    def _fail(self, message: str, n: int = 1) -> None:
        self.failed += n
        self.last_error = message
        log.warning("heron: %s", message)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                self._in_flight = len(batch)
            try:
                self._send(batch)
            except Exception as exc:  # never let the thread die
                self._fail(f"scores not sent: {exc}", len(batch))
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        import httpx

        if self._http is None:
            self._http = httpx.Client(headers=self._config.headers, timeout=self._config.timeout)
        url = self._config.scores_endpoint
        deadline = time.monotonic() + self._config.timeout
        attempt = 0
        while True:
            status: int | None = None
            wait = min(2**attempt, 8) * random.uniform(0.8, 1.2) * 0.5
            try:
                r = self._http.post(url, content=A.to_json(batch).encode())
                status = r.status_code
                if status == 207:  # some scores were refused: the body names them
                    info = r.json()
                    self.sent += int(info.get("accepted", 0))
                    refused = int(info.get("rejected", 0))
                    self._fail(f"scores refused: {info.get('errors')}", refused)
                    return
                if 200 <= status < 300:
                    self.sent += len(batch)
                    return
                if status not in RETRY_STATUS:
                    self._fail(f"scores refused ({status}): {r.text[:500]}", len(batch))
                    return
                retry_after = r.headers.get("retry-after")
                if retry_after is not None:
                    with contextlib.suppress(ValueError):
                        wait = max(float(retry_after), 0.0)
                problem = f"HTTP {status}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            attempt += 1
            if (self._closed and attempt > 1) or time.monotonic() + wait > deadline:
                self._fail(f"scores not sent after {attempt} attempt(s): {problem}", len(batch))
                return
            time.sleep(wait)
