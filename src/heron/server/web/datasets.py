"""The dataset pages: the list with a create form (``/datasets``) and one dataset
(``/datasets/{name}``: its items with paging, archive/unarchive and delete, export, an
import form, its runs).

Viewers read; members and above change (``write``). Reads and writes go through the same
Store methods and parsers as the API (:mod:`heron.server.datasets`); a form error is shown
on the page, never a 500.
"""

from __future__ import annotations

import difflib
import re
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from heron.datasets import io as files
from heron.datasets.from_traces import DEFAULT_SELECTED, MAX_SELECTED, parse_selection
from heron.datasets.spec import DatasetSpec, ItemSpec, description, name
from heron.errors import BadRequest, HeronError, NotFound
from heron.experiments import Options, compare_runs, item_page, rank_items, summarize_runs
from heron.experiments.items import page_ids
from heron.server import annotation_queues as queue_api
from heron.server.api import ListParams, list_params
from heron.server.consistency import read_view
from heron.server.experiments_compare import MAX_RUNS, run_names
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.listpage import apply_range, filters_json
from heron.server.web.payload import classify
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.store import Store
from heron.store.datasets import ItemFilter, now

router = APIRouter(include_in_schema=False)

PATH = "/datasets"
PAGE_SIZE = 50
LIST_SIZE = 100
COMPARE_ITEMS = 50  # items side by side on the compare page
MAX_DIFF_WORDS = 4000  # words and spaces of two outputs marked word by word


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


def _chosen_dataset(store: Store, project_id: str, form: dict[str, str]) -> str:
    """The form's dataset: ``new_dataset`` (created when missing), else ``dataset``."""
    if form["new_dataset"]:
        dataset = name(form["new_dataset"], "new dataset")
        if store.get_dataset(project_id, dataset) is None:
            store.create_dataset(project_id, DatasetSpec(name=dataset))
        return dataset
    dataset = name(form["dataset"] or None, "dataset")
    _dataset_or_404(store, project_id, dataset)
    return dataset


# -- adding one trace or observation -----------------------------------------------------------


def editable(value: Any) -> str:
    """A payload as the add form's text box shows it: JSON, indented (a string holding JSON is
    shown parsed; other strings as they are)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        if isinstance(value, str):
            return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def parse_editable(text: str) -> Any:
    """What a text box holds: its JSON when it parses as JSON, else the text; empty is None."""
    text = text.strip()
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _source(store: Store, project_id: str, trace_id: str, observation_id: str) -> dict[str, Any]:
    """The trace (or its observation) the add form copies: ``{trace_id, observation_id,
    input, output}``; a 404 when it is not in this project."""
    try:
        trace = store.get_trace(project_id, trace_id)
    except NotFound:
        raise not_found(f"trace {trace_id[:100]!r}") from None
    if not observation_id:
        return {"trace_id": trace["id"], "observation_id": "",
                "input": trace.get("input"), "output": trace.get("output")}  # fmt: skip
    stack = list(trace.get("observations") or [])
    while stack:
        node = stack.pop()
        if node["id"] == observation_id:
            return {"trace_id": trace["id"], "observation_id": node["id"],
                    "input": node.get("input"), "output": node.get("output")}  # fmt: skip
        stack.extend(node.get("children") or [])
    raise not_found(f"observation {observation_id[:100]!r} in this trace")


def _add_context(
    store: Store, project_id: str, trace_id: str, observation_id: str
) -> dict[str, Any]:
    source = _source(store, project_id, trace_id, observation_id)
    datasets, _ = store.list_datasets(project_id, 1, LIST_SIZE)
    form = {"dataset": "", "new_dataset": "", "input": editable(source["input"]),
            "expected_output": editable(source["output"])}  # fmt: skip
    return {"source": source, "datasets": datasets, "form": form, "error": None}


@router.get(PATH + "/add")
async def add_page(
    request: Request, trace: str = "", observation: str = "", scope: Scope = Depends(page_scope)
) -> Response:
    """The form adding one trace (or one of its observations) to a dataset: its input and
    output prefilled as the item's input and expected output, editable."""
    scope.require("write")
    await read_view(request)
    context = await run_in_threadpool(
        _add_context, state_of(request).store, scope.project_id, trace, observation
    )
    return page(request, "dataset_add.html", scope.context(**context))


