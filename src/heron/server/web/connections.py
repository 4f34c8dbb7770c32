"""The LLM connections settings page (``/settings/connections``): the project's connections
(name, provider, base URL, model, the key's hint, never the key), adding and updating one
(an empty key field keeps the stored key), deleting one no evaluator uses, and "test
connection" (a one-token completion, its answer shown).

Admins and owners add, change and delete connections (``manage_keys``: a connection holds a
provider's key, like an API key); members may test them (``write``); viewers read. The rules
are the API's (:func:`heron.server.evaluators.save_connection`).
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
from heron.evals.spec import PROVIDERS
from heron.server import evaluators as api
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)

PATH = "/settings/connections"
_FIELDS = ("name", "provider", "base_url", "model", "api_version", "max_concurrency",
           "timeout_seconds", "headers")  # fmt: skip


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(text: str, kind: type) -> Any:
    """A number typed in the form; text that is not one goes on as typed, for the API's
    check to name."""
    try:
        return kind(text)
    except ValueError:
        return text


def body_from_form(form: FormData) -> dict[str, Any]:
    """The API body the form describes (an empty field: left out; headers one a line,
    ``Name: value``)."""
    fields = {k: _text(form, k) for k in _FIELDS}
    body: dict[str, Any] = {k: fields[k] for k in ("name", "provider", "base_url", "model")}
    if fields["api_version"]:
        body["api_version"] = fields["api_version"]
    if fields["max_concurrency"]:
        body["max_concurrency"] = _number(fields["max_concurrency"], int)
    if fields["timeout_seconds"]:
        body["timeout_seconds"] = _number(fields["timeout_seconds"], float)
    key = form.get("api_key")
    if isinstance(key, str) and key.strip():
        body["api_key"] = key.strip()
    headers: dict[str, str] = {}
    problems = []
    for n, line in enumerate(fields["headers"].splitlines(), start=1):
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


def _form_of(conn: dict[str, Any]) -> dict[str, str]:
    spec = conn["spec"]
    return {
        "name": conn["name"], "provider": spec.get("provider", "openai"),
        "base_url": spec.get("base_url", ""), "model": spec.get("model") or "",
        "api_version": spec.get("api_version") or "",
        "max_concurrency": str(spec.get("max_concurrency", "")),
        "timeout_seconds": f"{spec['timeout_seconds']:g}" if spec.get("timeout_seconds") else "",
        "headers": "\n".join(f"{k}: {v}" for k, v in (spec.get("headers") or {}).items()),
    }  # fmt: skip


def _blank() -> dict[str, str]:
    return {**dict.fromkeys(_FIELDS, ""), "provider": "openai"}


async def _render(
    request: Request,
    scope: Scope,
    form: dict[str, str] | None = None,
    editing: str = "",
    problems: list[tuple[str | None, str]] | None = None,
    tested: dict[str, Any] | None = None,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    st = state_of(request)

    def rows() -> list[dict[str, Any]]:
        evaluators = st.store.list_evaluators(scope.project_id)
        out = []
        for c in st.store.list_connections(scope.project_id):
            users = [e["name"] for e in evaluators if e["spec"].get("connection") == c["name"]]
            out.append({**api.connection_view(c), "used_by": users, "raw": c})
        return out

    connections = await run_in_threadpool(rows)
    if form is None:
        wanted = request.query_params.get("edit")
        found = next((c for c in connections if c["name"] == wanted), None)
        form, editing = (_form_of(found["raw"]), found["name"]) if found else (_blank(), "")
    context = scope.context(
        section="connections",
        connections=connections,
        form=form,
        editing=editing,
        problems=problems or [],
        tested=tested,
        error=error,
        providers=PROVIDERS,
    )
    return page(request, "settings/connections.html", context, status_code)


def _here(scope: Scope, **params: str) -> str:
    return f"{PATH}?" + urlencode({"project": scope.project_id, **params})


@router.get(PATH)
async def connections_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The page; ``?edit=NAME`` fills the form with that connection (its key left out)."""
    if scope.project is None:
        return page(request, "settings/connections.html", scope.context(section="connections"))
    scope.require("read")
    return await _render(request, scope)


@router.post(PATH)
async def save(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Add a connection, or update the one named in ``editing`` (an empty key: kept)."""
    scope.require("manage_keys")
    form = await request.form()
    editing = _text(form, "editing")
    st = state_of(request)

    def work() -> str:
        body = body_from_form(form)
        if editing and body["name"] != editing:
            raise ConfigError([("$.name", f"this form edits {editing}; its name stays")])
        if not editing and st.store.get_connection(scope.project_id, body["name"]):
            raise ConfigError([("$.name", f"a connection named {body['name']} exists: edit it, "
                                "or choose another name")])  # fmt: skip
        api.save_connection(st, scope.project_id, body)
        return body["name"]

    try:
        saved = await run_in_threadpool(work)
    except HeronError as exc:
        problems = list(exc.problems) if isinstance(exc, ConfigError) else [(None, exc.message)]
        shown = {k: _text(form, k) for k in _FIELDS}
        return await _render(request, scope, shown, editing, problems, None, 400)
    return RedirectResponse(_here(scope, saved=saved), status_code=303)


@router.post(PATH + "/{name}/delete")
async def delete(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a connection; refused, with the evaluators named, while any judges with it."""
    scope.require("manage_keys")
    try:
        await run_in_threadpool(api.remove_connection, state_of(request), scope.project_id, name)
    except HeronError as exc:
        if exc.status_code == 404:
            raise PageError(404, f"Not found: {exc.message}.") from None
        return await _render(request, scope, status_code=409, error=exc.message)
    return RedirectResponse(_here(scope), status_code=303)


@router.post(PATH + "/{name}/test")
async def test(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """A one-token completion through the connection; the page shows whether it answered."""
    scope.require("write")
    st = state_of(request)
    if await run_in_threadpool(st.store.get_connection, scope.project_id, name) is None:
        raise PageError(404, f"Not found: connection {name!r}.")
    try:
        ok, message = await api.check_connection_works(st, scope.project_id, name)
    except Exception as exc:  # a key that no longer decrypts, a missing module: say so
        ok, message = False, f"{type(exc).__name__}: {exc}"
    return await _render(request, scope, tested={"name": name, "ok": ok, "message": message})
