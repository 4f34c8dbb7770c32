"""Score configs over HTTP, in Langfuse's shape: ``/api/public/score-configs``.

Create, list (paged like Langfuse), get and patch (archive, rename, categories, bounds,
description); never deleted, only archived, so scores keep their config. The rules are in
:mod:`heron.scores.configs`; every route is scoped to the key's project.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.scores.configs import parse_config, patch_config
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_body
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of

router = APIRouter(
    tags=["score configs"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

_CATEGORY = {
    "type": "object",
    "required": ["label", "value"],
    "properties": {"label": {"type": "string"}, "value": {"type": "number"}},
}
_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 35},
    "categories": {"type": "array", "items": _CATEGORY},
    "minValue": {"type": "number"},
    "maxValue": {"type": "number"},
    "description": {"type": "string"},
}
_CREATE = {
    "type": "object",
    "required": ["name", "dataType"],
    "properties": {
        **_FIELDS,
        "dataType": {"type": "string", "enum": ["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT"]},
    },
}
_PATCH = {"type": "object", "properties": {**_FIELDS, "isArchived": {"type": "boolean"}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _json(request: Request) -> Any:
    raw = await read_body(request, state_of(request).settings.max_body_bytes)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None


async def _get(request: Request, project_id: str, config_id: str) -> dict[str, Any]:
    found = await run_in_threadpool(
        state_of(request).store.score_configs_by_id, project_id, [config_id]
    )
    if config_id not in found:
        raise NotFound(f"score config {config_id!r} not found in this project")
    return found[config_id]


@router.post(
    "/api/public/score-configs",
    summary="Create a score config (Langfuse-compatible)",
    status_code=200,
    openapi_extra=_body(_CREATE),
)
async def create_config(request: Request, who: Caller = Depends(caller)) -> Response:
    """``{name (<= 35), dataType, categories?, minValue?, maxValue?, description?}``;
    answers the stored config."""
    config = parse_config(await _json(request))
    stored = await run_in_threadpool(
        state_of(request).store.put_score_config, who.project_id, config
    )
    return JSON(stored)


@router.get("/api/public/score-configs", summary="List score configs (Langfuse-compatible)")
async def list_configs(
    request: Request, who: Caller = Depends(caller), pages: tuple[int, int] = Depends(paging)
) -> Response:
    """The project's configs, archived ones included, oldest first: ``{data, meta}``."""
    page, limit = pages
    items, total = await run_in_threadpool(
        state_of(request).store.list_score_configs, who.project_id, page, limit
    )
    return JSON({"data": items, "meta": page_meta(page, limit, total)})


@router.get("/api/public/score-configs/{config_id}", summary="Get a score config")
async def get_config(request: Request, config_id: str, who: Caller = Depends(caller)) -> Response:
    return JSON(await _get(request, who.project_id, config_id))


@router.patch(
    "/api/public/score-configs/{config_id}",
    summary="Change a score config (Langfuse-compatible)",
    openapi_extra=_body(_PATCH),
)
async def patch_config_route(
    request: Request, config_id: str, who: Caller = Depends(caller)
) -> Response:
    """Change ``isArchived``, ``name``, ``categories``, ``minValue``/``maxValue`` or
    ``description`` (``dataType`` stays); the whole config is checked again."""
    body = await _json(request)
    existing = await _get(request, who.project_id, config_id)
    config = patch_config(existing, body)
    stored = await run_in_threadpool(
        state_of(request).store.put_score_config, who.project_id, config
    )
    return JSON(stored)