def _add(store: Store, project_id: str, form: dict[str, str]) -> str:
    """Store the item the add form describes; the dataset's name (created when new)."""
    source = _source(store, project_id, form["trace_id"], form["observation_id"])
    dataset = _chosen_dataset(store, project_id, form)
    item = ItemSpec(
        input=parse_editable(form["input"]),
        expected_output=parse_editable(form["expected_output"]),
        source_trace_id=source["trace_id"],
        source_observation_id=source["observation_id"] or None,
    )
    store.put_dataset_item(project_id, dataset, item)
    return dataset


@router.post(PATH + "/add")
async def add_item(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    scope.require("write")
    raw = await request.form()
    keys = ("trace_id", "observation_id", "dataset", "new_dataset", "input", "expected_output")
    form = {k: _text(raw, k) for k in keys}
    store = state_of(request).store
    try:
        dataset = await run_in_threadpool(_add, store, scope.project_id, form)
    except BadRequest as exc:
        context = await run_in_threadpool(
            _add_context, store, scope.project_id, form["trace_id"], form["observation_id"]
        )
        context.update(form={**context["form"], **form}, error=exc.message)
        return page(request, "dataset_add.html", scope.context(**context), 400)
    return RedirectResponse(
        dataset_url(scope.project_id, dataset, notice="Added an item."), status_code=303
    )


# -- adding the traces list's selection -------------------------------------------------------


@router.get(PATH + "/fill")
async def fill_page(
    request: Request, scope: Scope = Depends(page_scope), p: ListParams = Depends(list_params)
) -> Response:
    """The form adding the traces the traces list shows (its filter and time range, its query
    string as it is) to a dataset; ``size`` caps how many (newest first)."""
    scope.require("write")
    store = state_of(request).store
    error = None
    body: dict[str, Any] = {"limit": DEFAULT_SELECTED}
    issue_id = request.query_params.get("issue", "")
    if issue_id:
        if await run_in_threadpool(store.get_issue, scope.project_id, issue_id) is None:
            raise not_found(f"issue {issue_id[:100]!r}")
        body["issueId"] = issue_id
    else:
        apply_range(request, p)
        try:
            body["filter"] = filters_json(p)
        except BadRequest as exc:
            error = exc.message
    datasets, _ = await run_in_threadpool(store.list_datasets, scope.project_id, 1, LIST_SIZE)
    context = scope.context(
        datasets=datasets, body=body, body_json=orjson.dumps(body).decode(), error=error,
        search=p.search, max_selected=MAX_SELECTED, issue_id=issue_id,
    )  # fmt: skip
    return page(request, "dataset_fill.html", context, 400 if error else 200)


def _issue_traces(store: Store, project_id: str, body: dict[str, Any]) -> list[str]:
    """The traces of the issue's newest signals, at most ``limit`` traces."""
    issue_id, limit = str(body["issueId"]), body.get("limit", DEFAULT_SELECTED)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SELECTED:
        raise BadRequest(f"limit: between 1 and {MAX_SELECTED:,}, got {limit!r}"[:200])
    if store.get_issue(project_id, issue_id) is None:
        raise not_found(f"issue {issue_id[:100]!r}")
    signals, _ = store.list_signals(project_id, issue_id=issue_id, limit=limit * 10)
    ids = list(dict.fromkeys(s["trace_id"] for s in signals if s.get("trace_id")))[:limit]
    if not ids:
        raise BadRequest("issue: it has no traces to add")
    return ids


def _fill(store: Store, project_id: str, form: dict[str, str]) -> tuple[str, dict[str, int]]:
    dataset = _chosen_dataset(store, project_id, form)
    try:
        body = orjson.loads(form["body"] or "null")
    except orjson.JSONDecodeError:
        raise BadRequest("The form was damaged; go back to the traces list.") from None
    size = form["size"]
    if isinstance(body, dict) and size:
        body["limit"] = int(size) if size.isdigit() else size
    if isinstance(body, dict) and "issueId" in body:
        body = {"traceIds": _issue_traces(store, project_id, body)}
    result = store.dataset_items_from_traces(project_id, dataset, parse_selection(body))
    return dataset, result


@router.post(PATH + "/fill")
async def fill_dataset(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Copy the traces the fill form describes into the dataset (the API's from-traces); the
    dataset's page then says how many items were created and skipped."""
    scope.require("write")
    raw = await request.form()
    form = {k: _text(raw, k) for k in ("dataset", "new_dataset", "body", "size")}
    await read_view(request)
    try:
        dataset, result = await run_in_threadpool(
            _fill, state_of(request).store, scope.project_id, form
        )
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    notice = f"From traces: {result['created']} created, {result['skipped']} skipped."
    return RedirectResponse(dataset_url(scope.project_id, dataset, notice=notice), status_code=303)


# -- adding an annotation queue's completed items ----------------------------------------------

QUEUE_ITEMS = 1000  # completed items read per "add to a dataset" of a queue
_CORRECTION = re.compile(r"correct|expected|fixed|answer", re.IGNORECASE)


def correction_configs(
    store: Store, project_id: str, queue: dict[str, Any]
) -> list[dict[str, Any]]:
    """The queue's TEXT score configs whose name says they hold a corrected answer
    ("corrected answer", "expected output", "fixed reply", ...): their value becomes the
    item's expected output."""
    configs = queue_api.all_configs(store, project_id)
    return [
        configs[i] for i in queue["score_config_ids"]
        if i in configs and configs[i].get("dataType") == "TEXT"
        and _CORRECTION.search(configs[i]["name"])
    ]  # fmt: skip


def _queue_context(store: Store, project_id: str, queue_id: str) -> dict[str, Any]:
    queue = _queue_or_404(store, project_id, queue_id)
    datasets, _ = store.list_datasets(project_id, 1, LIST_SIZE)
    progress = store.queue_progress(project_id, queue_id)
    return {"queue": queue, "datasets": datasets, "progress": progress,
            "corrections": correction_configs(store, project_id, queue)}  # fmt: skip


def _queue_or_404(store: Store, project_id: str, queue_id: str) -> dict[str, Any]:
    try:
        return queue_api.queue_of(store, project_id, queue_id)
    except HeronError:
        raise not_found(f"annotation queue {queue_id[:100]!r}") from None


@router.get(PATH + "/from-queue")
async def from_queue_page(
    request: Request, queue: str = "", scope: Scope = Depends(page_scope)
) -> Response:
    """The form adding a queue's completed traces and observations to a dataset."""
    scope.require("write")
    context = await run_in_threadpool(
        _queue_context, state_of(request).store, scope.project_id, queue
    )
    return page(request, "dataset_from_queue.html", scope.context(**context))


def _from_queue(store: Store, project_id: str, form: dict[str, str]) -> tuple[str, int, int]:
    """Add the queue's completed items: (dataset, created, skipped)."""
    queue = _queue_or_404(store, project_id, form["queue"])
    dataset = _chosen_dataset(store, project_id, form)
    dataset_id = store.get_dataset(project_id, dataset)["id"]
    wanted = {c["id"] for c in correction_configs(store, project_id, queue)}
    corrected: dict[tuple[str | None, str | None], Any] = {}
    for score in store.queue_scores(project_id, queue["id"], sorted(wanted)):
        if score["string_value"]:  # newest last: a later answer wins
            corrected[score["item"][:2]] = score["string_value"]
    done, _ = store.list_queue_items(project_id, queue["id"], "COMPLETED", 1, QUEUE_ITEMS)
    new, skipped = [], 0
    for entry in done:
        if entry["object_type"] == "TRACE":
            trace_id, observation_id = entry["object_id"], ""
        elif entry["object_type"] == "OBSERVATION":
            observation_id = entry["object_id"]
            trace_id = store.observation_trace_id(project_id, observation_id) or ""
        else:
            skipped += 1  # a session has no one input and output
            continue
        held = ItemFilter(dataset_id, trace_id, observation_id or None)
        if not trace_id or store.list_dataset_items(project_id, held, 1, 1)[1]:
            skipped += 1
            continue
        try:
            source = _source(store, project_id, trace_id, observation_id)
        except PageError:
            skipped += 1  # deleted since it was annotated
            continue
        key = (trace_id, observation_id or None)
        expected = corrected[key] if key in corrected else source["output"]
        new.append(ItemSpec(input=source["input"], expected_output=expected,
                            source_trace_id=trace_id,
                            source_observation_id=observation_id or None))  # fmt: skip
    if new:
        store.put_dataset_items(project_id, dataset, new)
    return dataset, len(new), skipped


@router.post(PATH + "/from-queue")
async def from_queue(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    scope.require("write")
    raw = await request.form()
    form = {k: _text(raw, k) for k in ("queue", "dataset", "new_dataset")}
    await read_view(request)
    try:
        dataset, created, skipped = await run_in_threadpool(
            _from_queue, state_of(request).store, scope.project_id, form
        )
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    notice = f"From the queue: {created} created, {skipped} skipped."
    return RedirectResponse(dataset_url(scope.project_id, dataset, notice=notice), status_code=303)


# -- runs and their comparison ----------------------------------------------------------------


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """``after`` against ``before`` by words (whitespace kept): ``(op, text)`` pieces, op
    ``same``, ``added`` or ``removed``; the template escapes the text."""
    a, b = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    if len(a) + len(b) > MAX_DIFF_WORDS:  # difflib's time grows with the product: show as is
        return [("same", after)]
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("added", "".join(b[j1:j2])))
    return out


def _runs_context(store: Store, project_id: str, dataset: str) -> dict[str, Any]:
    found = _dataset_or_404(store, project_id, dataset)
    runs, total = store.list_dataset_runs(project_id, found["id"], 1, MAX_RUNS)
    summary: dict[str, Any] = {"runs": []}
    if runs:
        names = [r["name"] for r in runs]
        results = store.experiment_runs(project_id, dataset, names)
        run_scores = store.experiment_run_scores(project_id, [r.id for r in results])
        summary = summarize_runs(dataset, results, run_scores, Options())
    return {"dataset": found, "summary": summary, "total": total, "max_runs": MAX_RUNS}


@router.get(PATH + "/{dataset:path}/runs")
async def runs_page(request: Request, dataset: str, scope: Scope = Depends(page_scope)) -> Response:
    """The dataset's newest runs with their aggregates (intervals at 95%); pick runs to
    compare."""
    scope.require("read")
    await read_view(request)
    context = await run_in_threadpool(
        _runs_context, state_of(request).store, scope.project_id, dataset
    )
    return page(request, "dataset_runs.html", scope.context(**context))


def _compare_context(
    store: Store, project_id: str, dataset: str, names: list[str]
) -> dict[str, Any]:
    found = _dataset_or_404(store, project_id, dataset)
    options = Options()
    results = store.experiment_runs(project_id, dataset, names)
    tables = [compare_runs(dataset, results[0], other, options) for other in results[1:]]
    ranking = rank_items(results, options)
    ids = page_ids(ranking, 1, COMPARE_ITEMS)
    details = store.experiment_items(project_id, dataset, [r.id for r in results], ids)
    rows = item_page(ranking, results, 1, COMPARE_ITEMS, details, options)
    for row in rows:
        item = row["item"] or {}
        row["input_view"] = classify(item.get("input"))
        row["expected_view"] = classify(item.get("expected_output"))
        base = editable(row["runs"][0].get("output"))
        for r, run in enumerate(row["runs"]):
            text = editable(run.get("output"))
            run["diff"] = [("same", text)] if r == 0 else word_diff(base, text)
    return {"dataset": found, "names": names, "tables": tables, "items": rows,
            "item_total": len(ranking.item_ids), "shown": COMPARE_ITEMS}  # fmt: skip


@router.get(PATH + "/{dataset:path}/compare")
async def compare_page(
    request: Request, dataset: str, scope: Scope = Depends(page_scope)
) -> Response:
    """Two or more runs (``runs=a,b``; the first is the baseline): the paired statistics of
    each later run against the first, and the items side by side, worst change first."""
    scope.require("read")
    names = run_names(request)
    if len(names) < 2:
        raise BadRequest("runs: name at least two runs to compare")
    await read_view(request)
    context = await run_in_threadpool(
        _compare_context, state_of(request).store, scope.project_id, dataset, names
    )
    return page(request, "dataset_compare.html", scope.context(**context))


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
