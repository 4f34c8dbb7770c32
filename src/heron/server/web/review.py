"""The Review hub (``/review``): where to look now. One header entry leads to the issues
inbox, alerts, annotation queues and error analyses, each with the figure that says whether
it needs attention (open issues, alerts firing, items waiting, analyses not yet accepted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from heron.server.state import state_of
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope
from heron.signals.evaluate import ALERT, WARNING

router = APIRouter(include_in_schema=False)

QUEUES_COUNTED = 100  # queues whose waiting items are summed (the list page shows them all)


@router.get("/review")
async def review_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The four places to review work, with what waits in each for the selected project."""
    if scope.project is None:
        return page(request, "review.html", scope.context(figures=None))
    scope.require("read")
    store = state_of(request).store
    project_id = scope.project["id"]

    def figures() -> dict[str, Any]:
        _, open_issues = store.list_issues(project_id, status=("open", "regressed"), limit=1)
        alerts = store.list_alerts(project_id)
        queues = store.list_annotation_queues(project_id)
        waiting = sum(
            store.queue_progress(project_id, q["id"])["pending"] for q in queues[:QUEUES_COUNTED]
        )
        analyses = store.list_error_analyses(project_id, limit=50)
        return {
            "open_issues": open_issues,
            "alerts": len(alerts),
            "firing": sum(a["state"] == ALERT for a in alerts),
            "warning": sum(a["state"] == WARNING for a in alerts),
            "queues": len(queues),
            "waiting": waiting,
            "analyses": len(analyses),
            "unaccepted": sum(a["acceptedAt"] is None for a in analyses),
        }

    return page(request, "review.html", scope.context(figures=await run_in_threadpool(figures)))
