"""The trace page: the observation tree with its timeline on the left, the selected
observation (or the trace itself) in a panel on the right.

The selection lives in the URL (``?observation=<id>``) and the panel is rendered on the
server; ``trace.js`` switches it without reloading by fetching the panel alone
(``GET /traces/{id}/panel?observation=<id>``) and pushing the URL. Only one panel is ever
rendered, so a trace of thousands of observations stays quick.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.errors import NotFound
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.auth import PROJECT_COOKIE, SESSION_TTL_S, not_found, set_cookie
from heron.server.web.comments import thread
from heron.server.web.payload import classify
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.server.web.traces import _parse_iso, href

router = APIRouter(include_in_schema=False)

# Reserved metadata key under which ingest keeps span events (exceptions included).
EVENTS_KEY = "events"


def _flatten(nodes: list[dict[str, Any]], depth: int, out: list[dict[str, Any]]) -> None:
    stack = [(n, depth) for n in reversed(nodes)]
    while stack:  # iterative: a chain of thousands of spans must not hit the recursion limit
        node, d = stack.pop()
        node["depth"] = d
        out.append(node)
        stack.extend((c, d + 1) for c in reversed(node.pop("children")))


def _timeline(trace: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Start (µs, naive UTC) and length (µs) of the span the bars are drawn against."""
    starts = [_parse_iso(o["start_time"]) for o in rows if o["start_time"]]
    ends = [_parse_iso(o["end_time"] or o["start_time"]) for o in rows if o["start_time"]]
    begin = min(starts, default=None) or _parse_iso(trace["timestamp"])
    end = max(ends, default=None) or _parse_iso(trace["end_time"]) or begin
    if begin is None or end is None:
        return 0.0, 0.0
    return begin.timestamp() * 1e6, max((end - begin).total_seconds() * 1e6, 0.0)


def exceptions(metadata: Any) -> list[dict[str, Any]]:
    """The OTel ``exception`` events ingest kept in an observation's metadata."""
    events = metadata.get(EVENTS_KEY) if isinstance(metadata, dict) else None
    found = []
    for ev in events if isinstance(events, list) else []:
        if not isinstance(ev, dict) or ev.get("name") != "exception":
            continue
        attrs = ev.get("attributes") if isinstance(ev.get("attributes"), dict) else {}
        found.append(
            {
                "type": str(attrs.get("exception.type") or ""),
                "message": str(attrs.get("exception.message") or ""),
                "stacktrace": str(attrs.get("exception.stacktrace") or ""),
                "escaped": attrs.get("exception.escaped"),
            }
        )
    return found


async def _load(request: Request, scope: Scope, trace_id: str) -> dict[str, Any]:
    st = state_of(request)
    if scope.project is None:
        raise not_found(f"trace {trace_id!r}")
    await read_view(request)
    try:
        return await run_in_threadpool(st.store.get_trace, scope.project_id, trace_id)
    except NotFound:
        raise not_found(f"trace {trace_id!r}") from None


_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _reacting_trace(score: dict[str, Any]) -> str | None:
    """The trace an implicit-feedback score's user reacted in (``metadata.reacting_trace_id``),
    linked only when it is a trace id (metadata is whatever the score's sender wrote)."""
    meta = score.get("metadata")
    found = meta.get("reacting_trace_id") if isinstance(meta, dict) else None
    return found if isinstance(found, str) and _TRACE_ID.fullmatch(found) else None


def _panel(trace: dict[str, Any], rows: list[dict[str, Any]], oid: str | None) -> dict[str, Any]:
    """What the side panel shows: the selected observation, else the trace itself."""
    scores = [{**s, "reacting_trace": _reacting_trace(s)} for s in trace.get("scores") or []]
    if oid:
        o = next((r for r in rows if r["id"] == oid), None)
        if o is None:
            raise not_found(f"observation {oid!r} in this trace")
        return {
            "kind": "observation",
            "o": o,
            "input": classify(o.get("input")),
            "output": classify(o.get("output")),
            "metadata": classify(o.get("metadata")),
            "model_parameters": classify(o.get("model_parameters")),
            "cost": classify(o.get("cost")),
            "exceptions": exceptions(o.get("metadata")),
            "scores": [s for s in scores if s.get("observation_id") == oid],
        }
    return {
        "kind": "trace",
        "o": None,
        "input": classify(trace.get("input")),
        "output": classify(trace.get("output")),
        "metadata": classify(trace.get("metadata")),
        "exceptions": [],
        "scores": [s for s in scores if not s.get("observation_id")],
    }


async def _with_comments(
    request: Request, scope: Scope, trace: dict[str, Any], panel: dict[str, Any]
) -> dict[str, Any]:
    """The panel with the comments of what it shows (the observation, or the trace)."""
    if panel["o"] is not None:
        panel["comments"] = await thread(
            request, scope, "OBSERVATION", panel["o"]["id"], trace["id"]
        )
    else:
        panel["comments"] = await thread(request, scope, "TRACE", trace["id"], trace["id"])
    return panel


def _rows(trace: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    rows: list[dict[str, Any]] = []
    _flatten(trace.pop("observations"), 0, rows)
    begin, length = _timeline(trace, rows)
    for o in rows:
        start, end = _parse_iso(o["start_time"]), _parse_iso(o["end_time"] or o["start_time"])
        if start is None or end is None or length <= 0:
            o["bar_left"], o["bar_width"] = 0.0, 100.0
        else:
            left = (start.timestamp() * 1e6 - begin) / length * 100
            width = (end - start).total_seconds() * 1e6 / length * 100
            o["bar_left"] = round(min(max(left, 0.0), 100.0), 3)
            o["bar_width"] = round(min(max(width, 0.4), 100.0 - o["bar_left"]), 3)
    return rows, length


def _links(trace: dict[str, Any], pid: str) -> dict[str, Any]:
    base = href("traces", trace["id"], pid)
    return {
        "trace_url": base,
        "panel_url": base.replace("?", "/panel?", 1),
        "user_href": trace["user_id"] and href("users", trace["user_id"], pid),
        "session_href": trace["session_id"] and href("sessions", trace["session_id"], pid),
    }


@router.get("/traces/{trace_id}")
async def trace_detail(
    request: Request, trace_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    trace = await _load(request, scope, trace_id)
    rows, length = _rows(trace)
    pid = scope.project_id
    selected = request.query_params.get("observation") or None
    panel = await _with_comments(request, scope, trace, _panel(trace, rows, selected))
    signals, _ = await run_in_threadpool(
        partial(state_of(request).store.list_signals, pid, trace_id=trace["id"], limit=50)
    )
    context = scope.context(
        trace=trace,
        signals=signals,
        observations=rows,
        span_ms=length / 1000,
        list_url="/traces?" + urlencode({"project": pid}),
        selected=selected,
        panel=panel,
        **_links(trace, pid),
    )
    response = page(request, "trace.html", context)
    if scope.asked:
        set_cookie(request, response, PROJECT_COOKIE, pid, SESSION_TTL_S)
    return response


@router.get("/traces/{trace_id}/panel")
async def trace_panel(
    request: Request, trace_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    """The side panel alone (for ``trace.js``): the observation ``?observation=`` names, or
    the trace itself."""
    trace = await _load(request, scope, trace_id)
    rows, _ = _rows(trace)
    selected = request.query_params.get("observation") or None
    panel = await _with_comments(request, scope, trace, _panel(trace, rows, selected))
    context = scope.context(trace=trace, panel=panel, **_links(trace, scope.project_id))
    return page(request, "_trace_panel.html", context)
