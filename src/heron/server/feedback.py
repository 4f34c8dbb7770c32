"""Feedback from browsers: what a score sent with the public key alone must satisfy, and CORS
for the pages allowed to send it.

The public key sits in a customer's web page, so whoever reads that page has it. Sent alone
(no secret) it may create scores on the score routes and nothing else
(:mod:`heron.server.auth`); here it is further held to its project's feedback settings
(``Store.feedback_settings``): only the listed score names when names are listed, only from
a listed origin when the request names one, and never replacing a stored score.

CORS: a preflight carries no credentials, so it cannot name a project; it is allowed for an
origin any project lists, and the POST that follows is checked against its own project's
list. Responses name the origin (never ``*``) and never allow credentials (cookies): the
public key travels in the ``Authorization`` header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.errors import Forbidden
from heron.scores import ScoreRecord
from heron.server.auth import PUBLIC_ROUTES, Caller
from heron.server.responses import JSON
from heron.store import Store

SCORE_PATHS = frozenset(path for _, path in PUBLIC_ROUTES)
_EMPTY: dict[str, Any] = {"allowed_origins": [], "allowed_names": []}


class FeedbackPolicy:
    """Every project's feedback settings, cached; changes go through :meth:`update`."""

    def __init__(self, store: Store, max_age_s: float | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._by_project: dict[str, dict[str, Any]] | None = None
        self._origins: frozenset[str] = frozenset()
        # Replicas sharing a store (the cluster backend) re-read the settings at least this
        # often, so a change made through another replica applies here too.
        self._max_age_s = max_age_s
        self._read_at = 0.0

    def _table(self) -> dict[str, dict[str, Any]]:
        table = self._by_project
        stale = self._max_age_s is not None and time.monotonic() - self._read_at > self._max_age_s
        if table is None or stale:
            table = self.refresh()
        return table

    def refresh(self) -> dict[str, dict[str, Any]]:
        table = self._store.all_feedback_settings()
        origins = frozenset(o for s in table.values() for o in s["allowed_origins"])
        with self._lock:
            self._by_project, self._origins = table, origins
            self._read_at = time.monotonic()
        return table

    def settings(self, project_id: str) -> dict[str, Any]:
        return self._table().get(project_id, _EMPTY)

    def allows_origin(self, origin: str) -> bool:
        """Whether any project lists ``origin`` (enough for a preflight)."""
        self._table()
        return origin in self._origins

    def update(self, project_id: str, origins: list[str], names: list[str]) -> dict[str, Any]:
        done = self._store.set_feedback_settings(project_id, origins, names)
        self.refresh()
        return done


def check_public_scores(
    policy: FeedbackPolicy, who: Caller, origin: str | None, records: Sequence[ScoreRecord]
) -> None:
    """403 naming the problem unless the public-key caller may write ``records``."""
    settings = policy.settings(who.project_id)
    if origin is not None and origin not in settings["allowed_origins"]:
        raise Forbidden(
            f"origin {origin!r} may not send feedback to this project; a project admin lists "
            "the origins of its pages under Settings → Feedback"
        )
    if any(r.dataset_run_id for r in records):
        raise Forbidden("datasetRunId: run-level scores need the project's secret key")
    names = settings["allowed_names"]
    if names:
        for record in records:
            if record.name not in names:
                raise Forbidden(
                    f"score name {record.name!r} may not be written with the public key alone; "
                    f"this project allows {', '.join(repr(n) for n in names)}"
                )


class FeedbackCors:
    """CORS on the score-create routes only: preflights answered here, allowed origins named
    on the responses (errors included, so the page can read why)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope) if scope["type"] == "http" else None
        if origin is None or scope["path"] not in SCORE_PATHS:
            await self.app(scope, receive, send)
            return
        policy: FeedbackPolicy = scope["app"].state.heron.feedback
        allowed = policy.allows_origin(origin)
        if scope["method"] == "OPTIONS":
            await _preflight(scope, receive, send, origin, allowed)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_cors_headers(origin)]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return value.decode("latin-1")
    return None


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", b"Retry-After"),
        (b"vary", b"Origin"),
    ]


async def _preflight(
    scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool
) -> None:
    headers = dict(scope["headers"])
    response: Response
    method = headers.get(b"access-control-request-method", b"").decode("latin-1")
    if not allowed:
        response = JSON(
            {
                "error": {
                    "code": "forbidden",
                    "message": f"origin {origin!r} is not allowed to send feedback; a project "
                    "admin lists the origins of its pages under Settings → Feedback",
                }
            },
            403,
            {"Vary": "Origin"},
        )
    elif method != "POST":
        response = JSON(
            {"error": {"code": "forbidden", "message": "only POST is allowed cross-origin here"}},
            403,
            {"Vary": "Origin"},
        )
    else:
        response = Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
    await response(scope, receive, send)
