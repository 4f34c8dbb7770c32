"""Annotation queues over HTTP, in Langfuse's shape: ``/api/public/annotation-queues``.

Queues (``{name, description?, scoreConfigIds}``; heron adds ``annotationsPerItem``, 2 for
double annotation, and PATCH / DELETE of a queue), their items (``objectType`` TRACE,
OBSERVATION or SESSION, ``objectId``, status PENDING or COMPLETED) and assignments (the
project members who may annotate a queue). heron's own ``POST
/api/annotation-queues/{id}/fill`` fills a queue from a trace-list filter, an issue or a
list of objects (:mod:`heron.annotation.fill`). Every route is scoped to the key's
project: another project's queue is a 404; changes need a ``full`` key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.annotation.fill import parse_fill, run_fill
from heron.annotation.spec import check_api_queue, check_object, check_status
from heron.errors import BadRequest, NotFound
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_json
from heron.server.evaluators import project_of
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of
from heron.store import Store
from heron.store.reads import iso

router = APIRouter(
    tags=["annotation queues"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

BASE = "/api/public/annotation-queues"


def queue_view(queue: dict[str, Any], project_id: str) -> dict[str, Any]:
    """A stored queue in Langfuse's shape (plus ``annotationsPerItem``)."""
    return {
        "id": queue["id"],
        "projectId": project_id,
        "name": queue["name"],
        "description": queue["description"],
        "scoreConfigIds": queue["score_config_ids"],
        "annotationsPerItem": queue["annotations_per_item"],
        "createdAt": iso(queue["created_at"]),
        "updatedAt": iso(queue["updated_at"]),
    }


def item_view(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item in Langfuse's shape."""
    return {
        "id": item["id"],
        "queueId": item["queue_id"],
        "objectId": item["object_id"],
        "objectType": item["object_type"],
        "status": item["status"],
        "completedAt": iso(item["completed_at"]),
        "createdAt": iso(item["created_at"]),
        "updatedAt": iso(item["updated_at"]),
    }


def all_configs(store: Store, project_id: str) -> dict[str, dict[str, Any]]:
    """The project's score configs by id (a project has a handful)."""
    from heron.config.document import all_score_configs

    return {c["id"]: c for c in all_score_configs(store, project_id)}


def queue_of(store: Store, project_id: str, queue_id: str) -> dict[str, Any]:
    """The project's queue of this id; a 404 otherwise (another project's too)."""
    found = store.get_annotation_queue(project_id, queue_id)
    if found is None or found["id"] != queue_id:
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
    return found


def create_queue(store: Store, project_id: str, body: Any) -> dict[str, Any]:
    """Check a Langfuse-shaped body against the project's configs and create the queue."""
    spec = check_api_queue(body, all_configs(store, project_id))
    return store.create_annotation_queue(project_id, spec)


def update_queue(store: Store, project_id: str, queue_id: str, body: Any) -> dict[str, Any]:
    queue_of(store, project_id, queue_id)
    changes = check_api_queue(body, all_configs(store, project_id), partial=True)
    return store.update_annotation_queue(project_id, queue_id, changes)


async def _json(request: Request) -> Any:
    return await read_json(request, state_of(request).settings.max_body_bytes)


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_QUEUE_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 100},
    "description": {"type": "string", "maxLength": 2000},
    "scoreConfigIds": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
    "annotationsPerItem": {"type": "integer", "minimum": 1, "maximum": 5},
}
_ITEM = {
    "type": "object",
    "required": ["objectId", "objectType"],
    "properties": {
        "objectId": {"type": "string"},
        "objectType": {"type": "string", "enum": ["TRACE", "OBSERVATION", "SESSION"]},
        "status": {"type": "string", "enum": ["PENDING", "COMPLETED"]},
    },
}
_USER = {"type": "object", "required": ["userId"], "properties": {"userId": {"type": "string"}}}


# -- queues ------------------------------------------------------------------------------------


@router.get(BASE, summary="List annotation queues (Langfuse-compatible)")
async def list_queues(
    request: Request, who: Caller = Depends(caller), pages: tuple[int, int] = Depends(paging)
) -> Response:
    """The project's queues, oldest first: ``{data, meta}``."""
    page, limit = pages
    queues = await run_in_threadpool(state_of(request).store.list_annotation_queues, who.project_id)
    shown = queues[(page - 1) * limit : page * limit]
    data = [queue_view(q, who.project_id) for q in shown]
    return JSON({"data": data, "meta": page_meta(page, limit, len(queues))})


