"""The model prices page (``/settings/prices``): built-in and custom prices, adding and
editing custom ones, the models seen without a price, and re-pricing with its progress.

Prices are typed per 1M tokens and stored per token. Saving a price re-prices, in the
background, the project's unpriced models the new entry's pattern matches
(:mod:`heron.server.repricing`); the page polls ``/settings/prices/jobs/{id}``.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from heron.cost import PriceEntry, PriceEntryError, load_builtin_prices
from heron.cost.custom import entry_id_for, exact_pattern
from heron.errors import BadRequest, NotFound
from heron.ingest.costing import project_book
from heron.server.repricing import MAX_MODELS
from heron.server.state import state_of
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.render import environment, page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)
PER = 1_000_000  # prices on the page are per 1M tokens
_FIELDS = ("input", "output", "cached_input")


def missing_cost_reason(o: dict[str, Any]) -> str | None:
    """Why an observation with token usage has no cost (``None`` if it has one, or has no
    usage). Used by the trace page, which links the model to this page."""
    if o.get("total_cost") is not None:
        return None
    usage = o.get("usage") or {}
    if not any(isinstance(v, int | float) and v > 0 for v in usage.values()):
        return None
    if not o.get("model"):
        return "no cost: the span names no model"
    return f"no price for model {o['model']}"


environment.globals["missing_cost_reason"] = missing_cost_reason


def per_million(value: Any) -> str:
    """A per-token price as typed on the page (per 1M tokens), without float noise."""
    if not isinstance(value, int | float):
        return ""
    return f"{value * PER:.10g}"


environment.filters["per_million"] = per_million


class FormError(Exception):
    pass


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def entry_from_form(form: FormData, existing: dict[str, Any] | None, taken: set[str]) -> dict:
    """The price entry the form describes (prices per 1M tokens → per token); an edited
    entry keeps what the form does not show (other usage keys, tiers, provider)."""
    model = _text(form, "model_name")
    if not model:
        raise FormError("model name: required")
    pattern = _text(form, "match_pattern") or exact_pattern(model)
    prices: dict[str, float] = dict(existing["prices"]) if existing else {}
    for key in _FIELDS:
        raw = _text(form, key)
        if not raw:
            prices.pop(key, None)
            continue
        try:
            value = float(raw)
        except ValueError:
            raise FormError(f"{key.replace('_', ' ')} price: {raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise FormError(f"{key.replace('_', ' ')} price: must be a number ≥ 0")
        prices[key] = value / PER
    if not prices:
        raise FormError("give at least an input or an output price")
    entry = {k: v for k, v in (existing or {}).items() if k != "source"}
    entry.update(
        id=existing["id"] if existing else entry_id_for(model, taken),
        model_name=model,
        match_pattern=pattern,
        prices=prices,
        start_date=_text(form, "start_date") or None,
    )
    try:
        parsed = PriceEntry.from_dict(entry, source="project")
    except PriceEntryError as exc:
        raise FormError(str(exc)) from None
    data = parsed.to_dict()
    data.pop("source", None)
    return data


def _here(scope: Scope, **params: str) -> str:
    return "/settings/prices?" + urlencode({"project": scope.project_id, **params})


def _context(
    request: Request,
    scope: Scope,
    form: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    store = state_of(request).store
    custom = store.list_prices(scope.project_id)
    unpriced = store.unpriced_models(scope.project_id)
    # A model a price now matches was stored before the price existed: offer re-pricing.
    book = project_book(store, scope.project_id)
    now_us = time.time_ns() // 1000
    for m in unpriced:
        entry = book.find(m["model"], now_us)
        m["priced_by"] = entry.id if entry is not None else None
    params = request.query_params
    if form is None:
        form = {"id": "", "model_name": "", "match_pattern": "", "start_date": ""}
        form.update(dict.fromkeys(_FIELDS, ""))
        editing = next((e for e in custom if e["id"] == params.get("edit")), None)
        if editing is not None:
            form = {**form, **editing}
            form.update({k: per_million(editing["prices"].get(k)) for k in _FIELDS})
        elif params.get("model"):
            model = params["model"][:1000]
            form = {**form, "model_name": model, "match_pattern": exact_pattern(model)}
    repricer = state_of(request).repricer
    jobs = repricer.jobs(scope.project_id)[:5] if repricer else []
    return scope.context(
        custom=custom,
        builtin=[e.to_dict() for e in load_builtin_prices()],
        unpriced=unpriced,
        form=form,
        error=error,
        jobs=[j.to_dict() for j in jobs],
        fields=_FIELDS,
        section="prices",
    )


@router.get("/settings/prices")
async def prices_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The page; ``?model=X`` prefills the form for model X, ``?edit=ID`` edits an entry."""
    if scope.project is None:
        return page(request, "settings/prices.html", scope.context(section="prices"))
    scope.require("read")
    context = await run_in_threadpool(_context, request, scope)
    return page(request, "settings/prices.html", context)


