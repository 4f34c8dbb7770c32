"""The annotation queue pages: the list with a create form (``/annotation-queues``), one
queue (progress, items, edit, delete; the annotator's page and agreement hang off it), the
fill page (``/annotation-queues/fill``: from the traces list's filter or an issue, the count
shown first, then added) and adding one object (``/annotation-queues/add``: the trace
page's "add to queue").

Viewers read; members and above change (``write``). The rules are the API's
(:mod:`heron.annotation.spec`, :mod:`heron.annotation.fill`): a form error is shown on the
page, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heron.annotation.fill import DEFAULT_FILL, MAX_FILL, parse_fill, run_fill
from heron.annotation.spec import OBJECT_TYPES, check_object
from heron.errors import BadRequest, HeronError
from heron.server import annotation_queues as api
from heron.server.annotation_agreement import queue_agreement
from heron.server.api import ListParams, list_params
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.listpage import apply_range, filters_json
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.store import Store
from heron.store.annotation import SAMPLES, STRATA

router = APIRouter(include_in_schema=False)

PATH = "/annotation-queues"
PAGE_SIZE = 50
_SAMPLE_LABELS = {
    "newest": "newest first",
    "random": "random (with a seed)",
    "stratified": "stratified by a column",
    "lowest_scores": "lowest scores first",
}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _queue_url(project_id: str, queue_id: str, **params: Any) -> str:
    query = urlencode({"project": project_id, **{k: v for k, v in params.items() if v}})
    return f"{PATH}/{queue_id}?{query}"


def _form_body(form: FormData) -> dict[str, Any]:
    """The API body the queue form describes."""
    per_item = _text(form, "annotations_per_item") or "1"
    return {
        "name": _text(form, "name"),
        "description": _text(form, "description") or None,
        "scoreConfigIds": [v for v in form.getlist("score_config_ids") if isinstance(v, str)],
        "annotationsPerItem": int(per_item) if per_item.isdigit() else per_item,
    }


def _configs(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [c for c in api.all_configs(store, project_id).values() if not c["isArchived"]]


def _queue_or_404(store: Store, project_id: str, queue_id: str) -> dict[str, Any]:
    try:
        return api.queue_of(store, project_id, queue_id)
    except HeronError:
        raise not_found(f"annotation queue {queue_id!r}") from None


# -- the list ----------------------------------------------------------------------------------


def _list_context(store: Store, scope: Scope) -> dict[str, Any]:
    queues = store.list_annotation_queues(scope.project_id)
    configs = api.all_configs(store, scope.project_id)
    for q in queues:
        q["progress"] = store.queue_progress(scope.project_id, q["id"], scope.user.id)
        q["config_names"] = [configs[i]["name"] for i in q["score_config_ids"] if i in configs]
    return {"queues": queues, "configs": _configs(store, scope.project_id), "queue": None}


@router.get(PATH)
async def queues_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The project's queues with their progress, and (members) the form to create one."""
    if scope.project is None:
        return page(request, "annotation_queues.html", scope.context(queues=[], configs=[]))
    scope.require("read")
    st = state_of(request)
    context = await run_in_threadpool(_list_context, st.store, scope)
    form = {"name": "", "description": "", "score_config_ids": [], "annotations_per_item": 1}
    return page(request, "annotation_queues.html", scope.context(form=form, error=None, **context))


