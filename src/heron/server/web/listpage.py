"""What the trace and observation lists share: the filter bar's redirect, the column chooser
(``cols=``), the time range preset, the "1-50 of N" line, paging links and saved views.

A list is described by a :class:`ListKind` (its path, its columns and its default columns);
the pages call these helpers with it, so each concept lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from heron.errors import BadRequest
from heron.query import Filter
from heron.server.api import ListParams
from heron.server.state import state_of
from heron.server.web import views_store
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.filterbar import RANGES, filter_rows, rows_to_filter
from heron.server.web.scope import Scope, page_scope
from heron.store import Store
from heron.store.saved import MAX_SUGGESTIONS, SUGGESTED_COLUMNS

# Parameters the filter bar submits besides its rows, kept as they are by the redirect.
BAR_FIELDS = ("project", "search", "range", "from", "to", "order_by", "limit")


@dataclass(frozen=True)
class ListKind:
    """One list page: ``path`` (``/traces``), its ``columns`` (key, label) in display order
    and the ``default`` columns shown without ``cols=``."""

    path: str
    columns: tuple[tuple[str, str], ...]
    default: tuple[str, ...]

    def parse_columns(self, value: str | None) -> list[str]:
        """The columns ``cols=`` asks for, in the list's order; none known: the default."""
        asked = {c.strip() for c in (value or "").split(",")}
        chosen = [key for key, _ in self.columns if key in asked]
        return chosen or list(self.default)

    def cols_param(self, chosen: list[str]) -> str | None:
        """``cols=`` for these columns, or None for the default (kept out of the URL)."""
        return None if chosen == list(self.default) else ",".join(chosen)

    def view_url(self, project_id: str, query: str) -> str:
        return f"{self.path}?" + urlencode({"project": project_id}) + ("&" + query if query else "")


def bar_redirect(request: Request, kind: ListKind) -> RedirectResponse:
    """The filter bar's submission (rows ``fc``/``fo``/``fv``, checked ``col``) as the
    list's bookmarkable URL with the shared ``filter`` JSON and ``cols=``."""
    q = request.query_params
    items = [(k, v) for k in BAR_FIELDS for v in q.getlist(k) if v and v.strip()]
    built = rows_to_filter(request)
    if built:
        items.append(("filter", built))
    picked = q.getlist("col") or [c for v in q.getlist("cols") for c in v.split(",")]
    cols = kind.cols_param(kind.parse_columns(",".join(picked)))
    if cols:
        items.append(("cols", cols))
    return RedirectResponse(f"{kind.path}?" + urlencode(items), status_code=303)


def apply_range(request: Request, p: ListParams) -> str:
    """``range=`` (a preset, unless ``from`` is given) as a start-time filter; the preset."""
    time_range = request.query_params.get("range", "")
    if time_range in RANGES and not request.query_params.get("from"):
        since = datetime.now(UTC) - timedelta(seconds=RANGES[time_range][1])
        p.simple.append(Filter("start_time", ">=", since.isoformat()))
    return time_range


def bar_rows(p: ListParams) -> list[dict[str, Any]]:
    """The filter bar's rows for this list (the JSON could not be read: the error says why)."""
    try:
        filters = p.filters
    except BadRequest:
        filters = p.simple
    return filter_rows(filters)


def offset(request: Request) -> int:
    """The first listed row's index (``offset=``, kept by the pager; 0 when absent or bad)."""
    try:
        return max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        return 0


def shown_range(request: Request, shown: int, total: int | None) -> str:
    """``1-50 of 3,000`` (with an en dash) for this page of a list; without a total, the
    rows' numbers alone. The first row's number comes from the pager's ``offset=``."""
    first = offset(request)
    if total is None:
        return f"{first + 1:,}\u2013{first + shown:,}" if shown else ""
    if not shown:
        return f"0 of {total:,}"
    return f"{first + 1:,}\u2013{first + shown:,} of {total:,}"


