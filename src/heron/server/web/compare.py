"""The comparison page: two cohorts (before/after a moment, or two values of a column) compared
on every metric and score, with a verdict per metric. Reads through ``Store.compare``, scoped
to the page's project; bad parameters are shown on the page with a 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.compare import parse_compare_query
from heron.errors import BadRequest, QueryTimeout
from heron.server.consistency import read_view
from heron.server.state import state_of
from heron.server.web.people import _respond
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)

_FIELDS = ("release", "prompt_version", "prompt_name", "model", "name", "environment", "version")


def request_body(params: dict[str, str]) -> dict[str, Any] | None:
    """The comparison request the page's query parameters describe (None: nothing asked)."""
    body: dict[str, Any] = {"view": params.get("view") or "traces"}
    if params.get("filter"):
        try:
            body["filters"] = orjson.loads(params["filter"])
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"filter: invalid JSON: {exc}") from None
    if params.get("at"):
        body["at"] = params["at"]
        days = params.get("days") or "7"
        try:
            body["days"] = float(days)
        except ValueError:
            raise BadRequest(f"days: expected a number, got {days!r}") from None
    if params.get("field"):
        body.update(
            field=params["field"],
            baseline_value=params.get("baseline", ""),
            candidate_value=params.get("candidate", ""),
        )
        if params.get("from"):
            body["fromTimestamp"] = params["from"]
        if params.get("to"):
            body["toTimestamp"] = params["to"]
    if "at" not in body and "field" not in body:
        return None
    return body


def traces_link(cohort: dict[str, Any], project_id: str) -> str:
    """The traces page filtered to one cohort."""
    filters = list(cohort["filters"])
    if "fromTimestamp" in cohort:
        filters.append({"column": "start_time", "operator": ">=", "value": cohort["fromTimestamp"]})
    if "toTimestamp" in cohort:
        filters.append({"column": "start_time", "operator": "<", "value": cohort["toTimestamp"]})
    query = {"project": project_id, "filter": orjson.dumps(filters).decode()}
    return "/traces?" + urlencode(query)


def fmt(value: float | None, unit: str) -> str:
    """A metric value for the table."""
    if value is None:
        return "\u2013"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "USD":
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value):.6f}".rstrip("0").rstrip(".")
    if unit == "count":
        return f"{value:,.0f}"
    number = f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    # a unit after the number where it says something (ms, tokens, tokens/s, errors)
    return f"{number} {unit}" if unit in ("ms", "tokens", "tokens/s") else number


def fmt_p(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def examples(now: datetime | None = None) -> dict[str, str]:
    """Placeholders relative to now (UTC): a moment a day ago, a window of the last 7 days."""
    now = (now or datetime.now(UTC)).replace(microsecond=0, tzinfo=None)
    iso = "%Y-%m-%dT%H:00:00Z"
    return {
        "at": (now - timedelta(days=1)).strftime(iso),
        "from": (now - timedelta(days=7)).strftime(iso),
        "to": now.strftime(iso),
    }


@router.get("/compare")
async def compare_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    params = {k: v for k, v in request.query_params.items() if k != "project"}
    answer: dict[str, Any] | None = None
    links: dict[str, str] = {}
    error = None
    status = 200
    if scope.project is not None:
        try:
            body = request_body(params)
            if body is not None:
                query = parse_compare_query(body)
                st = state_of(request)
                await read_view(request)
                answer = await run_in_threadpool(st.store.compare, scope.project_id, query)
        except (BadRequest, QueryTimeout) as exc:  # FilterError too: on the page, never a 500
            error, status = exc.message, exc.status_code
        if answer is not None and answer["view"] == "traces":
            links = {
                side: traces_link(answer["cohorts"][side], scope.project_id)
                for side in ("baseline", "candidate")
            }
    suggested: dict[str, list[str]] = {}
    if scope.project is not None:
        suggested = await run_in_threadpool(
            state_of(request).store.recent_filter_values, scope.project_id
        )
    response = _respond(
        request,
        scope,
        "compare.html",
        answer=answer,
        links=links,
        error=error,
        form={k: params.get(k, "") for k in _FORM_KEYS},
        fields=_FIELDS,
        suggested=suggested,
        examples=examples(),
        fmt=fmt,
        fmt_p=fmt_p,
    )
    response.status_code = status
    return response


_FORM_KEYS = ("at", "days", "field", "baseline", "candidate", "from", "to", "filter", "view")
