"""Quarantined spans: ``GET /api/quarantine`` and the admin replay behind ``heron journal
replay``.

A key sees its own project's quarantined spans only; the admin token (the one the CLI
reads from the data directory) sees every project's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from heron.server import schemas
from heron.server.admin import admin, is_admin
from heron.server.state import state_of

router = APIRouter(responses={401: {"model": schemas.Error}})

REPLAY_TIMEOUT_S = 300.0


@router.get("/api/quarantine", tags=["ingest"], summary="Quarantined spans")
async def quarantined(request: Request) -> dict[str, Any]:
    """Spans the store refused (kept on disk with the reason) until ``heron journal replay``
    applies them; the key's project's, or every project's with the admin token."""
    st = state_of(request)
    if is_admin(request):
        project = None
    else:
        project = st.auth.authenticate(request, need="read").project_id
    entries = await run_in_threadpool(st.pipeline.quarantine.entries, project)
    return {"data": entries, "total_spans": sum(e["spans"] for e in entries)}


@router.post("/api/admin/quarantine/replay", tags=["admin"], dependencies=[Depends(admin)])
async def replay(request: Request) -> dict[str, Any]:
    """Apply every quarantined span again; those that apply now are removed."""
    future = state_of(request).pipeline.replay_quarantine()
    return await asyncio.wait_for(asyncio.wrap_future(future), REPLAY_TIMEOUT_S)
