"""Datasets over HTTP: Langfuse's public API (what its SDKs v3, v4 and v5 call) and heron's
bulk routes.

Langfuse's shape: ``GET/POST /api/public/v2/datasets``, ``GET /api/public/v2/datasets/{name}``;
``POST/GET /api/public/dataset-items``, ``GET/DELETE /api/public/dataset-items/{id}``;
``POST/GET /api/public/dataset-run-items``; ``GET /api/public/datasets/{name}/runs`` and
``GET/DELETE /api/public/datasets/{name}/runs/{run}``. Lists are ``{data, meta}`` pages.
heron adds to the items ``status`` as a list filter, to the runs ``runItemCount`` and
``experimentId``, and to the run items ``datasetItemVersion`` and ``output``.

heron's own: ``POST /api/datasets/{name}/items/from-traces`` (:mod:`heron.datasets.from_traces`),
``POST /api/datasets/{name}/items/import`` and ``GET /api/datasets/{name}/items/export``
(:mod:`heron.datasets.io`).

Names in paths may hold any character, ``/`` included, percent-encoded (as the Langfuse
SDK sends them: ``a%2Fb``); they are read from the raw path, so an encoded ``/`` stays part
of the name. Every route is scoped to the key's project (another project's dataset is a
404); GET needs a ``read`` or ``full`` key, the others a ``full`` key; the public key alone
may not use these routes (see :mod:`heron.server.auth`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from heron.datasets import io as files
from heron.datasets.from_traces import MAX_SELECTED, parse_selection
from heron.datasets.spec import (
    ITEM_KEYS,
    STATUSES,
    parse_create_item,
    parse_dataset,
    parse_run_item,
    status,
    time_value,
)
from heron.errors import BadRequest, NotFound
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.bodies import decode_content, read_body, read_json
from heron.server.responses import JSON
from heron.server.score_reads import page_meta, paging
from heron.server.state import state_of
from heron.store.datasets import ItemFilter, now

router = APIRouter(
    tags=["datasets"],
    dependencies=[Depends(consistent)],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

EXPORT_PAGE = 1000
_ANY: dict[str, Any] = {"description": "Any JSON value."}
_DATASET_BODY = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"]},
        "metadata": _ANY,
        "inputSchema": {"type": ["object", "null"], "description": "A JSON Schema; {} removes."},
        "expectedOutputSchema": {"type": ["object", "null"]},
    },
}
_ITEM_PROPERTIES: dict[str, Any] = {
    "id": {"type": ["string", "null"], "maxLength": 255, "description": "Upserts on the id."},
    "input": _ANY,
    "expectedOutput": _ANY,
    "metadata": _ANY,
    "sourceTraceId": {"type": ["string", "null"]},
    "sourceObservationId": {"type": ["string", "null"]},
    "status": {"type": ["string", "null"], "enum": [*STATUSES, None]},
}
assert set(_ITEM_PROPERTIES) == set(ITEM_KEYS)
_ITEM_BODY = {
    "type": "object",
    "required": ["datasetName"],
    "properties": {"datasetName": {"type": "string"}, **_ITEM_PROPERTIES},
}
_RUN_ITEM_BODY = {
    "type": "object",
    "required": ["runName", "datasetItemId"],
    "properties": {
        "runName": {"type": "string"},
        "runDescription": {"type": ["string", "null"]},
        "metadata": _ANY,
        "datasetItemId": {"type": "string"},
        "traceId": {"type": ["string", "null"]},
        "observationId": {"type": ["string", "null"]},
        "datasetVersion": {"type": ["string", "null"], "format": "date-time"},
        "createdAt": {"type": ["string", "null"], "format": "date-time"},
        "output": {"description": "heron: the output, when a client reports it beside the trace."},
    },
}
_FROM_TRACES_BODY = {
    "type": "object",
    "properties": {
        "filter": {
            "description": "The traces list's filter language: [{column, operator, value}]."
        },
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SELECTED},
        "traceIds": {"type": "array", "items": {"type": "string"}},
        "observationIds": {"type": "array", "items": {"type": "string"}},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _store(request: Request) -> Any:
    return state_of(request).store


def _limit(request: Request) -> int:
    return state_of(request).settings.max_body_bytes


# -- names in paths ---------------------------------------------------------------------------


def _raw_path(request: Request) -> str | None:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else None


def path_name(request: Request, prefix: str, suffix: str, parsed: str) -> str:
    """The name between ``prefix`` and ``suffix`` of the raw path, percent-decoded once (an
    encoded ``/`` is part of it); ``parsed``, the router's reading, when there is no raw
    path."""
    raw = _raw_path(request)
    if raw is None or not raw.startswith(prefix) or not raw.endswith(suffix):
        return parsed
    return unquote(raw[len(prefix) : len(raw) - len(suffix)])


def run_path(request: Request, name: str, run: str) -> tuple[str, str]:
    """The dataset's and the run's names of ``/api/public/datasets/{name}/runs/{run}``."""
    raw = _raw_path(request)
    prefix = "/api/public/datasets/"
    if raw is not None and raw.startswith(prefix):
        parts = raw[len(prefix) :].split("/")
        if len(parts) == 3 and parts[1] == "runs":
            return unquote(parts[0]), unquote(parts[2])
    return name, run


async def _dataset(request: Request, project_id: str, name: str) -> dict[str, Any]:
    found = await run_in_threadpool(_store(request).get_dataset, project_id, name)
    if found is None:
        raise NotFound(f"dataset {name[:100]!r} not found in this project")
    return found


async def _caught_up(request: Request) -> None:
    """Wait (briefly) until the store holds every span acknowledged before this request."""
    st = state_of(request)
    await st.pipeline.caught_up(timeout=st.settings.consistent_read_timeout_s)


# -- datasets ---------------------------------------------------------------------------------


@router.get("/api/public/v2/datasets", summary="List datasets (Langfuse-compatible)")
async def list_datasets(
    request: Request, who: Caller = Depends(caller), pages: tuple[int, int] = Depends(paging)
) -> Response:
    """The project's datasets, newest first: ``{data, meta}``."""
    page, limit = pages
    data, total = await run_in_threadpool(
        _store(request).list_datasets, who.project_id, page, limit
    )
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


