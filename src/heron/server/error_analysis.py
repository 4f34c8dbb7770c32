"""Error analysis over HTTP: ``/api/error-analysis``.

``POST /api/error-analysis`` groups the notes (comments, or TEXT scores) on the traces that
match a filter and time range into proposed failure categories and stores the analysis;
``GET`` reads it back (with every note); the category routes rename, merge, split and move
notes; ``accept`` turns the categories into the ``failure_mode`` score config and scores.
Every route is scoped to the key's project; reads need a ``read`` key, changes a ``full``
one. The rules are in :mod:`heron.analysis.service`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.analysis import naming, service
from heron.errors import BadRequest
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_json
from heron.server.evaluators import secret_key
from heron.server.responses import JSON
from heron.server.state import state_of

router = APIRouter(
    tags=["error analysis"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        404: {"model": schemas.Error},
        409: {"model": schemas.Error},
    },
)

_RUN = {
    "type": "object",
    "required": ["source"],
    "properties": {
        "source": {"type": "string", "enum": ["comments", "scores"]},
        "scoreName": {"type": "string"},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "filter": {"type": "array", "items": {"type": "object"}},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _json(request: Request) -> dict[str, Any]:
    body = await read_json(request, state_of(request).settings.max_body_bytes)
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


@router.post(
    "/api/error-analysis",
    summary="Propose failure categories from notes",
    openapi_extra=_body(_RUN),
)
async def run_analysis(request: Request, who: Caller = Depends(caller)) -> Response:
    """``{source: comments|scores, scoreName?, from?, to?, filter?}``; answers ``{id,
    categories: [{id, label, count, traceIds, keywords, examples}]}`` (at most 20,000 notes)."""
    body = await _json(request)
    store = state_of(request).store
    out = await run_in_threadpool(service.run, store, who.project_id, body, who.public_key)
    return JSON(out)


@router.get("/api/error-analysis", summary="List error analyses")
async def list_analyses(request: Request, who: Caller = Depends(caller)) -> Response:
    """The project's 50 latest analyses (without categories), newest first."""
    items = await run_in_threadpool(state_of(request).store.list_error_analyses, who.project_id)
    return JSON({"data": items})


@router.get("/api/error-analysis/{analysis_id}", summary="Get an error analysis")
async def get_analysis(
    request: Request, analysis_id: str, who: Caller = Depends(caller)
) -> Response:
    """The analysis with its categories, each with every note (``notes``)."""
    found = await run_in_threadpool(
        service.get, state_of(request).store, who.project_id, analysis_id
    )
    return JSON(service.summary(found, with_notes=True))


async def _edit(request: Request, who: Caller, analysis_id: str, fn: Any, *args: Any) -> Response:
    store = state_of(request).store
    result = await run_in_threadpool(fn, store, who.project_id, analysis_id, *args)
    found = await run_in_threadpool(service.get, store, who.project_id, analysis_id)
    return JSON({"result": result, **service.summary(found)})


@router.patch(
    "/api/error-analysis/{analysis_id}/categories/{category_id}",
    summary="Rename a category",
    openapi_extra=_body({"type": "object", "properties": {"label": {"type": "string"}}}),
)
async def rename_category(
    request: Request, analysis_id: str, category_id: str, who: Caller = Depends(caller)
) -> Response:
    body = await _json(request)
    return await _edit(request, who, analysis_id, service.rename, category_id, body.get("label"))


@router.post(
    "/api/error-analysis/{analysis_id}/merge",
    summary="Merge categories into the first one",
    openapi_extra=_body(
        {"type": "object", "properties": {"categoryIds": {"type": "array"}, "label": {}}}
    ),
)
async def merge_categories(
    request: Request, analysis_id: str, who: Caller = Depends(caller)
) -> Response:
    body = await _json(request)
    args = (body.get("categoryIds"), body.get("label"))
    return await _edit(request, who, analysis_id, service.merge, *args)


@router.post(
    "/api/error-analysis/{analysis_id}/categories/{category_id}/split",
    summary="Split a category in two",
    openapi_extra=_body({"type": "object", "properties": {"noteIds": {"type": "array"}}}),
)
async def split_category(
    request: Request, analysis_id: str, category_id: str, who: Caller = Depends(caller)
) -> Response:
    """``{noteIds?}``: those notes form the new category; without them a second grouping
    of the category's notes in two decides."""
    body = await _json(request)
    return await _edit(request, who, analysis_id, service.split, category_id, body.get("noteIds"))


@router.post(
    "/api/error-analysis/{analysis_id}/move",
    summary="Move notes to another category",
    openapi_extra=_body(
        {"type": "object", "properties": {"noteIds": {"type": "array"}, "to": {"type": "string"}}}
    ),
)
async def move_notes(request: Request, analysis_id: str, who: Caller = Depends(caller)) -> Response:
    body = await _json(request)
    return await _edit(request, who, analysis_id, service.move, body.get("noteIds"), body.get("to"))


@router.post(
    "/api/error-analysis/{analysis_id}/accept",
    summary="Accept: categories become the failure_mode score config and scores",
)
async def accept(request: Request, analysis_id: str, who: Caller = Depends(caller)) -> Response:
    """``{configId, categories: [{label, value}], scores, removed}``."""
    store = state_of(request).store
    out = await run_in_threadpool(
        service.accept, store, who.project_id, analysis_id, who.public_key
    )
    return JSON(out)


@router.post(
    "/api/error-analysis/{analysis_id}/name",
    summary="Ask an LLM connection to name and merge the categories",
    openapi_extra=_body({"type": "object", "properties": {"connection": {"type": "string"}}}),
)
async def name_with_model(
    request: Request, analysis_id: str, who: Caller = Depends(caller)
) -> Response:
    """``{connection}``: the project's LLM connection to ask; answers the analysis' summary
    with ``result`` the number of categories renamed or merged."""
    body = await _json(request)
    st = state_of(request)
    connection = await run_in_threadpool(connection_for, st, who.project_id, body.get("connection"))
    return await _edit(request, who, analysis_id, naming.name_with_model, connection)


def connection_for(st: Any, project_id: str, name: Any) -> Any:
    """The project's LLM connection ``name``, its key decrypted (a 404 when not there)."""
    from heron.evals.judging import connection_of

    if not isinstance(name, str) or not name:
        raise BadRequest("connection: the name of one of the project's LLM connections")
    return connection_of(st.store, project_id, name, secret_key(st))
