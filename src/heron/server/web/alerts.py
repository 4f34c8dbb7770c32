"""The alert pages: the list (``/alerts``: state, metric, window and every, last value and
evaluation, channels) and the editor (``/alerts/new``, ``/alerts/{name}``): the definition as
YAML in a textarea, a backtest over stored data before saving (the metric over time with its
thresholds or anomaly band and the firing episodes, drawn by ``static/alerts.js``), save,
delete, and the alert's evaluation history below.

Viewers read; members and above backtest, save and delete (``write``). Checks are the
API's (:func:`heron.signals.alerts.check_alert`): a definition with problems comes back
above the kept text, every problem with its path, as a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heron.config.document import ConfigError
from heron.errors import HeronError
from heron.evals.spec import Problems
from heron.query.filters import FilterError, parse_time
from heron.server import alerts as api
from heron.server.signals import channel_names
from heron.server.state import state_of
from heron.server.web import evaluator_editor as editor
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.charts import script_json
from heron.server.web.dashboards import PLOTLY_URL
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.signals.alerts import check_alert, export_alert
from heron.signals.evaluate import Plan, episodes
from heron.store.reads import iso

router = APIRouter(include_in_schema=False)

HISTORY_SHOWN = 200
MAX_CHART_POINTS = 20_000  # 7 days every 30 s
BACKTEST_DAYS = 7
Problem = tuple[str | None, str]
KEY_ORDER = (
    "name", "description", "query", "window", "every", "lag", "condition", "anomaly",
    "no_data", "renotify", "notify", "enabled",
)  # fmt: skip
STARTER = {
    "name": "slow-answers",
    "description": "Median latency of traces above 5 s",
    "query": {"view": "traces", "metric": {"measure": "latency", "aggregation": "p50"},
              "filters": []},
    "window": "5m",
    "every": "1m",
    "condition": {"operator": ">", "warning": 2000, "alert": 5000},
    "notify": [],
}  # fmt: skip


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _q(scope: Scope) -> str:
    return urlencode({"project": scope.project_id})


def alert_url(scope: Scope, name: str) -> str:
    return f"/alerts/{quote(name, safe='')}?" + _q(scope)


def definition_text(name: str, spec: dict[str, Any]) -> str:
    exported = export_alert(name, spec)
    first = {k: exported[k] for k in KEY_ORDER if k in exported}
    return editor.dump({**first, **exported})


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _wall(iso: str) -> str:
    return iso.replace("T", " ").removesuffix("Z")


def _default_range() -> dict[str, str]:
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return {"from": _iso(end - timedelta(days=BACKTEST_DAYS)), "to": _iso(end)}


def _metric(spec: dict[str, Any]) -> str:
    query = spec.get("query") or {}
    metric = query.get("metric") or {}
    return f"{metric.get('aggregation', '?')}({metric.get('measure', '?')}) of {query.get('view')}"


def _list_view(alert: dict[str, Any]) -> dict[str, Any]:
    spec = alert["spec"]
    return {
        "name": alert["name"],
        "state": alert["state"],
        "metric": _metric(spec),
        "filters": (spec.get("query") or {}).get("filters") or [],
        "window": spec.get("window"),
        "every": spec.get("every"),
        "value": alert["value"],
        "evaluated_at": alert["evaluated_at"],
        "notify": spec.get("notify") or [],
        "enabled": spec.get("enabled", True),
    }


@router.get("/alerts")
async def alerts_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """Every alert of the project with its state and last evaluation."""
    if scope.project is None:
        return page(request, "alerts.html", scope.context(alerts=[]))
    scope.require("read")
    st = state_of(request)
    rows = await run_in_threadpool(st.store.list_alerts, scope.project_id)
    return page(request, "alerts.html", scope.context(alerts=[_list_view(a) for a in rows]))


# -- the editor ----------------------------------------------------------------------------


async def _editor(
    request: Request,
    scope: Scope,
    text: str,
    editing: str,
    fields: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
    backtest: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)

    def load() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if not editing:
            return None, []
        alert = st.store.get_alert(scope.project_id, editing)
        if alert is None:
            return None, []
        rows = st.store.alert_history(scope.project_id, editing, None, None, HISTORY_SHOWN)
        return alert, [api.evaluation_view(r) for r in rows]

    alert, history = await run_in_threadpool(load)
    if editing and alert is None:
        raise not_found(f"alert {editing!r}")
    channels = sorted(await run_in_threadpool(channel_names, st, scope.project_id))
    context = scope.context(
        definition=text,
        editing=editing,
        alert=_list_view(alert) if alert else None,
        history=history,
        fields=fields or _default_range(),
        problems=problems or [],
        backtest=backtest,
        backtest_json=script_json(backtest["chart"]) if backtest and backtest["chart"] else "",
        plotly_url=PLOTLY_URL,
        channels=channels,
        saved=request.query_params.get("saved", "")[:20],
    )
    return page(request, "alert_edit.html", context, status_code)


@router.get("/alerts/new")
async def new_alert(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    scope.require("write")
    return await _editor(request, scope, editor.dump(STARTER), "")


@router.get("/alerts/{name}")
async def alert_page(request: Request, name: str, scope: Scope = Depends(page_scope)) -> Response:
    scope.require("read")
    alert = await run_in_threadpool(state_of(request).store.get_alert, scope.project_id, name)
    if alert is None:
        raise not_found(f"alert {name!r}")
    return await _editor(request, scope, definition_text(alert["name"], alert["spec"]), name)


def _checked(raw: Any, channels: set[str], editing: str) -> tuple[str, dict[str, Any]]:
    """``(name, spec)``, or a :class:`ConfigError` naming every problem with its path."""
    if isinstance(raw, dict) and editing and "name" not in raw:
        raw = {**raw, "name": editing}
    problems = Problems()
    name, spec = check_alert(raw, "$", problems, channels=channels)
    if problems or spec is None or name is None:
        raise ConfigError(list(problems.items) or [("$", "invalid alert")])
    return name, spec


def _problems(exc: HeronError) -> list[Problem]:
    if isinstance(exc, ConfigError):
        return list(exc.problems)
    return [(None, exc.message)]


def _backtest(st: Any, project_id: str, raw: Any, fields: dict[str, str]) -> dict[str, Any]:
    """The unsaved definition judged over ``[from, to)``: the API's backtest view plus what
    the chart draws. A backtest sends nothing, so its channels need not exist."""
    if isinstance(raw, dict):
        raw = {"name": "backtest", **raw}
    notify = raw.get("notify") if isinstance(raw, dict) else None
    channels = {c for c in notify if isinstance(c, str)} if isinstance(notify, list) else set()
    _, spec = _checked(raw, channels, "")
    try:
        start = parse_time(fields["from"], "from")
        end = parse_time(fields["to"], "to")
    except FilterError as exc:
        raise ConfigError([("from/to", str(exc))]) from None
    if start >= end:
        raise ConfigError([("from", "must be before to")])
    plan = Plan.of(spec)
    count = int((end - start) / plan.every)
    if count > api.MAX_BACKTEST_EVALUATIONS:
        raise ConfigError([("from/to", f"from..to at every {spec['every']} is {count:,} "
                            f"evaluations; at most {api.MAX_BACKTEST_EVALUATIONS:,}")])  # fmt: skip
    judgements = api.backtest_judgements(st, project_id, plan, start, end)
    view = api.backtest_view(plan, judgements)
    view.pop("evaluations", None)
    view["chart"] = None
    if len(judgements) <= MAX_CHART_POINTS:
        view["chart"] = {  # times as UTC wall clock: Plotly reads no zone suffix
            "times": [_wall(iso(j.time)) for j in judgements],
            "values": [j.value for j in judgements],
            "lower": [j.lower for j in judgements],
            "upper": [j.upper for j in judgements],
            "condition": spec.get("condition"),
            "anomaly": spec.get("anomaly") is not None,
            "episodes": [  # each shaded to its last evaluation's next, so one is visible
                {"start": _wall(iso(e["start"])), "end": _wall(iso(e["end"] + plan.every))}
                for e in episodes(plan, judgements)
            ],
            "metric": _metric(spec),
        }
    return view


@router.post("/alerts/backtest")
async def backtest(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Judge the unsaved definition over stored data (fields ``from``, ``to``); nothing is
    stored. Members and above, as the editor is theirs."""
    scope.require("write")
    form = await request.form()
    text, editing = str(form.get("definition") or ""), _text(form, "editing")
    fields = {k: _text(form, k) for k in ("from", "to")}
    fields = {**_default_range(), **{k: v for k, v in fields.items() if v}}
    st = state_of(request)
    try:
        raw = editor.parse(text)
        view = await run_in_threadpool(_backtest, st, scope.project_id, raw, fields)
    except HeronError as exc:
        return await _editor(request, scope, text, editing, fields, _problems(exc), None, 400)
    return await _editor(request, scope, text, editing, fields, None, view)


