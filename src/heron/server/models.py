"""Model prices per project: list the effective table, add or override entries, delete them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from heron.cost import PriceEntry, PriceEntryError, load_builtin_prices
from heron.errors import BadRequest, NotFound, Overloaded
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.repricing import Repricer
from heron.server.state import state_of

router = APIRouter(tags=["models"], dependencies=[Depends(consistent)])


@router.get("/api/models")
def list_models(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """The project's own price entries first, then the built-in table."""
    custom = state_of(request).store.list_prices(who.project_id)
    builtin = [e.to_dict() for e in load_builtin_prices()]
    return {
        "data": [
            *({**e, "source": "project"} for e in custom),
            *({**e, "source": "builtin"} for e in builtin),
        ]
    }


@router.post("/api/models", status_code=201)
def put_model(
    request: Request,
    entry: dict[str, Any] = Body(
        ...,
        examples=[
            {
                "id": "my-finetune",
                "model_name": "ft:gpt-4o-mini:acme",
                "match_pattern": "(?i)^ft:gpt-4o-mini:acme.*$",
                "prices": {"input": 3e-7, "output": 1.2e-6},
            }
        ],
    ),
    who: Caller = Depends(caller),
) -> dict[str, Any]:
    """Add a price entry to the project, or replace the one with the same ``id``.

    Project entries win over built-in ones; the cost of spans ingested from now on uses it.
    """
    entry = {k: v for k, v in entry.items() if k != "source"}
    try:
        parsed = PriceEntry.from_dict(entry, source="project")
    except PriceEntryError as exc:
        raise BadRequest(f"price entry: {exc}") from None
    st = state_of(request)
    data = parsed.to_dict()
    data.pop("source", None)
    st.store.put_price(who.project_id, data)
    st.pricing.invalidate(who.project_id)
    return {**data, "source": "project"}


@router.delete("/api/models/{entry_id}", status_code=204)
def delete_model(request: Request, entry_id: str, who: Caller = Depends(caller)) -> None:
    """Remove one of the project's own price entries."""
    st = state_of(request)
    st.store.delete_price(who.project_id, entry_id)
    st.pricing.invalidate(who.project_id)


@router.get("/api/models/unpriced", response_model=schemas.UnpricedModels)
def unpriced(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """Models seen with token usage but no price, so their cost is unknown."""
    return {"data": state_of(request).store.unpriced_models(who.project_id)}


def repricer_of(request: Request) -> Repricer:
    repricer = state_of(request).repricer
    if repricer is None:  # only while the app starts or stops
        raise Overloaded("re-pricing is not available right now")
    return repricer


@router.post("/api/models/reprice", status_code=202)
def start_reprice(
    request: Request,
    models: list[str] = Body(..., embed=True, examples=[["ft:gpt-4o-mini:acme"]]),
    who: Caller = Depends(caller),
) -> dict[str, Any]:
    """Recompute the stored cost of the project's observations of these models (exact model
    names) with the current prices, in the background; costs the client sent are kept.
    Poll ``GET /api/models/reprice/{id}`` for progress."""
    return repricer_of(request).start(who.project_id, models).to_dict()


@router.get("/api/models/reprice")
def list_reprice_jobs(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """The project's recent re-pricing jobs, newest first."""
    return {"data": [j.to_dict() for j in repricer_of(request).jobs(who.project_id)]}


@router.get("/api/models/reprice/{job_id}")
def reprice_job(request: Request, job_id: str, who: Caller = Depends(caller)) -> dict[str, Any]:
    """One re-pricing job: ``status`` (queued, running, done, failed), ``done`` of ``total``."""
    job = repricer_of(request).get(who.project_id, job_id)
    if job is None:
        raise NotFound(f"re-pricing job {job_id!r} not found in this project")
    return job.to_dict()