@router.post(
    "/api/public/v2/datasets",
    summary="Create or update a dataset (Langfuse-compatible)",
    openapi_extra=_body(_DATASET_BODY),
)
async def create_dataset(request: Request, who: Caller = Depends(caller)) -> Response:
    """Create the dataset, or update the fields given of the existing one of that name
    (``null`` keeps a field). Schemas are checked (400 with each problem's path), and a
    changed schema must accept the dataset's current items."""
    spec = parse_dataset(await read_json(request, _limit(request)))
    return JSON(await run_in_threadpool(_store(request).create_dataset, who.project_id, spec))


@router.get("/api/public/v2/datasets/{name:path}", summary="Get a dataset (Langfuse-compatible)")
async def get_dataset(request: Request, name: str, who: Caller = Depends(caller)) -> Response:
    name = path_name(request, "/api/public/v2/datasets/", "", name)
    return JSON(await _dataset(request, who.project_id, name))


# -- items ------------------------------------------------------------------------------------


@router.post(
    "/api/public/dataset-items",
    summary="Create or upsert a dataset item (Langfuse-compatible)",
    openapi_extra=_body(_ITEM_BODY),
)
async def create_item(request: Request, who: Caller = Depends(caller)) -> Response:
    """A new item, or (``id`` of an existing item) a new version of it with the fields
    given; validated against the dataset's schemas (400 naming the field and path)."""
    dataset_name, item = parse_create_item(await read_json(request, _limit(request)))
    return JSON(
        await run_in_threadpool(
            _store(request).put_dataset_item, who.project_id, dataset_name, item
        )
    )


@router.get("/api/public/dataset-items", summary="List dataset items (Langfuse-compatible)")
async def list_items(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    dataset_name: str | None = Query(None, alias="datasetName"),
    source_trace_id: str | None = Query(None, alias="sourceTraceId"),
    source_observation_id: str | None = Query(None, alias="sourceObservationId"),
    version: str | None = Query(
        None, description="ISO 8601: the items as they were at that time (needs datasetName)."
    ),
    status_: str | None = Query(None, alias="status", description="heron: ACTIVE or ARCHIVED."),
) -> Response:
    """The project's current items (or as of ``version``), newest first: ``{data, meta}``."""
    at = time_value(version, "version")
    if at is not None and dataset_name is None:
        raise BadRequest("version: reading items as of a time needs datasetName")
    dataset_id = None
    if dataset_name is not None:
        dataset_id = (await _dataset(request, who.project_id, dataset_name))["id"]
    f = ItemFilter(dataset_id, source_trace_id, source_observation_id, status(status_), at)
    page, limit = pages
    data, total = await run_in_threadpool(
        _store(request).list_dataset_items, who.project_id, f, page, limit
    )
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


