"""The dataset pages: the list with a create form (``/datasets``) and one dataset
(``/datasets/{name}``: its items with paging, archive/unarchive and delete, export, an
import form, its runs).

Viewers read; members and above change (``write``). Reads and writes go through the same
Store methods and parsers as the API (:mod:`heron.server.datasets`); a form error is shown
on the page, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from heron.datasets import io as files
from heron.datasets.spec import DatasetSpec, description, name
from heron.errors import BadRequest, HeronError
from heron.server.state import state_of
from heron.server.web.auth import WebUser, csrf_user, not_found
from heron.server.web.payload import classify
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.store import Store
from heron.store.datasets import ItemFilter, now

router = APIRouter(include_in_schema=False)

PATH = "/datasets"
PAGE_SIZE = 50
LIST_SIZE = 100


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def dataset_url(project_id: str, dataset: str, **params: Any) -> str:
    """The page of ``dataset`` (its name percent-encoded, ``/`` included)."""
    query = urlencode({"project": project_id, **{k: v for k, v in params.items() if v}})
    return f"{PATH}/{quote(dataset, safe='')}?{query}"


def _dataset_or_404(store: Store, project_id: str, dataset: str) -> dict[str, Any]:
    found = store.get_dataset(project_id, dataset)
    if found is None:
        raise not_found(f"dataset {dataset[:100]!r}")
    return found


# -- the list ----------------------------------------------------------------------------------


def _list_context(store: Store, project_id: str) -> dict[str, Any]:
    datasets, total = store.list_datasets(project_id, 1, LIST_SIZE)
    for d in datasets:
        _, d["item_count"] = store.list_dataset_items(
            project_id, ItemFilter(dataset_id=d["id"]), 1, 1
        )
        runs, d["run_count"] = store.list_dataset_runs(project_id, d["id"], 1, 1)
        d["last_run"] = runs[0] if runs else None
    return {"datasets": datasets, "total": total}


@router.get(PATH)
async def datasets_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The project's datasets (items, runs, last run) and (members) the form to create one."""
    if scope.project is None:
        return page(request, "datasets.html", scope.context(datasets=[], total=0))
    scope.require("read")
    context = await run_in_threadpool(_list_context, state_of(request).store, scope.project_id)
    form = {"name": "", "description": ""}
    return page(request, "datasets.html", scope.context(form=form, error=None, **context))


