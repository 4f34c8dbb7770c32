"""The issues inbox: the list (``/issues``, filters by status, rule and severity, sorted by
last seen or count, bulk resolve / ignore / reopen) and one issue (``/issues/{id}``: its
counts per hour, sample traces, users and sessions, and the signal timeline).

Viewers read; members and above change the status (``write``). Changes call the same
function as the JSON API (:func:`heron.server.signals.change_status`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heron.errors import HeronError
from heron.server import signals as api
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.signals.rules import SEVERITIES
from heron.store.signals import STATUSES

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SIGNALS_SHOWN = 50
_ACTIONS = {"resolve": "resolved", "ignore": "ignored", "open": "open"}


def _one(request: Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query_params.get(name, "")
    return value if value in allowed else ""


@router.get("/issues")
async def issues_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The project's issues with their counts; ``status``, ``rule``, ``severity`` and
    ``sort`` (``lastSeen`` or ``count``) in the query."""
    if scope.project is None:
        return page(request, "issues.html", scope.context(issues=[], total=0, filters={}))
    scope.require("read")
    filters = {
        "status": _one(request, "status", STATUSES),
        "severity": _one(request, "severity", SEVERITIES),
        "rule": request.query_params.get("rule", "")[:64],
        "sort": _one(request, "sort", ("lastSeen", "count")) or "lastSeen",
    }
    try:
        number = max(1, min(int(request.query_params.get("page", "1")), 10_000))
    except ValueError:
        number = 1
    st = state_of(request)

    def load() -> tuple[list[dict[str, Any]], int]:
        return st.store.list_issues(
            scope.project_id,
            status=[filters["status"]] if filters["status"] else [],
            rule=filters["rule"] or None,
            severity=[filters["severity"]] if filters["severity"] else [],
            sort="count" if filters["sort"] == "count" else "last_seen",
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )

    rows, total = await run_in_threadpool(load)
    query = {"project": scope.project_id, **{k: v for k, v in filters.items() if v}}
    context = scope.context(
        issues=[api.issue_view(i) for i in rows],
        total=total,
        filters=filters,
        statuses=STATUSES,
        severities=SEVERITIES,
        page_number=number,
        next_url=(
            "/issues?" + urlencode({**query, "page": number + 1})
            if number * PAGE_SIZE < total
            else None
        ),
        back_url="/issues?" + urlencode(query),
    )
    return page(request, "issues.html", context)


@router.get("/issues/{issue_id}")
async def issue_page(
    request: Request, issue_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    scope.require("read")
    st = state_of(request)
    end = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    end += timedelta(hours=1)

    def load() -> dict[str, Any] | None:
        issue = st.store.get_issue(scope.project_id, issue_id)
        if issue is None:
            return None
        detail = st.store.issue_detail(scope.project_id, issue_id, end, timedelta(hours=1), 48)
        signals, _ = st.store.list_signals(scope.project_id, issue_id=issue_id, limit=SIGNALS_SHOWN)
        return {"issue": api.issue_view(issue), "detail": detail, "signals": signals}

    found = await run_in_threadpool(load)
    if found is None:
        raise not_found(f"issue {issue_id[:100]!r}")
    series = found["detail"]["series"]
    peak = max((p["count"] for p in series), default=0) or 1
    context = scope.context(
        issue=found["issue"],
        bars=[{**p, "height": round(p["count"] / peak * 100, 1)} for p in series],
        samples=found["detail"]["sample_trace_ids"],
        users=found["detail"]["user_id"],
        sessions=found["detail"]["session_id"],
        signals=[api.signal_view(s) for s in found["signals"]],
    )
    return page(request, "issue.html", context)


@router.post("/issues/status")
async def change_status(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Form fields ``ids`` (one or more), ``action`` (resolve, ignore, open), optionally
    ``hours`` (ignore for that long) and ``next`` (where to go back)."""
    scope.require("write")
    form = await request.form()
    ids = [i for i in form.getlist("ids") if isinstance(i, str) and i][: api.MAX_LIMIT]
    action = form.get("action")
    if not ids or action not in _ACTIONS:
        raise PageError(400, "Pick at least one issue and an action (resolve, ignore, open).")
    body: dict[str, Any] = {"status": _ACTIONS[str(action)]}
    hours = form.get("hours")
    if action == "ignore" and isinstance(hours, str) and hours.strip():
        try:
            until = datetime.now(UTC) + timedelta(hours=int(hours))
        except (ValueError, OverflowError):
            raise PageError(400, "Ignore for: a whole number of hours.") from None
        body["ignoreUntil"] = until.isoformat()
    try:
        await run_in_threadpool(api.change_status, state_of(request), scope.project_id, ids, body)
    except HeronError as exc:
        raise PageError(exc.status_code, exc.message) from None
    back = form.get("next")
    if not isinstance(back, str) or not back.startswith("/issues") or "//" in back:
        back = "/issues?" + urlencode({"project": scope.project_id})
    return RedirectResponse(back, status_code=303)