@router.get(
    "/api/public/dataset-items/{item_id}", summary="Get a dataset item (Langfuse-compatible)"
)
async def get_item(request: Request, item_id: str, who: Caller = Depends(caller)) -> Response:
    """The item's current version (404 when deleted, or another project's)."""
    found = await run_in_threadpool(_store(request).get_dataset_item, who.project_id, item_id)
    if found is None:
        raise NotFound(f"dataset item {item_id[:100]!r} not found in this project")
    return JSON(found)


@router.delete(
    "/api/public/dataset-items/{item_id}", summary="Delete a dataset item (Langfuse-compatible)"
)
async def delete_item(request: Request, item_id: str, who: Caller = Depends(caller)) -> Response:
    """The item leaves the current items (it stays readable as of earlier times); runs that
    ran it keep their run items."""
    if not await run_in_threadpool(_store(request).delete_dataset_item, who.project_id, item_id):
        raise NotFound(f"dataset item {item_id[:100]!r} not found in this project")
    return JSON({"message": "Dataset item successfully deleted"})


# -- runs and run items -----------------------------------------------------------------------


@router.post(
    "/api/public/dataset-run-items",
    summary="Create a dataset run item (Langfuse-compatible)",
    openapi_extra=_body(_RUN_ITEM_BODY),
)
async def create_run_item(request: Request, who: Caller = Depends(caller)) -> Response:
    """Record that a trace ran an item in run ``runName`` of the item's dataset (the run is
    created when missing): one run item per (run, item), replaced when sent again. Without
    ``traceId`` the observation's trace is used."""
    spec = parse_run_item(await read_json(request, _limit(request)))
    store = _store(request)
    trace_id = spec.trace_id
    if trace_id is None:
        assert spec.observation_id is not None
        await _caught_up(request)
        trace_id = await run_in_threadpool(
            store.observation_trace_id, who.project_id, spec.observation_id
        )
        if trace_id is None:
            raise BadRequest(
                f"traceId: required (observation {spec.observation_id[:100]!r} is not in "
                "this project to take it from)"
            )
    return JSON(
        await run_in_threadpool(store.create_dataset_run_item, who.project_id, spec, trace_id)
    )


@router.get("/api/public/dataset-run-items", summary="List dataset run items (Langfuse-compatible)")
async def list_run_items(
    request: Request,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
    dataset_id: str | None = Query(None, alias="datasetId"),
    run_name: str | None = Query(None, alias="runName"),
) -> Response:
    """The items of run ``runName`` of dataset ``datasetId``, newest first: ``{data, meta}``."""
    if not dataset_id or not run_name:
        raise BadRequest("datasetId and runName: both required")
    store = _store(request)
    dataset = await run_in_threadpool(store.get_dataset_by_id, who.project_id, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id[:100]!r} not found in this project")
    run = await run_in_threadpool(store.get_dataset_run, who.project_id, dataset_id, run_name)
    if run is None:
        raise NotFound(f"dataset run {run_name[:100]!r} not found in this dataset")
    page, limit = pages
    data, total = await run_in_threadpool(
        store.list_dataset_run_items, who.project_id, run["id"], page, limit
    )
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


@router.get(
    "/api/public/datasets/{name:path}/runs", summary="List a dataset's runs (Langfuse-compatible)"
)
async def list_runs(
    request: Request,
    name: str,
    who: Caller = Depends(caller),
    pages: tuple[int, int] = Depends(paging),
) -> Response:
    """The dataset's runs, newest first, each with ``runItemCount``: ``{data, meta}``."""
    name = path_name(request, "/api/public/datasets/", "/runs", name)
    dataset = await _dataset(request, who.project_id, name)
    page, limit = pages
    data, total = await run_in_threadpool(
        _store(request).list_dataset_runs, who.project_id, dataset["id"], page, limit
    )
    return JSON({"data": data, "meta": page_meta(page, limit, total)})


async def _run(request: Request, project_id: str, name: str, run: str) -> tuple[str, str]:
    name, run = run_path(request, name, run)
    dataset = await _dataset(request, project_id, name)
    return dataset["id"], run


