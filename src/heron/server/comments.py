"""Comments over HTTP, in Langfuse's shape: ``/api/public/comments``.

Create (``{objectType, objectId, content, authorUserId?}`` → ``{id}``), list (filters,
``page``/``limit``, ``{data, meta}``) and get by id, as Langfuse has them. heron adds
``traceId`` to each item (the trace the object belongs to; ``None`` for a session), a
``traceId`` filter, and ``PATCH`` (new content) and ``DELETE`` by id, which the project's
secret key may do to any of its comments (on the pages only the author or an admin may).
The object commented on must exist in the key's project; ``projectId``, which the Langfuse
SDK sends, is ignored: the key names the project. The public key alone may not use these
routes (see :mod:`heron.server.auth`). The checks here are the pages' too
(:mod:`heron.server.web.comments`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import read_json
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of
from heron.store.comments import COMMENTABLE, OBJECT_TYPES, CommentFilter

router = APIRouter(
    tags=["comments"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_CONTENT = 5000  # characters, as Langfuse
MAX_ID = 1000  # an object's id (trace, observation, session)
MAX_AUTHOR = 200

_CREATE = {
    "type": "object",
    "required": ["objectType", "objectId", "content"],
    "properties": {
        "objectType": {"type": "string", "enum": list(COMMENTABLE)},
        "objectId": {"type": "string", "maxLength": MAX_ID},
        "content": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT},
        "authorUserId": {"type": ["string", "null"], "maxLength": MAX_AUTHOR},
        "projectId": {"type": "string", "description": "Ignored: the key names the project."},
        "traceId": {
            "type": "string",
            "description": "heron: an OBSERVATION's trace, when known (a faster look-up).",
        },
    },
}
_PATCH = {
    "type": "object",
    "required": ["content"],
    "properties": {"content": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT}},
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def object_type(value: Any, label: str = "objectType") -> str:
    """A commentable object type, upper case as Langfuse writes it (400 otherwise; PROMPT is
    refused: heron keeps no prompts)."""
    if not isinstance(value, str) or value not in OBJECT_TYPES:
        raise BadRequest(
            f"{label}: expected one of {', '.join(COMMENTABLE)} (upper case), got {value!r}"[:300]
        )
    if value not in COMMENTABLE:
        raise BadRequest(
            f"{label}: heron keeps no prompts, so it takes no {value} comments; "
            f"comment on a {', '.join(COMMENTABLE)} instead"
        )
    return value


def text(value: Any, label: str, limit: int) -> str:
    """A non-blank string of at most ``limit`` characters, trimmed (400 naming ``label``)."""
    if value is None:
        raise BadRequest(f"{label}: required")
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise BadRequest(f"{label}: required (not empty)")
    if len(value) > limit:
        raise BadRequest(f"{label}: at most {limit:,} characters, got {len(value):,}")
    return value


def content(value: Any, label: str = "content") -> str:
    """A comment's markdown content: 1 to 5,000 characters once trimmed."""
    return text(value, label, MAX_CONTENT)


def parse_create(body: Any) -> dict[str, Any]:
    """The fields of a create request, checked (400 naming the first wrong field)."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    unknown = sorted(set(body) - set(_CREATE["properties"]))
    if unknown:
        raise BadRequest(f"{unknown[0][:100]}: unknown field")
    author, trace = body.get("authorUserId"), body.get("traceId")
    fields = {
        "object_type": object_type(body.get("objectType")),
        "object_id": text(body.get("objectId"), "objectId", MAX_ID),
        "content": content(body.get("content")),
        "author_user_id": None if author is None else text(author, "authorUserId", MAX_AUTHOR),
        "trace_hint": None if trace is None else text(trace, "traceId", MAX_ID),
    }
    if fields["trace_hint"] and fields["object_type"] != "OBSERVATION":
        raise BadRequest("traceId: only an OBSERVATION comment takes it (its trace)")
    return fields


async def create(request: Request, project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a comment (``fields`` as :func:`parse_create` gives them) once the store holds
    every span acknowledged before (at once when it does): a comment sent right after its
    spans finds them."""
    st = state_of(request)
    await st.pipeline.caught_up(timeout=st.settings.consistent_read_timeout_s)
    return await run_in_threadpool(lambda: st.store.create_comment(project_id, **fields))