def with_params(request: Request, kind: ListKind, **changes: str | None) -> str:
    """This list's URL with some parameters replaced (None drops one)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    items += [(k, v) for k, v in changes.items() if v is not None]
    return f"{kind.path}?" + urlencode(items)


def next_url(request: Request, kind: ListKind, cursor: str, project_id: str, shown: int) -> str:
    """The pager's next link: the cursor, and the next first row's index for the count."""
    return with_params(
        request, kind, cursor=cursor, project=project_id, offset=str(offset(request) + shown)
    )


async def chrome(
    request: Request, kind: ListKind, store: Store, project_id: str | None, chosen: list[str]
) -> dict[str, Any]:
    """The template context of the folded chrome: saved views of this list, suggested filter
    values, the column chooser and the Clear link."""
    views: list[dict[str, Any]] = []
    suggested: dict[str, list[str]] = {c: [] for c in SUGGESTED_COLUMNS}
    if project_id is not None:
        views = await run_in_threadpool(views_store.list_views, store, project_id, kind.path)
        for v in views:
            v["href"] = kind.view_url(project_id, v["query"])
        suggested = await run_in_threadpool(store.recent_filter_values, project_id)
    everything = sorted({v for values in suggested.values() for v in values})
    cols = kind.cols_param(chosen)
    return {
        "list_path": kind.path,
        "list_columns": kind.columns,
        "shown": chosen,
        "cols": cols,
        "clear_url": kind.view_url(project_id, urlencode({"cols": cols}) if cols else "")
        if project_id
        else kind.path,
        "views": views,
        "view_query": views_store.clean_query(request.url.query, kind.path),
        "suggested": suggested,
        "suggested_any": everything[:MAX_SUGGESTIONS],
    }


def add_view_routes(router: APIRouter, kind: ListKind) -> None:
    """``POST {path}/views`` (save the list's query under a name), ``GET {path}/views/{id}``
    (open it) and ``POST {path}/views/{id}/delete``, scoped to the page's project."""

    async def save_view(
        request: Request,
        scope: Scope = Depends(page_scope),
        user: WebUser = Depends(csrf_user),
    ) -> Response:
        scope.require("write")
        form = await request.form()
        name, query = form.get("name"), form.get("query")
        pid = scope.project_id
        try:
            view = await run_in_threadpool(
                views_store.create_view,
                state_of(request).store,
                pid,
                name if isinstance(name, str) else "",
                query if isinstance(query, str) else "",
                user.id,
                kind.path,
            )
        except ValueError as exc:
            raise PageError(400, str(exc)) from None
        return RedirectResponse(kind.view_url(pid, view["query"]), status_code=303)

    async def open_view(
        view_id: str, request: Request, scope: Scope = Depends(page_scope)
    ) -> Response:
        pid = scope.project_id
        store = state_of(request).store
        view = await run_in_threadpool(views_store.get_view, store, pid, view_id, kind.path)
        if view is None:
            raise not_found(f"saved view {view_id!r}")
        return RedirectResponse(kind.view_url(pid, view["query"]), status_code=303)

    async def delete_view(
        view_id: str,
        request: Request,
        scope: Scope = Depends(page_scope),
        user: WebUser = Depends(csrf_user),
    ) -> Response:
        scope.require("write")
        pid = scope.project_id
        store = state_of(request).store
        deleted = await run_in_threadpool(views_store.delete_view, store, pid, view_id, kind.path)
        if not deleted:
            raise not_found(f"saved view {view_id!r}")
        return RedirectResponse(kind.view_url(pid, ""), status_code=303)

    router.add_api_route(f"{kind.path}/views", save_view, methods=["POST"])
    router.add_api_route(f"{kind.path}/views/{{view_id}}", open_view, methods=["GET"])
    router.add_api_route(f"{kind.path}/views/{{view_id}}/delete", delete_view, methods=["POST"])


def filters_json(p: ListParams) -> list[dict[str, Any]]:
    """The list's filters as the filter language's JSON (what a fill or a bulk add sends)."""
    out = []
    for f in p.filters:
        item = {"column": f.column, "operator": f.operator, "value": f.value}
        if f.key is not None:
            item["key"] = f.key
        out.append(item)
    return out
