"""Trace rules, issues and signals over HTTP (docs/signals.md).

Every route is scoped to the key's project (or, with the admin token, the project it
names): reads need a ``read`` or ``full`` key, changes a ``full`` key. Rules take the
configuration form (:mod:`heron.signals.rules`); issues and signals answer camelCase JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from heron.config.document import ConfigError
from heron.errors import BadRequest, NotFound
from heron.evals.spec import Problems
from heron.query.filters import parse_time
from heron.server import schemas
from heron.server.bodies import read_json
from heron.server.evaluators import project_of
from heron.server.state import ServerState, state_of
from heron.signals.durations import parse_duration
from heron.signals.rules import BUILTINS, SEVERITIES, check_rule, effective_rules, export_rule
from heron.store.reads import iso
from heron.store.signals import STATUSES

router = APIRouter(
    tags=["signals"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

MAX_LIMIT = 100
MAX_BUCKETS = 200
_PATCH_KEYS = {"status", "ignoreUntil", "ignoreUntilCount"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def _json(request: Request) -> Any:
    return await read_json(request, state_of(request).settings.max_body_bytes)


def channel_names(st: ServerState, project_id: str) -> set[str]:
    """The project's notification channels (the names a rule may notify)."""
    return {c["name"] for c in st.store.list_channels(project_id)}


def refresh_rules(st: ServerState) -> None:
    """Let the runner's rules task see a change at once."""
    task = st.runner.tasks.get("rules") if st.runner is not None else None
    refresh = getattr(task, "refresh", None)
    if callable(refresh):
        refresh()


