"""The notification channels settings page (``/settings/channels``): the project's channels
(name, type, where they send, the secret's hint, never the secret), adding and updating one
(an empty secret field keeps the stored secret; a new webhook without one gets a secret,
shown once), deleting one, "send test" (its outcome shown), and each channel's delivery log
(``?log=NAME``).

Members change channels and send tests (``write``); viewers read. The rules are the API's
(:func:`heron.server.channels.save_channel`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heron.config.document import ConfigError
from heron.errors import HeronError
from heron.server import channels as api
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.signals.channels import TYPES

router = APIRouter(include_in_schema=False)

PATH = "/settings/channels"
TEMPLATE = "settings/channels.html"
LOG_LINES = 100
_FIELDS = ("name", "type", "url", "headers")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def body_from_form(form: FormData) -> dict[str, Any]:
    """The API body the form describes: an empty URL or secret left out (kept on an update),
    a webhook's headers one a line, ``Name: value``."""
    body: dict[str, Any] = {"name": _text(form, "name"), "type": _text(form, "type")}
    for key in ("url", "secret"):
        if _text(form, key):
            body[key] = _text(form, key)
    if body["type"] != "webhook":
        return body
    headers: dict[str, str] = {}
    problems = []
    for n, line in enumerate(_text(form, "headers").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            problems.append(("$.headers", f"line {n}: expected 'Name: value', got {line!r}"))
            continue
        headers[name.strip()] = value.strip()
    if problems:
        raise ConfigError(problems)
    if headers:
        body["headers"] = headers
    return body


def _form_of(channel: dict[str, Any]) -> dict[str, str]:
    spec = channel["spec"]
    return {
        "name": channel["name"],
        "type": spec["type"],
        "url": spec.get("url", ""),  # an apprise URL is the secret: never put back in the form
        "headers": "\n".join(f"{k}: {v}" for k, v in (spec.get("headers") or {}).items()),
    }


def _blank() -> dict[str, str]:
    return {**dict.fromkeys(_FIELDS, ""), "type": "webhook"}


async def _render(
    request: Request,
    scope: Scope,
    form: dict[str, str] | None = None,
    editing: str = "",
    problems: list[tuple[str | None, str]] | None = None,
    tested: dict[str, Any] | None = None,
    generated: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    wanted_log = request.query_params.get("log", "")

    def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        channels = [
            {**api.channel_view(c), "raw": c} for c in st.store.list_channels(scope.project_id)
        ]
        log = None
        if any(c["name"] == wanted_log for c in channels):
            rows = st.store.channel_deliveries(scope.project_id, wanted_log, LOG_LINES)
            log = [api.delivery_view(d) for d in rows]
        return channels, log

    channels, log = await run_in_threadpool(load)
    if form is None:
        wanted = request.query_params.get("edit")
        found = next((c for c in channels if c["name"] == wanted), None)
        form, editing = (_form_of(found["raw"]), found["name"]) if found else (_blank(), "")
    editing_type = next((c["type"] for c in channels if c["name"] == editing), "")
    context = scope.context(
        section="channels",
        channels=channels,
        form=form,
        editing=editing,
        editing_type=editing_type,
        problems=problems or [],
        tested=tested,
        generated=generated,
        log=log,
        log_name=wanted_log if log is not None else "",
        types=TYPES,
    )
    return page(request, TEMPLATE, context, status_code)


def _here(scope: Scope, **params: str) -> str:
    return f"{PATH}?" + urlencode({"project": scope.project_id, **params})


@router.get(PATH)
async def channels_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The page; ``?edit=NAME`` fills the form with that channel (its secret left out),
    ``?log=NAME`` shows that channel's delivery log."""
    if scope.project is None:
        return page(request, TEMPLATE, scope.context(section="channels"))
    scope.require("read")
    return await _render(request, scope)


@router.post(PATH)
async def save(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Add a channel, or update the one named in ``editing`` (an empty secret: kept)."""
    scope.require("write")
    form = await request.form()
    editing = _text(form, "editing")
    st = state_of(request)

    def work() -> tuple[str, str | None]:
        body = body_from_form(form)
        if editing and body["name"] != editing:
            raise ConfigError([("$.name", f"this form edits {editing}; its name stays")])
        if not editing and st.store.get_channel(scope.project_id, body["name"]):
            raise ConfigError([("$.name", f"a channel named {body['name']} exists: edit it, "
                                "or choose another name")])  # fmt: skip
        channel, _, generated = api.save_channel(st, scope.project_id, body)
        return channel["name"], generated

    try:
        saved, generated = await run_in_threadpool(work)
    except HeronError as exc:
        problems = list(exc.problems) if isinstance(exc, ConfigError) else [(None, exc.message)]
        shown = {k: _text(form, k) for k in _FIELDS}
        return await _render(request, scope, shown, editing, problems, status_code=400)
    if generated:  # shown once, so not behind a redirect a reload would lose
        return await _render(request, scope, generated={"name": saved, "secret": generated})
    return RedirectResponse(_here(scope, saved=saved), status_code=303)


@router.post(PATH + "/{name}/delete")
async def delete(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a channel (its log with it; notifications pending for it fail)."""
    scope.require("write")
    if not await run_in_threadpool(state_of(request).store.delete_channel, scope.project_id, name):
        raise PageError(404, f"Not found: channel {name!r}.")
    return RedirectResponse(_here(scope), status_code=303)


@router.post(PATH + "/{name}/test")
async def test(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Send a test notification now; the page shows the outcome (and the log has it)."""
    scope.require("write")
    st = state_of(request)
    if await run_in_threadpool(st.store.get_channel, scope.project_id, name) is None:
        raise PageError(404, f"Not found: channel {name!r}.")
    attempt = await run_in_threadpool(api.deliverer(st).send_test, scope.project_id, name)
    tested = {
        "name": name,
        "ok": attempt["outcome"] == "delivered",
        "status_code": attempt["status_code"],
        "error": attempt["error"],
        "duration_ms": attempt["duration_ms"],
    }
    return await _render(request, scope, tested=tested)