@router.post(
    BASE,
    summary="Create an annotation queue (Langfuse-compatible)",
    openapi_extra=_body(
        {"type": "object", "required": ["name", "scoreConfigIds"], "properties": _QUEUE_FIELDS}
    ),
)
async def create_queue_route(request: Request, who: Caller = Depends(caller)) -> Response:
    """``{name, description?, scoreConfigIds, annotationsPerItem?}``: every score config must
    be one of the project's (and not archived); names are unique in the project (409)."""
    body = await _json(request)
    queue = await run_in_threadpool(create_queue, state_of(request).store, who.project_id, body)
    return JSON(queue_view(queue, who.project_id))


@router.get(BASE + "/{queue_id}", summary="Get an annotation queue (Langfuse-compatible)")
async def get_queue(request: Request, queue_id: str, who: Caller = Depends(caller)) -> Response:
    queue = await run_in_threadpool(queue_of, state_of(request).store, who.project_id, queue_id)
    return JSON(queue_view(queue, who.project_id))


@router.patch(
    BASE + "/{queue_id}",
    summary="Change an annotation queue (heron)",
    openapi_extra=_body({"type": "object", "properties": _QUEUE_FIELDS}),
)
async def patch_queue(request: Request, queue_id: str, who: Caller = Depends(caller)) -> Response:
    """Change ``name``, ``description``, ``scoreConfigIds`` or ``annotationsPerItem``."""
    body = await _json(request)
    queue = await run_in_threadpool(
        update_queue, state_of(request).store, who.project_id, queue_id, body
    )
    return JSON(queue_view(queue, who.project_id))


@router.delete(BASE + "/{queue_id}", summary="Delete an annotation queue (heron)")
async def delete_queue(request: Request, queue_id: str, who: Caller = Depends(caller)) -> Response:
    """The queue, its items and assignments go; the scores made in it stay."""
    store = state_of(request).store
    if not await run_in_threadpool(store.delete_annotation_queue, who.project_id, queue_id):
        raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
    return JSON({"success": True, "message": "Annotation queue deleted"})


# -- items -------------------------------------------------------------------------------------


@router.get(BASE + "/{queue_id}/items", summary="List a queue's items (Langfuse-compatible)")
async def list_items(
    request: Request,
    queue_id: str,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    status: str | None = Query(None, description="PENDING or COMPLETED."),
) -> Response:
    """The queue's items in queue order: ``{data, meta}``."""
    page, limit = pages
    wanted = check_status(status) if status is not None else None
    store = state_of(request).store

    def load() -> tuple[list[dict[str, Any]], int]:
        queue_of(store, who.project_id, queue_id)
        return store.list_queue_items(who.project_id, queue_id, wanted, page, limit)

    items, total = await run_in_threadpool(load)
    return JSON({"data": [item_view(i) for i in items], "meta": page_meta(page, limit, total)})


@router.post(
    BASE + "/{queue_id}/items",
    summary="Add an item to a queue (Langfuse-compatible)",
    openapi_extra=_body(_ITEM),
)
async def create_item(request: Request, queue_id: str, who: Caller = Depends(caller)) -> Response:
    """``{objectId, objectType, status?}``; an object already in the queue answers its item."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("body: expected {objectId, objectType, status?}")
    unknown = sorted(set(body) - {"objectId", "objectType", "status"})
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field; fields: objectId, objectType, status")
    object_type, object_id = check_object(body.get("objectType"), body.get("objectId"))
    status = check_status(body["status"]) if body.get("status") is not None else None
    store = state_of(request).store

    def work() -> dict[str, Any]:
        queue_of(store, who.project_id, queue_id)
        store.add_queue_items(who.project_id, queue_id, [(object_type, object_id)])
        held = store.object_queues(who.project_id, object_type, object_id)
        item_id = next(h["item_id"] for h in held if h["queue_id"] == queue_id)
        if status is not None:
            return store.update_queue_item(who.project_id, queue_id, item_id, status)
        found = store.get_queue_item(who.project_id, queue_id, item_id)
        assert found is not None
        return found

    return JSON(item_view(await run_in_threadpool(work)))


def _item(store: Store, project_id: str, queue_id: str, item_id: str) -> dict[str, Any]:
    queue_of(store, project_id, queue_id)
    found = store.get_queue_item(project_id, queue_id, item_id)
    if found is None:
        raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
    return found


@router.get(BASE + "/{queue_id}/items/{item_id}", summary="Get a queue item (Langfuse-compatible)")
async def get_item(
    request: Request, queue_id: str, item_id: str, who: Caller = Depends(caller)
) -> Response:
    store = state_of(request).store
    return JSON(item_view(await run_in_threadpool(_item, store, who.project_id, queue_id, item_id)))


@router.patch(
    BASE + "/{queue_id}/items/{item_id}",
    summary="Change a queue item's status (Langfuse-compatible)",
    openapi_extra=_body({"type": "object", "properties": _ITEM["properties"]["status"]}),
)
async def patch_item(
    request: Request, queue_id: str, item_id: str, who: Caller = Depends(caller)
) -> Response:
    """``{status}``: COMPLETED sets ``completedAt``; PENDING clears it."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("body: expected {status}")
    unknown = sorted(set(body) - {"status"})
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field; an item's status alone changes")
    store = state_of(request).store

    def work() -> dict[str, Any]:
        current = _item(store, who.project_id, queue_id, item_id)
        if body.get("status") is None:
            return current
        status = check_status(body["status"])
        return store.update_queue_item(who.project_id, queue_id, item_id, status)

    return JSON(item_view(await run_in_threadpool(work)))