@router.post(PATH)
async def create_queue(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    scope.require("write")
    form = await request.form()
    st = state_of(request)
    body = _form_body(form)
    try:
        queue = await run_in_threadpool(api.create_queue, st.store, scope.project_id, body)
    except HeronError as exc:
        context = await run_in_threadpool(_list_context, st.store, scope)
        shown = {"name": body["name"], "description": body["description"] or "",
                 "score_config_ids": body["scoreConfigIds"],
                 "annotations_per_item": body["annotationsPerItem"]}  # fmt: skip
        return page(
            request, "annotation_queues.html",
            scope.context(form=shown, error=exc.message, **context), 400,
        )  # fmt: skip
    return RedirectResponse(_queue_url(scope.project_id, queue["id"]), status_code=303)


# -- filling -----------------------------------------------------------------------------------


def _number(request: Request, name: str, default: int) -> int | str:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    return int(raw) if raw.isdigit() else raw


@router.get(PATH + "/fill")
async def fill_page(
    request: Request, scope: Scope = Depends(page_scope), p: ListParams = Depends(list_params)
) -> Response:
    """What a fill would add, counted first: from the traces list's filter (its query string
    as it is) or, with ``issue=``, from an issue's signals; ``queue``, ``size``, ``sample``,
    ``seed``, ``by`` and ``score`` choose how."""
    scope.require("write")
    st = state_of(request)
    q = request.query_params
    queues = await run_in_threadpool(st.store.list_annotation_queues, scope.project_id)
    chosen = next((x for x in queues if x["id"] == q.get("queue")), queues[0] if queues else None)
    issue_id = q.get("issue", "")
    body: dict[str, Any] = {"limit": _number(request, "size", DEFAULT_FILL)}
    error = None
    result = None
    if issue_id:
        body["issueId"] = issue_id
    else:
        apply_range(request, p)
        try:
            body["filter"] = filters_json(p)
        except BadRequest as exc:
            error = exc.message
        body["sample"] = q.get("sample", "newest")
        if body["sample"] in ("random", "stratified"):
            body["seed"] = _number(request, "seed", 0)
        if body["sample"] == "stratified":
            body["by"] = q.get("by", "model")
        if body["sample"] == "lowest_scores":
            body["score"] = q.get("score", "")
    if chosen is not None and error is None:
        try:
            fill = parse_fill({**body, "dry_run": True})
            result = await run_in_threadpool(
                run_fill, st.store, scope.project_id, chosen["id"], fill
            )
        except HeronError as exc:
            error = exc.message
    context = scope.context(
        queues=queues, chosen=chosen, body=body, body_json=orjson.dumps(body).decode(),
        result=result, error=error, issue_id=issue_id, search=p.search,
        samples=[(s, _SAMPLE_LABELS[s]) for s in SAMPLES], strata=list(STRATA),
        max_fill=MAX_FILL, query=[(k, v) for k, v in q.multi_items() if k not in _FILL_KEYS],
    )  # fmt: skip
    return page(request, "annotation_fill.html", context, 400 if error else 200)


_FILL_KEYS = {"queue", "size", "sample", "seed", "by", "score"}


@router.post(PATH + "/fill")
async def fill_queue(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Do the fill the fill page counted (its JSON body, checked again as the API does)."""
    scope.require("write")
    form = await request.form()
    st = state_of(request)
    queue = _queue_or_404(st.store, scope.project_id, _text(form, "queue"))
    try:
        raw = orjson.loads(_text(form, "body") or "null")
        fill = parse_fill({**raw, "dry_run": False} if isinstance(raw, dict) else raw)
        result = await run_in_threadpool(run_fill, st.store, scope.project_id, queue["id"], fill)
    except orjson.JSONDecodeError:
        raise PageError(400, "The fill form was damaged; go back and count again.") from None
    except HeronError as exc:
        raise PageError(exc.status_code if exc.status_code < 500 else 400, exc.message) from None
    return RedirectResponse(
        _queue_url(scope.project_id, queue["id"], added=str(result["added"])), status_code=303
    )


@router.get(PATH + "/add")
async def add_page(
    request: Request,
    object_type: str = "TRACE",
    object_id: str = "",
    scope: Scope = Depends(page_scope),
) -> Response:
    """Choose the queue to add one object (a trace, an observation or a session) to."""
    scope.require("write")
    try:
        kind, ident = check_object(object_type, object_id)
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    st = state_of(request)

    def load() -> tuple[list[dict[str, Any]], set[str]]:
        queues = st.store.list_annotation_queues(scope.project_id)
        held = {h["queue_id"] for h in st.store.object_queues(scope.project_id, kind, ident)}
        return queues, held

    queues, held = await run_in_threadpool(load)
    context = scope.context(queues=queues, held=held, object_type=kind, object_id=ident)
    return page(request, "annotation_add.html", context)


@router.post(PATH + "/add")
async def add_object(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    scope.require("write")
    form = await request.form()
    st = state_of(request)
    queue = _queue_or_404(st.store, scope.project_id, _text(form, "queue"))
    try:
        kind, ident = check_object(_text(form, "object_type"), _text(form, "object_id"))
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    added = await run_in_threadpool(
        st.store.add_queue_items, scope.project_id, queue["id"], [(kind, ident)]
    )
    return RedirectResponse(
        _queue_url(scope.project_id, queue["id"], added=str(added)), status_code=303
    )


# -- one queue ---------------------------------------------------------------------------------


def _object_href(item: dict[str, Any], project_id: str) -> str | None:
    from heron.server.web.traces import href

    kind = {"TRACE": "traces", "SESSION": "sessions"}.get(item["object_type"])
    return href(kind, item["object_id"], project_id) if kind else None


def _queue_context(
    store: Store, scope: Scope, queue_id: str, status: str, number: int
) -> dict[str, Any]:
    queue = _queue_or_404(store, scope.project_id, queue_id)
    configs = api.all_configs(store, scope.project_id)
    items, total = store.list_queue_items(
        scope.project_id, queue_id, status or None, number, PAGE_SIZE
    )
    emails = {m["user_id"]: m["email"] for m in store.list_members(scope.project_id)}
    for item in items:
        item["href"] = _object_href(item, scope.project_id)
        item["holder"] = emails.get(item["lease_user_id"] or "", item["lease_user_id"])
    return {
        "queue": queue,
        "queue_configs": [configs[i] for i in queue["score_config_ids"] if i in configs],
        "configs": _configs(store, scope.project_id),
        "progress": store.queue_progress(scope.project_id, queue_id, scope.user.id),
        "items": items,
        "total": total,
        "status": status,
        "page_number": number,
        "pages": -(-total // PAGE_SIZE),
        "assigned": [emails.get(u, u) for u in store.queue_assignments(scope.project_id, queue_id)],
        "object_types": OBJECT_TYPES,
        "agreement": queue_agreement(store, scope.project_id, queue),
    }


@router.get(PATH + "/{queue_id}")
async def queue_page(
    request: Request, queue_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    """A queue: progress (all and mine), its items by status and page, the edit form."""
    scope.require("read")
    await read_view(request)
    q = request.query_params
    status = q.get("status", "") if q.get("status") in ("PENDING", "COMPLETED") else ""
    try:
        number = max(1, min(int(q.get("page", "1")), 100_000))
    except ValueError:
        number = 1
    st = state_of(request)
    context = await run_in_threadpool(_queue_context, st.store, scope, queue_id, status, number)
    added = q.get("added", "")
    return page(
        request, "annotation_queue.html",
        scope.context(error=None, added=added if added.isdigit() else None, **context),
    )  # fmt: skip


@router.post(PATH + "/{queue_id}")
async def update_queue(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    form = await request.form()
    st = state_of(request)
    body = _form_body(form)
    try:
        await run_in_threadpool(api.update_queue, st.store, scope.project_id, queue_id, body)
    except HeronError as exc:
        if exc.status_code == 404:
            raise not_found(f"annotation queue {queue_id!r}") from None
        context = await run_in_threadpool(_queue_context, st.store, scope, queue_id, "", 1)
        return page(
            request, "annotation_queue.html",
            scope.context(error=exc.message, added=None, **context), 400,
        )  # fmt: skip
    return RedirectResponse(_queue_url(scope.project_id, queue_id), status_code=303)


@router.post(PATH + "/{queue_id}/delete")
async def delete_queue(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    st = state_of(request)
    if not await run_in_threadpool(st.store.delete_annotation_queue, scope.project_id, queue_id):
        raise not_found(f"annotation queue {queue_id!r}")
    return RedirectResponse(f"{PATH}?{urlencode({'project': scope.project_id})}", status_code=303)


@router.post(PATH + "/{queue_id}/items/{item_id}/delete")
async def delete_item(
    request: Request,
    queue_id: str,
    item_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Remove one item from the queue (its scores stay)."""
    scope.require("write")
    st = state_of(request)
    if not await run_in_threadpool(st.store.delete_queue_item, scope.project_id, queue_id, item_id):
        raise not_found(f"item {item_id!r}")
    return RedirectResponse(_queue_url(scope.project_id, queue_id), status_code=303)