def _page(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": -(-total // limit)}


def _time(value: str | None, label: str) -> datetime | None:
    return parse_time(value, label) if value is not None else None


# -- rules ---------------------------------------------------------------------------------


def rule_view(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    plain = {k: v for k, v in spec.items() if k not in ("builtin", "overridden")}
    out = {
        "name": name,
        "builtin": spec["builtin"],
        "overridden": spec["overridden"],
        "enabled": spec["enabled"],
        "severity": spec["severity"],
        "target": spec["target"],
        "notify": list(spec.get("notify") or []),
        "definition": export_rule(name, plain),
    }
    if spec["builtin"]:
        out["description"] = BUILTINS[name]["description"]
    return out


def project_rules(st: ServerState, project_id: str) -> dict[str, dict[str, Any]]:
    """Every rule of the project: built-ins (with overrides) and stored rules."""
    stored = {r["name"]: r["spec"] for r in st.store.list_signal_rules(project_id)}
    return effective_rules(stored)


@router.get("/api/rules", summary="List trace rules (built-ins and the project's)")
def list_rules(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    rules = project_rules(state_of(request), project_id)
    return {"data": [rule_view(n, s) for n, s in rules.items()]}


@router.get("/api/rules/{name}", summary="A trace rule")
def get_rule(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    rules = project_rules(state_of(request), project_id)
    if name not in rules:
        raise NotFound(f"rule {name[:100]!r} not found in this project")
    return rule_view(name, rules[name])


def save_rule(st: ServerState, project_id: str, name: str, body: Any) -> dict[str, Any]:
    """Check and store a rule (or a built-in's override); its view and the action."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a rule object")
    if body.get("name", name) != name:
        raise BadRequest("name: the body names another rule than the path")
    problems = Problems()
    checked, spec = check_rule(
        {**body, "name": name}, "$", problems, channels=channel_names(st, project_id)
    )
    if problems or checked is None or spec is None:
        raise ConfigError(problems.items)
    action = st.store.put_signal_rule(project_id, name, spec)
    refresh_rules(st)
    return {**rule_view(name, project_rules(st, project_id)[name]), "action": action}


@router.put("/api/rules/{name}", summary="Create or update a trace rule")
async def put_rule(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    """A rule in the configuration form; under a built-in's name, its override (fields left
    out keep the built-in's values). 400 lists every problem with its path."""
    body = await _json(request)
    return await run_in_threadpool(save_rule, state_of(request), project_id, name, body)


@router.delete("/api/rules/{name}", summary="Delete a rule (a built-in: reset it)")
def delete_rule(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    """A stored rule is deleted (its signals and issues stay); a built-in goes back to its
    defaults."""
    st = state_of(request)
    found = st.store.delete_signal_rule(project_id, name)
    if not found and name not in BUILTINS:
        raise NotFound(f"rule {name[:100]!r} not found in this project")
    refresh_rules(st)
    if name in BUILTINS:
        return {"reset": name, **rule_view(name, project_rules(st, project_id)[name])}
    return {"deleted": name}


# -- issues --------------------------------------------------------------------------------


def issue_view(issue: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": issue["id"],
        "title": issue["title"],
        "rule": issue["rule"],
        "name": issue["name"],
        "severity": issue["severity"],
        "status": issue["status"],
        "fingerprint": issue["fingerprint"].replace("\x00", " | "),
        "count": issue["count"],
        "firstSeen": iso(issue["first_seen"]),
        "lastSeen": iso(issue["last_seen"]),
        "usersAffected": issue["users"],
        "sessionsAffected": issue["sessions"],
        "ignoreUntil": iso(issue["ignore_until"]) if issue["status"] == "ignored" else None,
        "ignoreUntilCount": issue["ignore_until_count"] if issue["status"] == "ignored" else None,
        "statusChangedAt": iso(issue["status_changed_at"]),
        "createdAt": iso(issue["created_at"]),
    }


def _choices(raw: str | None, allowed: tuple[str, ...], label: str) -> list[str]:
    if raw is None:
        return []
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise BadRequest(f"{label}: one or more of {', '.join(allowed)} (comma-separated)")
    return values


@router.get("/api/issues", summary="List issues (signals grouped by fingerprint)")
def list_issues(
    request: Request,
    project_id: str = Depends(project_of),
    status: str | None = Query(None, description="Comma-separated: open, resolved, ..."),
    rule: str | None = Query(None, max_length=64),
    severity: str | None = Query(None, description="Comma-separated severities."),
    from_: str | None = Query(None, alias="from", description="Seen at or after (ISO 8601)."),
    to: str | None = Query(None, description="Seen before (ISO 8601)."),
    sort: str = Query("lastSeen", description="lastSeen (newest first) or count."),
    page: int = Query(1, ge=1, le=100_000),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """``{data: [issue], meta: {page, limit, totalItems, totalPages}}``."""
    sorts = {"lastSeen": "last_seen", "count": "count"}
    if sort not in sorts:
        raise BadRequest("sort: lastSeen or count")
    start, end = _time(from_, "from"), _time(to, "to")
    rows, total = state_of(request).store.list_issues(
        project_id,
        status=_choices(status, STATUSES, "status"),
        rule=rule,
        severity=_choices(severity, SEVERITIES, "severity"),
        start=start,
        end=end,
        sort=sorts[sort],
        limit=limit,
        offset=(page - 1) * limit,
    )
    return {"data": [issue_view(i) for i in rows], "meta": _page(page, limit, total)}


def issue_of(st: ServerState, project_id: str, issue_id: str) -> dict[str, Any]:
    issue = st.store.get_issue(project_id, issue_id)
    if issue is None:
        raise NotFound(f"issue {issue_id[:100]!r} not found in this project")
    return issue


@router.get("/api/issues/{issue_id}", summary="An issue with its sparkline and samples")
def get_issue(
    request: Request,
    issue_id: str,
    project_id: str = Depends(project_of),
    bucket: str = Query("1h", description="Sparkline bucket: 5m, 1h, 1d, ..."),
    buckets: int = Query(24, ge=1, le=MAX_BUCKETS),
    to: str | None = Query(None, description="End of the sparkline (default now)."),
) -> dict[str, Any]:
    """The issue, ``sparkline`` (``[{start, count}]``, ``buckets`` buckets ending at ``to``),
    ``sampleTraceIds`` (newest first), ``users`` and ``sessions`` affected (``[{id,
    count}]``, the 50 most affected)."""
    st = state_of(request)
    try:
        step = parse_duration(bucket)
    except ValueError as exc:
        raise BadRequest(f"bucket: {exc}") from None
    end = _time(to, "to") or _now()
    issue = issue_of(st, project_id, issue_id)
    detail = st.store.issue_detail(project_id, issue_id, end, step, buckets)
    return {
        **issue_view(issue),
        "sparkline": [{"start": iso(p["start"]), "count": p["count"]} for p in detail["series"]],
        "sampleTraceIds": detail["sample_trace_ids"],
        "users": detail["user_id"],
        "sessions": detail["session_id"],
    }


def change_status(st: ServerState, project_id: str, ids: list[str], body: Any) -> list[str]:
    """Apply ``{status, ignoreUntil?, ignoreUntilCount?}`` to the project's issues."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected {status, ignoreUntil?, ignoreUntilCount?}")
    unknown = sorted(set(body) - _PATCH_KEYS - {"ids"})
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; expected some of {sorted(_PATCH_KEYS)}")
    status = body.get("status")
    if status not in STATUSES:
        raise BadRequest(f"status: one of {', '.join(STATUSES)}")
    more = body.get("ignoreUntilCount")
    if more is not None and (
        isinstance(more, bool) or not isinstance(more, int) or not 1 <= more <= 10**9
    ):
        raise BadRequest("ignoreUntilCount: a whole number of further signals, at least 1")
    until = _time(body.get("ignoreUntil"), "ignoreUntil")
    if until is not None and until <= _now():
        raise BadRequest("ignoreUntil: must be in the future")
    return st.store.set_issue_status(project_id, ids, status, more=more, until=until)


@router.patch("/api/issues/{issue_id}", summary="Change an issue's status")
async def patch_issue(
    request: Request, issue_id: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    """``{status: open|resolved|ignored|regressed, ignoreUntil?: ISO time,
    ignoreUntilCount?: n}``: an ignored issue opens again at that time or after n more
    signals. A resolved issue that gets a new signal becomes ``regressed``."""
    st = state_of(request)
    body = await _json(request)
    await run_in_threadpool(issue_of, st, project_id, issue_id)
    await run_in_threadpool(change_status, st, project_id, [issue_id], body)
    return issue_view(await run_in_threadpool(issue_of, st, project_id, issue_id))


@router.post("/api/issues/status", summary="Change the status of several issues")
async def bulk_status(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    """``{ids: [...], status, ignoreUntil?, ignoreUntilCount?}`` (at most 100 ids); ids of
    other projects are not found. Answers ``{updated: [ids]}``."""
    st = state_of(request)
    body = await _json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= MAX_LIMIT
        or not all(isinstance(i, str) and 0 < len(i) <= 100 for i in ids)
    ):
        raise BadRequest(f"ids: a list of 1 to {MAX_LIMIT} issue ids")
    updated = await run_in_threadpool(change_status, st, project_id, ids, body)
    return {"updated": updated}


# -- signals -------------------------------------------------------------------------------


def signal_view(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"],
        "rule": s["rule"],
        "severity": s["severity"],
        "traceId": s["trace_id"],
        "observationId": s["observation_id"],
        "scoreId": s["score_id"],
        "issueId": s["issue_id"],
        "time": iso(s["time"]),
        "createdAt": iso(s["created_at"]),
        "message": s["message"],
        "userId": s["user_id"],
        "sessionId": s["session_id"],
    }


@router.get("/api/signals", summary="List signals (newest first)")
def list_signals(
    request: Request,
    project_id: str = Depends(project_of),
    rule: str | None = Query(None, max_length=64),
    trace_id: str | None = Query(None, alias="traceId", max_length=200),
    issue_id: str | None = Query(None, alias="issueId", max_length=200),
    from_: str | None = Query(None, alias="from", description="At or after (ISO 8601)."),
    to: str | None = Query(None, description="Before (ISO 8601)."),
    page: int = Query(1, ge=1, le=100_000),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """``{data: [signal], meta: {page, limit, totalItems, totalPages}}``; each signal names
    its ``issueId``."""
    rows, total = state_of(request).store.list_signals(
        project_id,
        rule=rule,
        trace_id=trace_id,
        issue_id=issue_id,
        start=_time(from_, "from"),
        end=_time(to, "to"),
        limit=limit,
        offset=(page - 1) * limit,
    )
    return {"data": [signal_view(s) for s in rows], "meta": _page(page, limit, total)}