@router.post(PATH)
async def create_dataset(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    scope.require("write")
    form = await request.form()
    store = state_of(request).store
    shown = {"name": _text(form, "name"), "description": _text(form, "description")}
    try:
        spec = DatasetSpec(
            name=name(shown["name"], "name"),
            description=description(shown["description"] or None),
        )
        if await run_in_threadpool(store.get_dataset, scope.project_id, spec.name):
            raise BadRequest(f"name: a dataset {spec.name[:100]!r} already exists")
        await run_in_threadpool(store.create_dataset, scope.project_id, spec)
    except HeronError as exc:
        context = await run_in_threadpool(_list_context, store, scope.project_id)
        return page(
            request, "datasets.html", scope.context(form=shown, error=exc.message, **context), 400
        )
    return RedirectResponse(dataset_url(scope.project_id, spec.name), status_code=303)


# -- item actions, import, export (before the catch-all dataset page) ---------------------------


def _item_in(store: Store, project_id: str, dataset: str, item_id: str) -> dict[str, Any]:
    item = store.get_dataset_item(project_id, item_id)
    if item is None or item["datasetName"] != dataset:
        raise not_found(f"dataset item {item_id[:100]!r}")
    return item


@router.post(PATH + "/items/status")
async def set_item_status(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Archive or unarchive one item (``status`` ACTIVE or ARCHIVED)."""
    scope.require("write")
    form = await request.form()
    store, dataset = state_of(request).store, _text(form, "dataset")
    wanted = _text(form, "status")
    if wanted not in ("ACTIVE", "ARCHIVED"):
        raise BadRequest(f"status: expected ACTIVE or ARCHIVED, got {wanted[:20]!r}")
    item = await run_in_threadpool(
        _item_in, store, scope.project_id, dataset, _text(form, "item_id")
    )
    await run_in_threadpool(store.set_dataset_item_status, scope.project_id, item["id"], wanted)
    return RedirectResponse(dataset_url(scope.project_id, dataset), status_code=303)


@router.post(PATH + "/items/delete")
async def delete_item(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Delete one item (it stays readable as of earlier times; runs keep their run items)."""
    scope.require("write")
    form = await request.form()
    store, dataset = state_of(request).store, _text(form, "dataset")
    item = await run_in_threadpool(
        _item_in, store, scope.project_id, dataset, _text(form, "item_id")
    )
    await run_in_threadpool(store.delete_dataset_item, scope.project_id, item["id"])
    return RedirectResponse(dataset_url(scope.project_id, dataset), status_code=303)


@router.post(PATH + "/import")
async def import_items(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """A JSONL or CSV file (by its name's extension) into the dataset, all or nothing."""
    scope.require("write")
    limit = state_of(request).settings.max_body_bytes
    form = await request.form(max_part_size=limit)
    store, dataset = state_of(request).store, _text(form, "dataset")
    await run_in_threadpool(_dataset_or_404, store, scope.project_id, dataset)
    upload = form.get("file")
    message: str
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadRequest("file: choose a .jsonl or .csv file to import")
        kind = "csv" if upload.filename.lower().endswith(".csv") else "jsonl"
        items = files.parse_file(await upload.read(), kind)
        ids, created = await run_in_threadpool(
            store.put_dataset_items, scope.project_id, dataset, items
        )
        message = f"Imported: {created} created, {len(ids) - created} updated."
    except HeronError as exc:
        message = f"Not imported: {exc.message}"
    return RedirectResponse(dataset_url(scope.project_id, dataset, notice=message), status_code=303)


@router.get(PATH + "/export")
async def export_items(
    request: Request, dataset: str = "", format: str = "jsonl", scope: Scope = Depends(page_scope)
) -> Response:
    """The dataset's items (archived too) as of now, as the API's export writes them."""
    scope.require("read")
    store = state_of(request).store
    kind = files.file_format(format, None)
    found = await run_in_threadpool(_dataset_or_404, store, scope.project_id, dataset)
    f = ItemFilter(dataset_id=found["id"], version=now())

    def read() -> bytes:
        out, pageno = [], 1
        while True:
            items, total = store.list_dataset_items(scope.project_id, f, pageno, 1000, True)
            out.append(
                files.jsonl_lines(items) if kind == "jsonl" else files.csv_rows(items).encode()
            )
            if pageno * 1000 >= total:
                break
            pageno += 1
        head = files.csv_header().encode() if kind == "csv" else b""
        return head + b"".join(out)

    body = await run_in_threadpool(read)
    filename = "".join(c if c.isalnum() or c in "._-" else "_" for c in dataset)[:100]
    return Response(
        body,
        media_type=files.MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{filename or "dataset"}.{kind}"'},
    )


# -- one dataset -------------------------------------------------------------------------------


def _dataset_context(store: Store, project_id: str, dataset: str, pageno: int) -> dict[str, Any]:
    found = _dataset_or_404(store, project_id, dataset)
    items, total = store.list_dataset_items(
        project_id, ItemFilter(dataset_id=found["id"]), pageno, PAGE_SIZE
    )
    for item in items:
        item["input_view"] = classify(item["input"])
        item["expected_view"] = classify(item["expectedOutput"])
    runs, run_total = store.list_dataset_runs(project_id, found["id"], 1, LIST_SIZE)
    return {
        "dataset": found,
        "items": items,
        "total": total,
        "pageno": pageno,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "runs": runs,
        "run_total": run_total,
    }


@router.get(PATH + "/{dataset:path}")
async def dataset_page(
    request: Request, dataset: str, page_no: int = 1, scope: Scope = Depends(page_scope)
) -> Response:
    """One dataset: its items (newest first, paged), export and import, its runs."""
    scope.require("read")
    context = await run_in_threadpool(
        _dataset_context, state_of(request).store, scope.project_id, dataset, max(1, page_no)
    )
    notice = request.query_params.get("notice", "")[:500]
    return page(request, "dataset.html", scope.context(notice=notice, **context))