@router.delete(
    BASE + "/{queue_id}/items/{item_id}", summary="Remove a queue item (Langfuse-compatible)"
)
async def delete_item(
    request: Request, queue_id: str, item_id: str, who: Caller = Depends(caller)
) -> Response:
    store = state_of(request).store

    def work() -> None:
        _item(store, who.project_id, queue_id, item_id)
        store.delete_queue_item(who.project_id, queue_id, item_id)

    await run_in_threadpool(work)
    return JSON({"success": True, "message": "Item removed from the annotation queue"})


# -- assignments -------------------------------------------------------------------------------


async def _user_id(request: Request) -> str:
    body = await _json(request)
    if not isinstance(body, dict) or set(body) - {"userId"}:
        raise BadRequest("body: expected {userId}")
    user_id = body.get("userId")
    if not isinstance(user_id, str) or not user_id or len(user_id) > 200:
        raise BadRequest("userId: expected a user id")
    return user_id


@router.get(BASE + "/{queue_id}/assignments", summary="List a queue's assignments (heron)")
async def list_assignments(
    request: Request, queue_id: str, who: Caller = Depends(caller)
) -> Response:
    """The members who may annotate the queue: ``{data: [{userId, email}]}``."""
    store = state_of(request).store

    def load() -> list[dict[str, Any]]:
        queue_of(store, who.project_id, queue_id)
        emails = {m["user_id"]: m["email"] for m in store.list_members(who.project_id)}
        return [
            {"userId": u, "email": emails.get(u)}
            for u in store.queue_assignments(who.project_id, queue_id)
        ]

    return JSON({"data": await run_in_threadpool(load)})


@router.post(
    BASE + "/{queue_id}/assignments",
    summary="Assign a member to a queue (Langfuse-compatible)",
    openapi_extra=_body(_USER),
)
async def create_assignment(
    request: Request, queue_id: str, who: Caller = Depends(caller)
) -> Response:
    """``{userId}``: a member of the project (400 otherwise) may annotate the queue."""
    user_id = await _user_id(request)
    store = state_of(request).store

    def work() -> None:
        queue_of(store, who.project_id, queue_id)
        if user_id not in {m["user_id"] for m in store.list_members(who.project_id)}:
            raise BadRequest(f"userId: {user_id[:100]!r} is not a member of this project")
        store.assign_queue(who.project_id, queue_id, user_id)

    await run_in_threadpool(work)
    return JSON({"userId": user_id, "queueId": queue_id, "projectId": who.project_id})


@router.delete(
    BASE + "/{queue_id}/assignments",
    summary="Remove a queue assignment (Langfuse-compatible)",
    openapi_extra=_body(_USER),
)
async def delete_assignment(
    request: Request, queue_id: str, who: Caller = Depends(caller)
) -> Response:
    user_id = await _user_id(request)
    store = state_of(request).store

    def work() -> bool:
        queue_of(store, who.project_id, queue_id)
        return store.unassign_queue(who.project_id, queue_id, user_id)

    return JSON({"success": await run_in_threadpool(work)})


# -- filling (heron) ---------------------------------------------------------------------------


@router.post("/api/annotation-queues/{queue_id}/fill", summary="Fill an annotation queue")
async def fill_queue(
    request: Request, queue_id: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    """From the traces list (``{filter, from, to, limit, sample, seed, by, score}``; sample
    ``newest``, ``random``, ``stratified`` by a column or ``lowest_scores`` by a score
    name), from an issue's signals (``{issueId, limit}``) or objects (``{items}``); at most
    10,000 per fill. ``dry_run: true`` only counts: ``{dry_run, matching, selected,
    added}``."""
    fill = parse_fill(await _json(request))
    store = state_of(request).store

    def work() -> dict[str, Any]:
        queue_of(store, project_id, queue_id)
        return run_fill(store, project_id, queue_id, fill)

    return await run_in_threadpool(work)
