"""Alerts on aggregates over HTTP: list, read, put, delete, history, backtest.

Every route is scoped to the key's project (reads need a ``read`` or ``full`` key, changes a
``full`` key; a backtest only reads). Bodies use the configuration format of
:func:`heron.signals.alerts.check_alert`; a problem is a 400 naming its path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.errors import BadRequest, NotFound
from heron.evals.spec import Problems
from heron.query.filters import FilterError, parse_time
from heron.server import schemas
from heron.server.bodies import read_json
from heron.server.evaluators import project_of
from heron.server.responses import JSON
from heron.server.signals import channel_names
from heron.server.state import ServerState, state_of
from heron.signals.alerts import check_alert, export_alert
from heron.signals.evaluate import STATES, Judgement, Plan, episodes, run_backtest
from heron.store.reads import iso

router = APIRouter(
    tags=["alerts"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_BACKTEST_EVALUATIONS = 50_000
MAX_LISTED_EVALUATIONS = 5_000  # a backtest lists its evaluations up to this many, else counts
MAX_HISTORY = 10_000


async def _json(request: Request) -> Any:
    return await read_json(request, state_of(request).settings.max_body_bytes)


def check(raw: Any, channels: set[str], path: str = "alert") -> tuple[str, dict[str, Any]]:
    """A checked alert, or a 400 listing every problem with its path."""
    problems = Problems()
    name, spec = check_alert(raw, path, problems, channels=channels)
    if problems or spec is None or name is None:
        raise BadRequest("; ".join(f"{p}: {m}" for p, m in problems.items) or "invalid alert")
    return name, spec


def alert_view(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": alert["name"],
        "state": alert["state"],
        "since": iso(alert["since"]),
        "value": alert["value"],
        "evaluated_at": iso(alert["evaluated_at"]),
        "enabled": alert["spec"].get("enabled", True),
        "definition": export_alert(alert["name"], alert["spec"]),
        "updated_at": iso(alert["updated_at"]),
    }


def evaluation_view(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": iso(e["eval_time"]),
        "window_start": iso(e["window_start"]),
        "value": e["value"],
        "lower": e["lower"],
        "upper": e["upper"],
        "state": e["state"],
        "detail": e["detail"],
    }


def _named(st: ServerState, project_id: str, name: str) -> dict[str, Any]:
    alert = st.store.get_alert(project_id, name)
    if alert is None:
        raise NotFound(f"alert {name!r} not found")
    return alert


@router.get("/api/alerts", summary="List alerts with their states")
def list_alerts(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    """Each alert with ``name``, ``state`` (null before its first evaluation), last value
    and evaluation time."""
    return {"data": [alert_view(a) for a in state_of(request).store.list_alerts(project_id)]}


@router.get("/api/alerts/{name}", summary="An alert and its state")
def get_alert(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    return alert_view(_named(state_of(request), project_id, name))


@router.put("/api/alerts/{name}", summary="Create or replace an alert")
async def put_alert(request: Request, name: str, project_id: str = Depends(project_of)) -> Response:
    """An alert in the configuration format (``name`` optional, else the path's). A changed
    definition starts from no state; its history stays."""
    st = state_of(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("body: expected an alert object")
    if body.get("name", name) != name:
        raise BadRequest("name: the body names another alert than the path")
    channels = await run_in_threadpool(channel_names, st, project_id)
    _, spec = check({**body, "name": name}, channels)
    action = await run_in_threadpool(st.store.put_alert, project_id, name, spec)
    view = alert_view(await run_in_threadpool(_named, st, project_id, name))
    return JSON({**view, "action": action}, 201 if action == "created" else 200)


@router.delete("/api/alerts/{name}", summary="Delete an alert and its history")
def delete_alert(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    if not state_of(request).store.delete_alert(project_id, name):
        raise NotFound(f"alert {name!r} not found")
    return {"deleted": name}


@router.get("/api/alerts/{name}/history", summary="An alert's evaluations, newest first")
def history(
    request: Request,
    name: str,
    project_id: str = Depends(project_of),
    from_: str | None = Query(None, alias="from", description="ISO 8601; inclusive"),
    to: str | None = Query(None, description="ISO 8601; exclusive"),
    limit: int = Query(1000, ge=1, le=MAX_HISTORY),
) -> dict[str, Any]:
    st = state_of(request)
    _named(st, project_id, name)
    try:
        start = parse_time(from_, "from") if from_ else None
        end = parse_time(to, "to") if to else None
    except FilterError as exc:
        raise BadRequest(str(exc)) from None
    rows = st.store.alert_history(project_id, name, start, end, limit)
    return {"data": [evaluation_view(r) for r in rows]}


@router.post("/api/alerts/backtest", summary="How often an alert would have fired")
async def backtest(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    """``{"alert": <alert, name optional>, "from", "to"}``: the alert judged at each of its
    evaluation times in ``[from, to]`` over stored data. Consecutive ``ALERT`` evaluations
    form one episode ``{start, end, peak}``. At most 50,000 evaluations."""
    st = state_of(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("body: expected {alert, from, to}")
    unknown = sorted(set(body) - {"alert", "from", "to"})
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field (expected alert, from, to)")
    raw = body.get("alert")
    if not isinstance(raw, dict):
        raise BadRequest("alert: expected an alert object as in the configuration format")
    raw = {"name": "backtest", **raw}
    notify = raw.get("notify")
    # a backtest sends nothing: the channels it names need not exist
    channels = {c for c in notify if isinstance(c, str)} if isinstance(notify, list) else set()
    _, spec = check(raw, channels, "alert")
    try:
        start = parse_time(body.get("from"), "from")
        end = parse_time(body.get("to"), "to")
    except FilterError as exc:
        raise BadRequest(str(exc)) from None
    if start >= end:
        raise BadRequest("from must be before to")
    plan = Plan.of(spec)
    count = int((end - start) / plan.every)
    if count > MAX_BACKTEST_EVALUATIONS:
        raise BadRequest(
            f"from..to at every {spec['every']} is {count} evaluations; at most "
            f"{MAX_BACKTEST_EVALUATIONS} (shorten the range or evaluate less often)"
        )
    judgements = await run_in_threadpool(backtest_judgements, st, project_id, plan, start, end)
    return backtest_view(plan, judgements)


def backtest_judgements(
    st: ServerState, project_id: str, plan: Plan, start: datetime, end: datetime
) -> list[Judgement]:
    """Every evaluation of ``plan`` over [start, end), within the store's query timeout."""
    return run_backtest(st.store, project_id, plan, start, end)


def backtest_view(plan: Plan, judgements: list[Judgement]) -> dict[str, Any]:
    found = episodes(plan, judgements)
    states = {s: 0 for s in STATES}
    for j in judgements:
        states[j.state] += 1
    out: dict[str, Any] = {
        "episodes": [
            {**e, "start": iso(e["start"]), "end": iso(e["end"]), "peak_at": iso(e["peak_at"])}
            for e in found
        ],
        "count": len(judgements),
        "states": states,
        "window": plan.spec["window"],
        "every": plan.spec["every"],
    }
    if len(judgements) <= MAX_LISTED_EVALUATIONS:
        out["evaluations"] = [
            {
                "time": iso(j.time),
                "value": j.value,
                "lower": j.lower,
                "upper": j.upper,
                "state": j.state,
            }
            for j in judgements
        ]
    return out
