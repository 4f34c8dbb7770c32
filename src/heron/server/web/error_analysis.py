"""The error analysis page: run an analysis over a project's notes (``/error-analysis``),
then review it (``/error-analysis/{id}``): categories with counts, keywords and example notes
linking to their traces; rename, merge, split and move notes; accept into the
``failure_mode`` score config and scores.

Viewers read; members and above run, edit and accept (``write``). Every form calls the
same functions as the JSON API (:mod:`heron.analysis.service`); a refused change is an
error page naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heron.analysis import naming, service
from heron.errors import HeronError
from heron.server.error_analysis import connection_for
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)

PATH = "/error-analysis"
NOTES_SHOWN = 200  # notes listed per category on the page (the API has them all)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _list(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v][: service.MAX_IDS]


def _here(scope: Scope, analysis_id: str | None = None) -> str:
    path = f"{PATH}/{analysis_id}" if analysis_id else PATH
    return f"{path}?" + urlencode({"project": scope.project_id})


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except HeronError as exc:
        raise PageError(exc.status_code, exc.message) from None


@router.get(PATH)
async def analyses_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The form that runs an analysis, and the project's recent analyses."""
    if scope.project is None:
        return page(request, "error_analysis.html", scope.context(analyses=[]))
    scope.require("read")
    store = state_of(request).store
    analyses = await run_in_threadpool(store.list_error_analyses, scope.project_id)
    context = scope.context(analyses=analyses, max_notes=service.MAX_NOTES)
    return page(request, "error_analysis.html", context)


@router.post(PATH)
async def run_analysis(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Fields ``source``, ``score_name``, ``from``, ``to`` (ISO times), ``filter`` (JSON)."""
    scope.require("write")
    form = await request.form()
    body: dict[str, Any] = {"source": _text(form, "source")}
    if _text(form, "score_name"):
        body["scoreName"] = _text(form, "score_name")
    for name in ("from", "to"):
        if _text(form, name):
            body[name] = _text(form, name)
    if _text(form, "filter"):
        try:
            body["filter"] = orjson.loads(_text(form, "filter"))
        except orjson.JSONDecodeError as exc:
            raise PageError(400, f"filter: invalid JSON: {exc}") from None
    store = state_of(request).store
    out = await _call(service.run, store, scope.project_id, body, user.id)
    return RedirectResponse(_here(scope, out["id"]), status_code=303)


@router.get(PATH + "/{analysis_id}")
async def analysis_page(
    request: Request, analysis_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    scope.require("read")
    store = state_of(request).store
    analysis = await _call(service.get, store, scope.project_id, analysis_id)
    view = service.summary(analysis, with_notes=True)
    for c in view["categories"]:
        c["shown"] = c["notes"][:NOTES_SHOWN]
    connections = await run_in_threadpool(store.list_connections, scope.project_id)
    context = scope.context(
        analysis=view, notes_shown=NOTES_SHOWN, connections=[c["name"] for c in connections]
    )
    return page(request, "error_analysis_detail.html", context)


async def _edit(
    request: Request, scope: Scope, analysis_id: str, fn: Callable[..., Any], *args: Any
) -> Response:
    scope.require("write")
    await _call(fn, state_of(request).store, scope.project_id, analysis_id, *args)
    return RedirectResponse(_here(scope, analysis_id), status_code=303)


@router.post(PATH + "/{analysis_id}/rename")
async def rename(
    request: Request,
    analysis_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    form = await request.form()
    args = (_text(form, "category_id"), _text(form, "label"))
    return await _edit(request, scope, analysis_id, service.rename, *args)


@router.post(PATH + "/{analysis_id}/merge")
async def merge(
    request: Request,
    analysis_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    form = await request.form()
    args = (_list(form, "category_ids"), _text(form, "label") or None)
    return await _edit(request, scope, analysis_id, service.merge, *args)


@router.post(PATH + "/{analysis_id}/notes")
async def notes(
    request: Request,
    analysis_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """A category's note form: ``action`` ``split`` (the chosen ``note_ids``, else a second
    grouping in two) or ``move`` (the chosen notes to ``to``)."""
    scope.require("write")
    form = await request.form()
    action, category_id = _text(form, "action"), _text(form, "category_id")
    chosen = _list(form, "note_ids")
    if action == "split":
        args = (category_id, chosen or None)
        return await _edit(request, scope, analysis_id, service.split, *args)
    if action == "move":
        if not chosen:
            raise PageError(400, "Choose the notes to move.")
        return await _edit(request, scope, analysis_id, service.move, chosen, _text(form, "to"))
    raise PageError(400, "action: split or move")


@router.post(PATH + "/{analysis_id}/accept")
async def accept(
    request: Request,
    analysis_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    return await _edit(request, scope, analysis_id, service.accept, user.id)


@router.post(PATH + "/{analysis_id}/name")
async def name_with_model(
    request: Request,
    analysis_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Field ``connection``: ask that LLM connection to name and merge the categories."""
    scope.require("write")
    form = await request.form()
    connection = await _call(
        connection_for, state_of(request), scope.project_id, _text(form, "connection")
    )
    return await _edit(request, scope, analysis_id, naming.name_with_model, connection)
