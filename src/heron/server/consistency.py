"""Read consistency: what a read waits for, and the lag every read response reports.

Ingest answers 200 once a batch is durable in the journal; the store applies it moments
later (longer under sustained ingest, or while DuckDB checkpoints). A read serves what the
store has applied, at once. A caller that wants to read its own writes asks for it, with the
query parameter ``consistent=true`` or the header ``X-Heron-Consistent: true``: the read
then waits until the store holds everything acknowledged before it began, at most
``HERON_CONSISTENT_READ_TIMEOUT_S``, and is served as is after that.

Every read response says how far behind the store was when it was read:

- ``X-Heron-Lag-Records``: journal records acknowledged but not yet applied;
- ``X-Heron-Lag-Ms``: age in milliseconds of the oldest of them (0 when there is none);
- ``X-Heron-Consistent``, only when consistency was asked for: ``true`` when the store had
  caught up, ``false`` when the bound passed first (the read may miss the caller's writes).
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.server.state import state_of

PARAM = "consistent"
HEADER = "X-Heron-Consistent"
LAG_RECORDS = "X-Heron-Lag-Records"
LAG_MS = "X-Heron-Lag-Ms"
_STATE_KEY = "heron_read_lag"
_TRUE = frozenset({"true", "1", "yes", "on"})


def asked(request: Request) -> bool:
    """Whether the request asks for consistency (query parameter or header)."""
    value = request.query_params.get(PARAM) or request.headers.get(HEADER) or ""
    return value.strip().lower() in _TRUE


async def read_view(request: Request, consistent: bool | None = None) -> None:
    """Call before a read: waits for the caller's writes when ``consistent`` (by default:
    when the request asks), then notes the lag for the response headers."""
    st = state_of(request)
    pipeline = st.pipeline
    headers: dict[str, str] = {}
    if asked(request) if consistent is None else consistent:
        bound = st.settings.consistent_read_timeout_s
        started = time.monotonic()
        await pipeline.caught_up(timeout=bound)
        headers[HEADER] = "true" if time.monotonic() - started < bound else "false"
    headers[LAG_RECORDS] = str(pipeline.backlog)
    headers[LAG_MS] = str(round(pipeline.lag_seconds * 1000))
    request.state.heron_read_lag = headers  # scope["state"][_STATE_KEY], for LagHeaders


class LagHeaders:
    """ASGI middleware: a response to a read carries the lag noted by :func:`read_view`
    (also when the route returns its own Response, or an error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_lag(message: Message) -> None:
            if message["type"] == "http.response.start":
                noted = scope.get("state", {}).get(_STATE_KEY)
                if noted:
                    headers = MutableHeaders(scope=message)
                    for name, value in noted.items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_lag)
