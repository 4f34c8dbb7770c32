"""The annotator view: one queue item at a time, scored by keyboard.

``GET /annotation-queues/{id}/annotate`` is the page (``?item=<id>`` opens one item); the
rest are small JSON endpoints ``annotate.js`` calls, so moving on never reloads the page.
Each answers an item's payload (:func:`item_payload`): the object rendered on the server by
the trace page's payload renderer (``_annotate_item.html``), the annotator's own values and
note to prefill (a completed item is editable), and the queue's progress.

An open item is held by a lease (:meth:`Store.claim_queue_item`), so a second annotator never
gets it; opened by URL while another holds it, the page says so. Submitting writes one
ANNOTATION score per filled config through the one score path (``Store.write_scores``),
checked against the config (:func:`heron.scores.configs.parse_configured`), with an id
derived from (queue, item, config, user), so submitting again edits instead of adding; the
note is a comment on the object with such an id too. Viewers may not annotate (403).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from heron.errors import BadRequest, Conflict, NotFound
from heron.scores import ScoreError
from heron.scores.configs import parse_configured
from heron.server.annotation_agreement import queue_agreement
from heron.server.bodies import read_json
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import WebUser, csrf_user, not_found
from heron.server.web.charts import script_json
from heron.server.web.payload import classify
from heron.server.web.people import turn
from heron.server.web.render import environment, page
from heron.server.web.scope import Scope, page_scope
from heron.server.web.trace_page import _rows
from heron.store import Store

router = APIRouter(include_in_schema=False)

LEASE_S = 600  # an open item is held this long; every move renews the holder's lease
MAX_BODY = 64 * 1024
MAX_NOTE = 5000  # as a comment
MAX_TREE = 200  # observations listed for a trace shown as a tree
MAX_OPEN = 30  # of them, the first ones with their input and output rendered
MAX_TURNS = 100  # a session's turns shown


def score_id(queue_id: str, item_id: str, config_id: str, user_id: str) -> str:
    """The id of one person's score of one item under one config (so an edit replaces it)."""
    key = f"annotation\0{queue_id}\0{item_id}\0{config_id}\0{user_id}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def note_id(queue_id: str, item_id: str, user_id: str) -> str:
    """The id of one person's note on one item (a comment on the item's object)."""
    key = f"annotation-note\0{queue_id}\0{item_id}\0{user_id}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# -- reads ------------------------------------------------------------------------------------


def queue_configs(store: Store, project_id: str, queue: dict[str, Any]) -> list[dict[str, Any]]:
    """The queue's score configs in the queue's order (archived or deleted ones left out)."""
    found = store.score_configs_by_id(project_id, queue["score_config_ids"])
    return [
        found[c] for c in queue["score_config_ids"] if c in found and not found[c]["isArchived"]
    ]


def _target(store: Store, project_id: str, item: dict[str, Any]) -> dict[str, str | None]:
    """The score fields naming the item's object (trace, observation with its trace, or
    session)."""
    kind, oid = item["object_type"], item["object_id"]
    if kind == "TRACE":
        return {"traceId": oid}
    if kind == "OBSERVATION":
        return {"traceId": store.observation_trace_id(project_id, oid), "observationId": oid}
    return {"sessionId": oid}


def _trace_view(store: Store, project_id: str, trace_id: str, oid: str | None) -> dict[str, Any]:
    trace = store.get_trace(project_id, trace_id)
    rows, _ = _rows(trace)
    if oid is not None:
        o = next((r for r in rows if r["id"] == oid), None)
        if o is None:
            raise NotFound(f"observation {oid!r}")
        return {
            "kind": "observation",
            "trace": trace,
            "o": o,
            "input": classify(o.get("input")),
            "output": classify(o.get("output")),
            "metadata": classify(o.get("metadata")),
        }
    inp, out = classify(trace.get("input")), classify(trace.get("output"))
    chat = any(v is not None and v["kind"] == "chat" for v in (inp, out))
    tree = []
    if not chat:
        for n, o in enumerate(rows[:MAX_TREE]):
            opened = n < MAX_OPEN
            tree.append(
                {
                    "o": o,
                    "input": classify(o.get("input")) if opened else None,
                    "output": classify(o.get("output")) if opened else None,
                }
            )
    return {
        "kind": "trace",
        "trace": trace,
        "chat": chat,
        "input": inp,
        "output": out,
        "metadata": classify(trace.get("metadata")),
        "tree": tree,
        "more": max(len(rows) - MAX_TREE, 0),
    }