async def one(request: Request, project_id: str, comment_id: str) -> dict[str, Any]:
    """The project's comment (404 if it has none of this id)."""
    found = await run_in_threadpool(state_of(request).store.get_comment, project_id, comment_id)
    if found is None:
        raise NotFound(f"comment {comment_id[:100]!r} not found in this project")
    return found


@router.post(
    "/api/public/comments",
    summary="Create a comment (Langfuse-compatible)",
    openapi_extra=_body(_CREATE),
)
async def create_comment(request: Request, who: Caller = Depends(caller)) -> Response:
    """A comment on a trace, observation or session of the key's project: ``{id}``."""
    fields = parse_create(await read_json(request, state_of(request).settings.max_body_bytes))
    stored = await create(request, who.project_id, fields)
    return JSON({"id": stored["id"]})


@router.get("/api/public/comments", summary="List comments (Langfuse-compatible)")
async def list_comments(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    object_type_: str | None = Query(None, alias="objectType", description="TRACE, …"),
    object_id: str | None = Query(None, alias="objectId", description="Needs objectType."),
    author_user_id: str | None = Query(None, alias="authorUserId"),
    trace_id: str | None = Query(
        None, alias="traceId", description="heron: comments of a trace and its observations."
    ),
) -> Response:
    """The project's comments, newest first: ``{data, meta}``."""
    if object_id is not None and object_type_ is None:
        raise BadRequest("objectId: filtering by objectId needs objectType too")
    f = CommentFilter(
        object_type=None if object_type_ is None else object_type(object_type_),
        object_id=object_id,
        author_user_id=author_user_id,
        trace_id=trace_id,
    )
    page, limit = pages
    items, total = await run_in_threadpool(
        state_of(request).store.list_comments, who.project_id, f, page, limit
    )
    return JSON({"data": items, "meta": page_meta(page, limit, total)})


@router.get("/api/public/comments/{comment_id}", summary="Get a comment (Langfuse-compatible)")
async def get_comment(request: Request, comment_id: str, who: Caller = Depends(caller)) -> Response:
    return JSON(await one(request, who.project_id, comment_id))


@router.patch(
    "/api/public/comments/{comment_id}",
    summary="Change a comment's content (heron)",
    openapi_extra=_body(_PATCH),
)
async def patch_comment(
    request: Request, comment_id: str, who: Caller = Depends(caller)
) -> Response:
    """``{content}``: the comment with its new content and ``updatedAt``."""
    body = await read_json(request, state_of(request).settings.max_body_bytes)
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    unknown = sorted(set(body) - {"content"})
    if unknown:
        raise BadRequest(f"{unknown[0][:100]}: unknown field (only content may change)")
    new = content(body.get("content"))
    found = await run_in_threadpool(
        state_of(request).store.update_comment, who.project_id, comment_id, new
    )
    if found is None:
        raise NotFound(f"comment {comment_id[:100]!r} not found in this project")
    return JSON(found)


@router.delete(
    "/api/public/comments/{comment_id}",
    summary="Delete a comment (heron)",
    status_code=202,
    responses={202: {"description": "Deleted."}},
)
async def delete_comment(
    request: Request, comment_id: str, who: Caller = Depends(caller)
) -> Response:
    """202, as Langfuse answers deletions; 404 if the project has no such comment."""
    if not await run_in_threadpool(
        state_of(request).store.delete_comment, who.project_id, comment_id
    ):
        raise NotFound(f"comment {comment_id[:100]!r} not found in this project")
    return JSON({"message": "Comment deleted"}, 202)
