"""Admin API for ``heron prices`` while the server runs: a project's prices by its name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from heron.cost import PriceEntry, PriceEntryError, load_builtin_prices
from heron.errors import BadRequest, NotFound, Overloaded
from heron.server.admin import admin
from heron.server.repricing import Repricer
from heron.server.state import state_of

router = APIRouter(prefix="/api/admin/prices", tags=["admin"], dependencies=[Depends(admin)])


def _project_id(request: Request, name: str) -> str:
    found = state_of(request).store.project_by_name(name)
    if not found:
        raise NotFound(f"project {name!r} not found")
    return found["id"]


def _repricer(request: Request) -> Repricer:
    repricer = state_of(request).repricer
    if repricer is None:
        raise Overloaded("re-pricing is not available right now")
    return repricer


@router.get("")
def list_prices(request: Request, project: str) -> dict[str, Any]:
    """The project's own entries, then the built-in table (as ``GET /api/models``)."""
    custom = state_of(request).store.list_prices(_project_id(request, project))
    builtin = [e.to_dict() for e in load_builtin_prices()]
    return {"data": [*({**e, "source": "project"} for e in custom), *builtin]}


@router.post("", status_code=201)
def add_price(
    request: Request, project: str = Body(...), entry: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    """Add or replace (same ``id``) one of the project's entries."""
    project_id = _project_id(request, project)
    try:
        parsed = PriceEntry.from_dict(
            {k: v for k, v in entry.items() if k != "source"}, source="project"
        )
    except PriceEntryError as exc:
        raise BadRequest(f"price entry: {exc}") from None
    data = parsed.to_dict()
    data.pop("source", None)
    st = state_of(request)
    st.store.put_price(project_id, data)
    st.pricing.invalidate(project_id)
    return data


@router.get("/unpriced")
def unpriced(request: Request, project: str) -> dict[str, Any]:
    """The project's models seen with token usage but no price."""
    return {"data": state_of(request).store.unpriced_models(_project_id(request, project))}


@router.post("/reprice", status_code=202)
async def reprice(
    request: Request, project: str = Body(...), models: list[str] = Body(...)
) -> dict[str, Any]:
    """Start re-pricing the project's observations of ``models``."""
    project_id = await run_in_threadpool(_project_id, request, project)
    return _repricer(request).start(project_id, models).to_dict()


@router.get("/reprice/{job_id}")
def reprice_job(request: Request, job_id: str, project: str) -> dict[str, Any]:
    job = _repricer(request).get(_project_id(request, project), job_id)
    if job is None:
        raise NotFound(f"re-pricing job {job_id!r} not found in project {project!r}")
    return job.to_dict()
