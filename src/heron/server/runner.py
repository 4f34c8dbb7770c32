"""The background runner's jobs over HTTP: list, start a backfill, cancel.

A key acts on its own project's jobs (listing reads; starting and cancelling change data, so
they need a ``full`` key); the admin token (what ``heron runner`` uses while a server runs)
sees every project's jobs and names the project of a backfill in the body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from heron.errors import BadRequest, NotFound, Overloaded
from heron.query.filters import parse_time
from heron.runner import Runner
from heron.runner.engine import job_view
from heron.server import schemas
from heron.server.admin import is_admin
from heron.server.api import consistent
from heron.server.auth import route_need
from heron.server.state import state_of

router = APIRouter(
    tags=["runner"],
    dependencies=[Depends(consistent)],
    responses={401: {"model": schemas.Error}, 403: {"model": schemas.Error}},
)

_BODY_KEYS = {"tasks", "from", "to", "project"}


def scope(request: Request) -> str | None:
    """The caller's project id, or ``None`` for the admin token (every project)."""
    if is_admin(request):
        return None
    return state_of(request).auth.authenticate(request, need=route_need(request)).project_id


def runner_of(request: Request) -> Runner:
    runner = state_of(request).runner
    if runner is None:  # only while the app starts or stops
        raise Overloaded("the runner is starting or stopping; retry shortly", retry_after=1)
    return runner


@router.get("/api/runner/jobs", summary="Runner jobs")
def list_jobs(request: Request, project_id: str | None = Depends(scope)) -> dict[str, Any]:
    """Backfill jobs, newest first (the last 100), and the tasks this server runs."""
    runner = runner_of(request)
    return {
        "data": [job_view(j) for j in runner.store.runner_jobs(project_id)],
        "tasks": [
            {"name": t.name, "version": t.version, "scope": t.scope} for t in runner.tasks.values()
        ],
    }


@router.get("/api/runner/jobs/{job_id}", summary="A runner job")
def get_job(request: Request, job_id: str, project_id: str | None = Depends(scope)) -> dict:
    job = runner_of(request).store.runner_job(job_id)
    if job is None or (project_id is not None and job["project_id"] != project_id):
        raise NotFound(f"runner job {job_id!r} not found")
    return job_view(job)


@router.post("/api/runner/jobs", status_code=202, summary="Start a backfill")
def start_job(
    request: Request,
    body: dict[str, Any] | None = Body(
        None, examples=[{"tasks": ["implicit"], "from": "2026-11-01T00:00:00Z"}]
    ),
    project_id: str | None = Depends(scope),
) -> dict[str, Any]:
    """Run tasks (``tasks``, default all) again on every session or trace of the project
    with a trace starting in ``[from, to)`` (default all time); what they wrote before is
    replaced. With the admin token, ``project`` (a name or id) says which project.
    Poll ``GET /api/runner/jobs/{id}`` for progress."""
    body = body or {}
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; expected some of {sorted(_BODY_KEYS)}")
    tasks = body.get("tasks")
    if tasks is not None and (
        not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks)
    ):
        raise BadRequest("tasks: expected a list of task names")
    start = parse_time(body["from"], "from") if body.get("from") is not None else None
    end = parse_time(body["to"], "to") if body.get("to") is not None else None
    runner = runner_of(request)
    if project_id is None:
        project_id = _project(runner, body.get("project"))
    elif body.get("project") is not None:
        raise BadRequest("project: an API key backfills its own project; leave it out")
    return job_view(runner.start_job(project_id, tasks, start, end))


def _project(runner: Runner, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise BadRequest("project: the admin token must name the project (name or id)")
    for p in runner.store.list_projects():
        if name in (p["id"], p["name"]):
            return p["id"]
    raise NotFound(f"project {name!r} not found")


@router.post("/api/runner/jobs/{job_id}/cancel", summary="Cancel a runner job")
def cancel_job(request: Request, job_id: str, project_id: str | None = Depends(scope)) -> dict:
    """Stop a queued or running job after the chunk under way (409 if it has ended); the
    work it committed stays."""
    return job_view(runner_of(request).cancel_job(project_id, job_id))