def _save(st: Any, project_id: str, raw: Any, editing: str) -> tuple[str, str]:
    name, spec = _checked(raw, channel_names(st, project_id), editing)
    if editing and name != editing:
        raise ConfigError([("$.name", f"this page edits {editing}; to make another alert, "
                            "start a new one")])  # fmt: skip
    if editing and st.store.get_alert(project_id, editing) is None:
        raise ConfigError([("$.name", f"alert {editing} no longer exists")])
    if not editing and st.store.get_alert(project_id, name) is not None:
        raise ConfigError([("$.name", f"an alert named {name} exists: edit it, or choose "
                            "another name")])  # fmt: skip
    return name, st.store.put_alert(project_id, name, spec)


@router.post("/alerts")
async def save_alert(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Create an alert, or replace the one named in ``editing``; then its page."""
    scope.require("write")
    form = await request.form()
    text, editing = str(form.get("definition") or ""), _text(form, "editing")
    fields = {k: _text(form, k) for k in ("from", "to")}
    fields = {**_default_range(), **{k: v for k, v in fields.items() if v}}
    st = state_of(request)
    try:
        raw = editor.parse(text)
        name, action = await run_in_threadpool(_save, st, scope.project_id, raw, editing)
    except HeronError as exc:
        return await _editor(request, scope, text, editing, fields, _problems(exc), None, 400)
    return RedirectResponse(f"{alert_url(scope, name)}&saved={action}", status_code=303)


@router.post("/alerts/{name}/delete")
async def delete_alert(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete the alert and its history."""
    scope.require("write")
    found = await run_in_threadpool(state_of(request).store.delete_alert, scope.project_id, name)
    if not found:
        raise PageError(404, f"Not found: alert {name[:100]!r}.")
    return RedirectResponse("/alerts?" + _q(scope), status_code=303)