@router.get(
    "/api/public/datasets/{name:path}/runs/{run:path}",
    summary="Get a dataset run with its items (Langfuse-compatible)",
)
async def get_run(request: Request, name: str, run: str, who: Caller = Depends(caller)) -> Response:
    dataset_id, run = await _run(request, who.project_id, name, run)
    found = await run_in_threadpool(
        _store(request).get_dataset_run, who.project_id, dataset_id, run
    )
    if found is None:
        raise NotFound(f"dataset run {run[:100]!r} not found in this dataset")
    return JSON(found)


@router.delete(
    "/api/public/datasets/{name:path}/runs/{run:path}",
    summary="Delete a dataset run and its run items (Langfuse-compatible)",
)
async def delete_run(
    request: Request, name: str, run: str, who: Caller = Depends(caller)
) -> Response:
    """The run and its run items go; the traces that ran the items, and their scores, stay."""
    dataset_id, run = await _run(request, who.project_id, name, run)
    store = _store(request)
    if not await run_in_threadpool(store.delete_dataset_run, who.project_id, dataset_id, run):
        raise NotFound(f"dataset run {run[:100]!r} not found in this dataset")
    return JSON({"message": "Dataset run successfully deleted"})


# -- heron: from traces, import, export -------------------------------------------------------


@router.post(
    "/api/datasets/{name:path}/items/from-traces",
    summary="Add items from traces or observations (heron)",
    openapi_extra=_body(_FROM_TRACES_BODY),
)
async def from_traces(request: Request, name: str, who: Caller = Depends(caller)) -> Response:
    """Copy traces matching a filter (newest first, at most ``limit``), or traces or
    observations by id, into the dataset: ``{created, skipped}``; a source that already
    is the source of a current item is skipped."""
    name = path_name(request, "/api/datasets/", "/items/from-traces", name)
    selection = parse_selection(await read_json(request, _limit(request)))
    await _caught_up(request)
    result = await run_in_threadpool(
        _store(request).dataset_items_from_traces, who.project_id, name, selection
    )
    return JSON(result)


@router.post(
    "/api/datasets/{name:path}/items/import",
    summary="Import items from JSONL or CSV (heron)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_items(
    request: Request,
    name: str,
    who: Caller = Depends(caller),
    fmt: str | None = Query(None, alias="format", description="jsonl or csv (else Content-Type)."),
) -> Response:
    """All or nothing: ``{created, updated}``, or a 400 listing the problems by line (at most
    10,000 items; items with an ``id`` upsert)."""
    name = path_name(request, "/api/datasets/", "/items/import", name)
    kind = files.file_format(fmt, request.headers.get("content-type"))
    limit = _limit(request)
    raw = decode_content(
        await read_body(request, limit), request.headers.get("content-encoding"), limit
    )
    items = files.parse_file(raw, kind)
    ids, created = await run_in_threadpool(
        _store(request).put_dataset_items, who.project_id, name, items
    )
    return JSON({"created": created, "updated": len(ids) - created})


_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.get(
    "/api/datasets/{name:path}/items/export",
    summary="Export items as JSONL or CSV (heron)",
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def export_items(
    request: Request,
    name: str,
    who: Caller = Depends(caller),
    fmt: str = Query("jsonl", alias="format", description="jsonl (default) or csv."),
    version: str | None = Query(None, description="ISO 8601: the items as of that time."),
) -> Response:
    """The dataset's items (archived ones too, with their status), oldest first, as of now or
    ``version``: every page is read at that one time, so the file is consistent."""
    name = path_name(request, "/api/datasets/", "/items/export", name)
    kind = files.file_format(fmt, None)
    at = time_value(version, "version") or now()
    dataset = await _dataset(request, who.project_id, name)
    store, project_id = _store(request), who.project_id
    f = ItemFilter(dataset_id=dataset["id"], version=at)

    def chunks() -> Iterator[bytes]:  # iterated in a worker thread by the response
        if kind == "csv":
            yield files.csv_header().encode()
        page = 1
        while True:
            items, total = store.list_dataset_items(project_id, f, page, EXPORT_PAGE, True)
            if items:
                yield (
                    files.jsonl_lines(items)
                    if kind == "jsonl"
                    else (files.csv_rows(items).encode())
                )
            if page * EXPORT_PAGE >= total:
                return
            page += 1

    filename = (_FILENAME.sub("_", name).strip("._") or "dataset")[:100] + f".{kind}"
    return StreamingResponse(
        chunks(),
        media_type=files.MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