@router.post("/settings/prices")
async def save_price(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Add or edit (field ``id``) a custom price, then re-price the project's unpriced
    models its pattern matches (``reprice=all``: every model seen that it matches); back to
    the page with the job's progress."""
    scope.require("manage_prices")
    form = await request.form()
    st = state_of(request)
    custom = await run_in_threadpool(st.store.list_prices, scope.project_id)
    editing_id = _text(form, "id")
    existing = next((e for e in custom if e["id"] == editing_id), None)
    if editing_id and existing is None:
        raise not_found(f"price entry {editing_id!r}")
    try:
        entry = entry_from_form(form, existing, {e["id"] for e in custom})
    except FormError as exc:
        shown = {k: _text(form, k) for k in ("id", "model_name", "match_pattern", "start_date")}
        shown.update({k: _text(form, k) for k in _FIELDS})
        context = await run_in_threadpool(_context, request, scope, shown, str(exc))
        return page(request, "settings/prices.html", context, 400)
    await run_in_threadpool(st.store.put_price, scope.project_id, entry)
    st.pricing.invalidate(scope.project_id)
    parsed = PriceEntry.from_dict(entry, source="project")
    if _text(form, "reprice") == "all":
        seen = await run_in_threadpool(st.store.observed_models, scope.project_id)
    else:
        unpriced = await run_in_threadpool(st.store.unpriced_models, scope.project_id)
        seen = [m["model"] for m in unpriced]
    models = [m for m in seen if parsed.matches(m)][:MAX_MODELS]
    params = {"saved": entry["id"]}
    if models and st.repricer is not None:
        params["job"] = st.repricer.start(scope.project_id, models).id
    return RedirectResponse(_here(scope, **params), status_code=303)


@router.post("/settings/prices/{entry_id:path}/delete")
async def delete_price(
    entry_id: str,
    request: Request,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete a custom price (costs already stored stay as they are)."""
    scope.require("manage_prices")
    st = state_of(request)
    try:
        await run_in_threadpool(st.store.delete_price, scope.project_id, entry_id)
    except NotFound:
        raise not_found(f"price entry {entry_id!r}") from None
    st.pricing.invalidate(scope.project_id)
    return RedirectResponse(_here(scope), status_code=303)


@router.get("/settings/prices/jobs/{job_id}")
async def job_progress(
    job_id: str, request: Request, scope: Scope = Depends(page_scope)
) -> Response:
    """A re-pricing job's progress as JSON, for the page's polling."""
    scope.require("read")
    repricer = state_of(request).repricer
    job = repricer.get(scope.project_id, job_id) if repricer else None
    if job is None:
        return JSONResponse({"error": {"message": f"job {job_id!r} not found"}}, 404)
    return JSONResponse(job.to_dict(), headers={"Cache-Control": "no-store"})


@router.post("/settings/prices/reprice")
async def reprice_model(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Re-price the stored observations of one model (form field ``model``) with the prices
    in force; back to the page with the job's progress."""
    scope.require("manage_prices")
    form = await request.form()
    repricer = state_of(request).repricer
    if repricer is None:
        raise PageError(503, "Re-pricing is not available right now.")
    try:
        job = repricer.start(scope.project_id, [_text(form, "model")])
    except BadRequest as exc:
        raise PageError(400, exc.message) from None
    return RedirectResponse(_here(scope, job=job.id), status_code=303)
