"""Notification channels over HTTP: list, read, create or update, delete, send a test, and
each channel's delivery log.

Every route is scoped to the key's project (another project's channels are not found):
reads need a ``read`` or ``full`` key, changes (and sending a test) a ``full`` key. Bodies
use the configuration format of :mod:`heron.signals.channels`. A channel's secret (a
webhook's ``whsec_`` secret, an apprise URL) is encrypted at rest and never returned, only a
hint of it; an update without one keeps the stored secret. A new webhook without a secret
gets one generated, answered once in ``secret`` (the receiver needs it to verify).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.config.document import ConfigError
from heron.errors import BadRequest, NotFound
from heron.evals.spec import Problems
from heron.server import schemas
from heron.server.bodies import read_json
from heron.server.evaluators import project_of, secret_key
from heron.server.responses import JSON
from heron.server.state import ServerState, state_of
from heron.signals.channels import export_channel, plan_channel
from heron.signals.delivery import Deliverer
from heron.store.reads import iso

router = APIRouter(
    tags=["channels"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)


async def _json(request: Request) -> Any:
    return await read_json(request, state_of(request).settings.max_body_bytes)


def channel_view(c: dict[str, Any]) -> dict[str, Any]:
    """A channel as the API shows it: its definition (no secret) and the secret's hint."""
    return {
        **export_channel(c["name"], c["spec"]),
        "secret_hint": c.get("secret_hint"),
        "created_at": iso(c["created_at"]),
        "updated_at": iso(c["updated_at"]),
    }


def delivery_view(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": iso(d["attempted_at"]),
        "notification_id": d["notification_id"],
        "event_type": d["event_type"],
        "title": d["title"],
        "attempt": d["attempt"],
        "outcome": d["outcome"],
        "status_code": d["status_code"],
        "error": d["error"],
        "duration_ms": d["duration_ms"],
    }


def channel_named(st: ServerState, project_id: str, name: str) -> dict[str, Any]:
    found = st.store.get_channel(project_id, name)
    if found is None:
        raise NotFound(f"channel {name!r} not found in this project")
    return found


def save_channel(
    st: ServerState, project_id: str, body: Any, name: str | None = None
) -> tuple[dict[str, Any], str, str | None]:
    """Create or update a channel from ``body`` (``name``: the path's, which the body may
    repeat). Returns the channel (without its secret), ``created|updated|unchanged``, and the
    secret heron generated for a new webhook that came without one (else ``None``). The
    stored secret given again counts as no change, so applying a configuration that names
    it (``secret: "${HERON_WEBHOOK_SECRET}"``) twice answers ``unchanged``."""
    if isinstance(body, dict) and name is not None:
        if body.get("name", name) != name:
            raise BadRequest(f"$.name: the body names {body['name']!r}, the path {name!r}")
        body = {**body, "name": name}
    problems = Problems()
    planned = plan_channel(st.store, secret_key(st), project_id, body, "$", problems)
    if problems or planned is None:
        raise ConfigError(problems.items)
    channel, action = st.store.put_channel(
        project_id, planned.name, planned.spec, planned.token, planned.hint
    )
    return channel, action, planned.generated


def deliverer(st: ServerState) -> Deliverer:
    """A deliverer with the server's key and public address (for "send test")."""
    d = Deliverer(st.store)
    d.configure(st.settings)
    return d


@router.get("/api/channels", summary="List notification channels (secrets never shown)")
def list_channels(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    st = state_of(request)
    return {"data": [channel_view(c) for c in st.store.list_channels(project_id)]}


@router.get("/api/channels/{name}", summary="A notification channel")
def get_channel(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    return channel_view(channel_named(state_of(request), project_id, name))


@router.put("/api/channels/{name}", summary="Create or update a notification channel")
async def put_channel(
    request: Request, name: str, project_id: str = Depends(project_of)
) -> Response:
    """``{type: webhook, url, secret?, headers?}`` or ``{type: apprise, url}``. Leaving the
    secret (a webhook's ``secret``, an apprise ``url``) out of an update keeps the stored one;
    a new webhook without a secret gets one, answered once as ``secret``."""
    st = state_of(request)
    body = await _json(request)
    channel, action, generated = await run_in_threadpool(save_channel, st, project_id, body, name)
    out = {**channel_view(channel), "action": action}
    if generated:
        out["secret"] = generated
    return JSON(out, 201 if action == "created" else 200)


@router.delete("/api/channels/{name}", summary="Delete a notification channel")
def delete_channel(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    """Its delivery log goes with it; notifications still pending for it fail."""
    if not state_of(request).store.delete_channel(project_id, name):
        raise NotFound(f"channel {name!r} not found in this project")
    return {"deleted": name}


@router.post("/api/channels/{name}/test", summary="Send a test notification now")
async def test_channel(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    """Sends a ``test`` event at once (no retry) and logs it: ``{ok, outcome, status_code,
    error, duration_ms}``."""
    st = state_of(request)
    attempt = await run_in_threadpool(deliverer(st).send_test, project_id, name)
    return {
        "ok": attempt["outcome"] == "delivered",
        **{k: attempt[k] for k in ("outcome", "status_code", "error", "duration_ms")},
    }


@router.get("/api/channels/{name}/deliveries", summary="A channel's delivery log")
def channel_deliveries(
    request: Request,
    name: str,
    project_id: str = Depends(project_of),
    limit: int = Query(100, ge=1, le=500, description="How many attempts, newest first."),
) -> dict[str, Any]:
    """Every attempt to send to the channel, newest first: when, the notification, the
    attempt's number, ``delivered|retrying|failed``, the HTTP status or the error, how long."""
    st = state_of(request)
    channel_named(st, project_id, name)
    rows = st.store.channel_deliveries(project_id, name, limit)
    return {"data": [delivery_view(d) for d in rows]}
