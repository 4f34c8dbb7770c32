"""Health: liveness (``/api/health``, ``/api/public/health``, ``/healthz``) and readiness
(``/readyz``).

Liveness answers at once from memory: it never waits for the store (a server replaying or
applying a backlog is alive). Readiness says whether heron can take and keep data now: 503
with the reasons while the journal cannot be written (disk full, a failed write not yet
rolled back), the store is failing, applying lags over ``HERON_READY_MAX_LAG_SECONDS``, or
acknowledged journal records were found missing at start; the body reports the backlog
(records and the age of the oldest unapplied acknowledged batch) either way. Neither needs
a key: they reveal no project data; the journal, disk and store details of ``/readyz`` are
shown with the admin token or ``HERON_PROMETHEUS_TOKEN`` only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from heron import __version__
from heron.server import schemas
from heron.server.prometheus import is_operator
from heron.server.responses import JSON
from heron.server.state import state_of

router = APIRouter(tags=["health"])

PUBLIC = ("status", "ready", "problems", "backlog_records", "lag_seconds")


@router.get("/api/health", response_model=schemas.Health)
@router.get("/api/public/health", include_in_schema=False)
@router.get("/healthz", response_model=schemas.Health, summary="Liveness")
async def health() -> dict[str, str]:
    """Liveness: the server answers, and its version."""
    return {"status": "OK", "version": __version__}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"description": "Not ready; `problems` says why."}},
)
async def ready(request: Request) -> JSON:
    """Readiness: 200 when heron can take and keep data, else 503 naming why; with the
    apply backlog, journal and store state."""
    st = state_of(request)
    report: dict[str, Any] = st.pipeline.health()
    report = {"status": "ready" if report["ready"] else "not ready", **report}
    if not is_operator(request, st):  # journal, disk and store details: the operator's only
        report = {k: report[k] for k in PUBLIC}
    return JSON(report, 200 if report["ready"] else 503)