def object_view(store: Store, project_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """What ``_annotate_item.html`` shows of the item's object; ``kind`` "missing" when it
    was deleted."""
    kind, oid = item["object_type"], item["object_id"]
    try:
        if kind == "TRACE":
            return _trace_view(store, project_id, oid, None)
        if kind == "OBSERVATION":
            trace_id = store.observation_trace_id(project_id, oid)
            if trace_id is None:
                raise NotFound(f"observation {oid!r}")
            return _trace_view(store, project_id, trace_id, oid)
        session = store.get_session(project_id, oid)
        traces = session["traces"]
        return {
            "kind": "session",
            "session": session,
            "turns": [turn(t) for t in traces[:MAX_TURNS]],
            "more": max(len(traces) - MAX_TURNS, 0),
        }
    except NotFound:
        return {"kind": "missing", "type": kind.lower(), "id": oid}


def _prefill(
    store: Store, project_id: str, queue_id: str, item_id: str, user_id: str,
    configs: list[dict[str, Any]],
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """The user's stored values by config id (in the form the inputs take) and note."""
    ids = {score_id(queue_id, item_id, c["id"], user_id): c for c in configs}
    found = store.scores_by_ids(project_id, list(ids))
    values: dict[str, Any] = {}
    for sid, s in found.items():
        config = ids[sid]
        kind = config["dataType"]
        if kind == "BOOLEAN":
            values[config["id"]] = bool(s["value"])
        elif kind in ("CATEGORICAL", "TEXT"):
            values[config["id"]] = s["string_value"]
        else:
            values[config["id"]] = s["value"]
    return values, store.annotation_note(project_id, note_id(queue_id, item_id, user_id)) or ""


def _item_json(item: dict[str, Any], mine: bool) -> dict[str, Any]:
    return {
        "id": item["id"],
        "objectType": item["object_type"],
        "objectId": item["object_id"],
        "status": item["status"],
        "position": item["position"],
        "annotations": item["annotations"],
        "annotatedByMe": mine,
    }


def item_payload(
    store: Store,
    project_id: str,
    queue: dict[str, Any],
    configs: list[dict[str, Any]],
    user_id: str,
    item: dict[str, Any] | None,
    message: str | None = None,
) -> dict[str, Any]:
    """What the page shows next: ``item`` (None when there is none to show, with a
    ``message`` saying why), its rendered ``html``, the user's ``values`` and ``note``, and
    ``progress`` (``{total, completed, pending, mine}``)."""
    progress = store.queue_progress(project_id, queue["id"], user_id)
    if item is None:
        message = message or "Nothing left for you to annotate in this queue."
        return {"item": None, "html": "", "values": {}, "note": "", "progress": progress,
                "message": message}  # fmt: skip
    mine = any(
        a["user_id"] == user_id for a in store.queue_annotators(project_id, queue["id"], item["id"])
    )
    values, note = _prefill(store, project_id, queue["id"], item["id"], user_id, configs)
    view = object_view(store, project_id, item)
    html = environment.get_template("_annotate_item.html").render(
        view=view, item=item, project_id=project_id
    )
    return {"item": _item_json(item, mine), "html": html, "values": values, "note": note,
            "progress": progress, "message": message}  # fmt: skip


# -- writes -----------------------------------------------------------------------------------


def _score_body(config: dict[str, Any], raw: Any, where: str) -> dict[str, Any]:
    """A Langfuse-shaped score body for one config's value from the page."""
    kind = config["dataType"]
    if kind == "BOOLEAN":
        if not isinstance(raw, bool):
            raise BadRequest(f"{where}: expected true or false, got {raw!r}")
        return {"value": 1 if raw else 0}
    if kind == "CATEGORICAL":
        if not isinstance(raw, str):
            raise BadRequest(f"{where}: expected a category's label, got {raw!r}")
        return {"value": raw}
    if kind == "TEXT":
        if not isinstance(raw, str):
            raise BadRequest(f"{where}: expected text, got {type(raw).__name__}")
        return {"value": raw}
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadRequest(f"{where}: expected a number, got {raw!r}")
    return {"value": raw}


def submit(
    store: Store,
    project_id: str,
    queue: dict[str, Any],
    configs: list[dict[str, Any]],
    user: WebUser,
    item: dict[str, Any],
    values: dict[str, Any],
    note: str,
    show_next: Callable[[dict[str, Any] | None], dict[str, Any]],
) -> dict[str, Any]:
    """Save the user's annotation of the item and answer ``show_next`` of the next free item
    after it (None: nothing left), which the user then holds: the note is stored, the
    annotation recorded (the item completes with the queue's number of annotators), the
    scores written and the ones the user cleared removed."""
    by_id = {c["id"]: c for c in configs}
    unknown = sorted(set(values) - set(by_id))
    if unknown:
        raise BadRequest(f"values.{unknown[0][:100]}: not a score config of this queue")
    if not values and not note.strip():
        raise BadRequest("values: set at least one value (or write a note), or skip with s")
    target = {k: v for k, v in _target(store, project_id, item).items() if v is not None}
    now = datetime.now(UTC)
    records = []
    for cid, raw in values.items():
        config = by_id[cid]
        body = {
            **_score_body(config, raw, f"values.{config['name']}"),
            **target,
            "id": score_id(queue["id"], item["id"], cid, user.id),
            "name": config["name"],
            "configId": cid,
            "queueId": queue["id"],
            "source": "ANNOTATION",
            "author": user.id,
            "timestamp": now.isoformat(),
            "metadata": {"queueItemId": item["id"]},
        }
        try:
            records.append(parse_configured(body, project_id, by_id, f"values.{config['name']}."))
        except ScoreError as exc:
            raise BadRequest(str(exc)) from None
    if item["lease_user_id"] not in (None, user.id):
        raise Conflict("another annotator holds this item; it was not saved")
    nid = note_id(queue["id"], item["id"], user.id)
    about = (item["object_type"], item["object_id"], target.get("traceId"))
    nxt = store.finish_queue_item(
        project_id, queue["id"], item["id"], user.id, (nid, about, note), LEASE_S
    )
    shown = show_next(nxt)
    # The scores go last, once the next item is drawn: writing them wakes the background
    # runner (trace rules follow scores), whose work would otherwise slow this step down.
    store.write_scores(records)
    cleared = [score_id(queue["id"], item["id"], c, user.id) for c in set(by_id) - set(values)]
    for sid in store.scores_by_ids(project_id, cleared):  # only the ones stored
        store.delete_score(project_id, sid)
    return shown


def undo(
    store: Store,
    project_id: str,
    queue: dict[str, Any],
    configs: list[dict[str, Any]],
    user_id: str,
    item_id: str,
) -> dict[str, Any] | None:
    """Delete the user's scores and note of the item and re-open it for them (None when
    another annotator holds it now)."""
    item = store.reopen_queue_item(project_id, queue["id"], item_id, user_id, LEASE_S)
    if item is None:
        return None
    for c in configs:
        store.delete_score(project_id, score_id(queue["id"], item_id, c["id"], user_id))
    store.delete_annotation_note(project_id, note_id(queue["id"], item_id, user_id))
    return item


# -- routes -----------------------------------------------------------------------------------


class Ctx:
    """A request's queue, configs and user (the role checked)."""

    def __init__(self, scope: Scope, queue: dict[str, Any], configs: list[dict[str, Any]]):
        self.scope, self.queue, self.configs = scope, queue, configs
        self.pid = scope.project_id
        self.user_id = scope.user.id


async def _ctx(request: Request, scope: Scope, queue_id: str) -> Ctx:
    if scope.project is None:
        raise not_found("annotation queue")
    scope.require("write")  # viewers read queues but do not annotate
    store = state_of(request).store
    await read_view(request)
    queue = await run_in_threadpool(store.get_annotation_queue, scope.project_id, queue_id)
    if queue is None or queue["id"] != queue_id:
        raise not_found(f"annotation queue {queue_id[:100]!r}")
    configs = await run_in_threadpool(queue_configs, store, scope.project_id, queue)
    return Ctx(scope, queue, configs)


def _held_message() -> str:
    return (
        "Another annotator has this item open. It is theirs until they finish or their "
        "lease ends; press n for your next item."
    )


def _open(store: Store, c: Ctx, item_id: str) -> dict[str, Any]:
    """The payload of one item by id, held for the user (or the message that another holds
    it)."""
    item = store.get_queue_item(c.pid, c.queue["id"], item_id)
    if item is None:
        raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
    claimed = store.claim_queue_item(c.pid, c.queue["id"], c.user_id, LEASE_S, item_id)
    if claimed is None:
        return item_payload(store, c.pid, c.queue, c.configs, c.user_id, None, _held_message())
    return item_payload(store, c.pid, c.queue, c.configs, c.user_id, claimed)


def _next(store: Store, c: Ctx, after: int | None) -> dict[str, Any]:
    if after is None:
        item = store.claim_queue_item(c.pid, c.queue["id"], c.user_id, LEASE_S)
    else:
        item = store.claim_queue_item_after(c.pid, c.queue["id"], c.user_id, after, LEASE_S)
    return item_payload(store, c.pid, c.queue, c.configs, c.user_id, item)


def _item_id(body: Any) -> str:
    value = body.get("itemId") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise BadRequest("itemId: required, an item id")
    return value


def _position(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**62:
        raise BadRequest(f"{key}: expected a queue position (a whole number), got {value!r}")
    return value


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


@router.get("/annotation-queues/{queue_id}/annotate")
async def annotate_page(
    request: Request, queue_id: str, item: str | None = None, scope: Scope = Depends(page_scope)
) -> Response:
    c = await _ctx(request, scope, queue_id)
    store = state_of(request).store
    if item:
        first = await run_in_threadpool(_open, store, c, item[:200])
    else:
        first = await run_in_threadpool(_next, store, c, None)
    context = scope.context(
        queue=c.queue,
        configs=c.configs,
        first=first,
        boot_json=script_json({"queueId": c.queue["id"], "projectId": c.pid, "first": first,
                               "configs": c.configs}),
        api=f"/annotation-queues/{c.queue['id']}/annotate",
    )  # fmt: skip
    return page(request, "annotate.html", context)


@router.post("/annotation-queues/{queue_id}/annotate/next")
async def annotate_next(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """The next free item after ``after`` (a queue position; without it, the one the user
    holds or the first free one)."""
    c = await _ctx(request, scope, queue_id)
    after = _position(await _body(request), "after")
    store = state_of(request).store
    return JSONResponse(await run_in_threadpool(_next, store, c, after))


@router.post("/annotation-queues/{queue_id}/annotate/open")
async def annotate_open(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """One item by id (``itemId``), or the one before or after a position (``from`` and
    ``step`` -1 or 1, completed items included: the j/k keys)."""
    c = await _ctx(request, scope, queue_id)
    body = await _body(request)
    store = state_of(request).store
    if "itemId" in body:
        return JSONResponse(await run_in_threadpool(_open, store, c, _item_id(body)))
    start = _position(body, "from")
    step = body.get("step")
    if start is None or step not in (-1, 1):
        raise BadRequest("open: send itemId, or from (a position) and step (-1 or 1)")

    def move() -> dict[str, Any]:
        found = store.queue_item_neighbour(c.pid, c.queue["id"], start, step)
        if found is None:
            end = "first" if step < 0 else "last"
            payload = item_payload(store, c.pid, c.queue, c.configs, c.user_id, None)
            return {**payload, "message": f"This is the {end} item of the queue.", "end": True}
        return _open(store, c, found["id"])

    return JSONResponse(await run_in_threadpool(move))


@router.post("/annotation-queues/{queue_id}/annotate/submit")
async def annotate_submit(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """Save the user's ``values`` (by config id) and ``note`` for ``itemId``, complete it
    for them, and answer the next free item after it."""
    c = await _ctx(request, scope, queue_id)
    body = await _body(request)
    item_id = _item_id(body)
    values = {} if body.get("values") is None else body["values"]
    note = "" if body.get("note") is None else body["note"]
    if not isinstance(values, dict):
        raise BadRequest("values: expected an object of config id to value")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise BadRequest(f"note: text of at most {MAX_NOTE} characters")
    store = state_of(request).store

    def run() -> dict[str, Any]:
        item = store.get_queue_item(c.pid, c.queue["id"], item_id)
        if item is None:
            raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")

        def show(nxt: dict[str, Any] | None) -> dict[str, Any]:
            return item_payload(store, c.pid, c.queue, c.configs, c.user_id, nxt)

        payload = submit(store, c.pid, c.queue, c.configs, user, item, values, note, show)
        return {**payload, "saved": item_id}

    return JSONResponse(await run_in_threadpool(run))


@router.post("/annotation-queues/{queue_id}/annotate/skip")
async def annotate_skip(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """Leave ``itemId`` for later (or for someone else) and answer the next free item."""
    c = await _ctx(request, scope, queue_id)
    item_id = _item_id(await _body(request))
    store = state_of(request).store

    def run() -> dict[str, Any]:
        item = store.get_queue_item(c.pid, c.queue["id"], item_id)
        if item is None:
            raise NotFound(f"item {item_id[:100]!r} not found in this annotation queue")
        payload = _next(store, c, item["position"])
        if payload["item"] is None or payload["item"]["id"] == item_id:
            store.release_queue_item(c.pid, c.queue["id"], item_id, c.user_id)
            left = "No other item is free; the skipped one stays for later."
            payload = item_payload(store, c.pid, c.queue, c.configs, c.user_id, None, left)
        return payload

    return JSONResponse(await run_in_threadpool(run))


@router.post("/annotation-queues/{queue_id}/annotate/undo")
async def annotate_undo(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """Undo the user's last submission (``itemId``): its scores and note are deleted and the
    item is open again for them."""
    c = await _ctx(request, scope, queue_id)
    item_id = _item_id(await _body(request))
    store = state_of(request).store

    def run() -> dict[str, Any]:
        item = undo(store, c.pid, c.queue, c.configs, c.user_id, item_id)
        if item is None:
            raise Conflict("another annotator has this item open now; it was not undone")
        return {**item_payload(store, c.pid, c.queue, c.configs, c.user_id, item),
                "undone": item_id}  # fmt: skip

    return JSONResponse(await run_in_threadpool(run))


@router.post("/annotation-queues/{queue_id}/annotate/release")
async def annotate_release(
    request: Request,
    queue_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> JSONResponse:
    """Give the user's item back when they leave the page (a beacon: form fields
    ``csrf_token`` and ``itemId``)."""
    c = await _ctx(request, scope, queue_id)
    item_id = _item_id(dict(await request.form()))
    store = state_of(request).store
    released = await run_in_threadpool(
        store.release_queue_item, c.pid, c.queue["id"], item_id, c.user_id
    )
    return JSONResponse({"released": released})


@router.get("/annotation-queues/{queue_id}/agreement")
async def agreement_page(
    request: Request, queue_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    """The queue's inter-annotator agreement (``_queue_agreement.html``, which the queue
    page includes too); viewers may read it."""
    if scope.project is None:
        raise not_found("annotation queue")
    store = state_of(request).store
    await read_view(request)
    queue = await run_in_threadpool(store.get_annotation_queue, scope.project_id, queue_id)
    if queue is None or queue["id"] != queue_id:
        raise not_found(f"annotation queue {queue_id[:100]!r}")
    found = await run_in_threadpool(queue_agreement, store, scope.project_id, queue)
    return page(request, "queue_agreement.html", scope.context(queue=queue, agreement=found))
