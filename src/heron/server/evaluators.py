"""Evaluators, LLM connections, configuration as code and jobs over HTTP.

Every route is scoped to the key's project: reads need a ``read`` or ``full`` key, changes a
``full`` key. Objects are named; bodies use the configuration format of
:mod:`heron.config.document` (docs/evaluators.md), so what ``GET /api/config`` exports,
``POST /api/config/apply`` takes back unchanged. A connection's API key is encrypted at rest
and never returned (only a hint such as ``sk-…1234``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from heron.config import document
from heron.errors import BadRequest, Conflict, NotFound, Overloaded
from heron.evals.spec import Problems, check_connection, check_evaluator, export_evaluator
from heron.query.filters import FilterError, parse_filters, parse_time
from heron.runner import Runner
from heron.runner.engine import job_view
from heron.server import schemas
from heron.server.admin import is_admin
from heron.server.api import caller
from heron.server.bodies import read_body, read_json
from heron.server.responses import JSON
from heron.server.state import ServerState, state_of
from heron.store.reads import iso

router = APIRouter(
    tags=["evaluators"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)

_TASK_OF_TARGET = {
    "traces": "evaluators",
    "observations": "evaluators",
    "sessions": "evaluators.sessions",
}
_BACKFILL_KEYS = {"from", "to", "filter", "limit"}


# -- helpers -------------------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    return await read_body(request, state_of(request).settings.max_body_bytes)


async def _json(request: Request) -> Any:
    return await read_json(request, state_of(request).settings.max_body_bytes)


def secret_key(st: ServerState) -> bytes:
    """The server's key for connection secrets (``HERON_SECRET_KEY``, else a key file kept
    beside the database, created on first use)."""
    from heron.evals.secrets import settings_key

    return settings_key(st.settings)


def encrypter(st: ServerState) -> Any:
    from heron.evals.secrets import encrypt, hint

    key = secret_key(st)
    return lambda plain: (encrypt(plain, key), hint(plain))


def _refresh(st: ServerState) -> None:
    """Let the runner's evaluator tasks see a change at once."""
    if st.runner is not None:
        for task in st.runner.tasks.values():
            refresh = getattr(task, "refresh", None)
            if callable(refresh):
                refresh()


def evaluator_view(st: ServerState, ev: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    stats = st.store.evaluator_stats(ev["project_id"], ev["id"])
    current = next((s for s in stats if s["version"] == ev["version"]), None)
    scored = sum(s["scored"] for s in stats)
    failed = sum(s["failed"] for s in stats)
    out = {
        "id": ev["id"],
        "name": ev["name"],
        "version": ev["version"],
        "status": ev["status"],
        "status_reason": ev["status_reason"],
        "type": ev["spec"]["type"],
        "target": ev["spec"]["target"],
        "definition": export_evaluator(ev["name"], ev["spec"]),
        "scores_written": scored,
        "failures": failed,
        "error_rate": failed / (scored + failed) if scored + failed else None,
        "judge_cost": sum(s["cost"] for s in stats),
        "last_run_at": iso(max((s["last_run_at"] for s in stats), default=None)),
        "last_error": current["last_error"] if current else None,
        "created_at": iso(ev["created_at"]),
        "updated_at": iso(ev["updated_at"]),
    }
    if detail:
        out["versions"] = [
            {"version": v["version"], "created_at": iso(v["created_at"]),
             "definition": export_evaluator(ev["name"], v["spec"])}
            for v in st.store.evaluator_versions(ev["project_id"], ev["id"])
        ]  # fmt: skip
        out["log"] = [
            {**line, "at": iso(line["at"])}
            for line in st.store.evaluator_log(ev["project_id"], ev["id"])
        ]
    return out


def evaluator_named(st: ServerState, project_id: str, name: str) -> dict[str, Any]:
    ev = st.store.get_evaluator(project_id, name)
    if ev is None:
        raise NotFound(f"evaluator {name!r} not found in this project")
    return ev


def _score_configs(st: ServerState, project_id: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document.all_score_configs(st.store, project_id)}


def check_definition(st: ServerState, project_id: str, body: Any) -> tuple[str, dict[str, Any]]:
    problems = Problems()
    name, spec = check_evaluator(
        body,
        "$",
        problems,
        connections={c["name"] for c in st.store.list_connections(project_id)},
        score_configs=_score_configs(st, project_id),
        custom_modules=st.settings.custom_modules,
    )
    if problems or name is None or spec is None:
        raise document.ConfigError(problems.items)
    return name, spec


def store_evaluator(
    st: ServerState, project_id: str, name: str, spec: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Store a checked evaluator (a changed spec: its next version) and tell the runner;
    the evaluator and ``created|updated|unchanged``."""
    ev, action = st.store.put_evaluator(project_id, name, spec)
    _refresh(st)
    return ev, action


def project_of(
    request: Request,
    project: str | None = Query(
        None, description="With the admin token (the CLI's): the project, a name or id."
    ),
) -> str:
    """The project a request acts on: its key's, or the one the admin token names."""
    if is_admin(request):
        if not project:
            raise BadRequest("project: the admin token must name the project (name or id)")
        for p in state_of(request).store.list_projects():
            if project in (p["id"], p["name"]):
                return p["id"]
        raise NotFound(f"project {project!r} not found")
    if project is not None:
        raise BadRequest("project: an API key acts on its own project; leave it out")
    return caller(request).project_id


def runner_of(st: ServerState) -> Runner:
    if st.runner is None:
        raise Overloaded("the runner is starting or stopping; retry shortly", retry_after=1)
    return st.runner


# -- evaluators ----------------------------------------------------------------------------


@router.get("/api/evaluators", summary="List evaluators")
def list_evaluators(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    """The project's evaluators with status, version, scores written, error rate, judge
    cost and last run."""
    st = state_of(request)
    return {"data": [evaluator_view(st, e) for e in st.store.list_evaluators(project_id)]}


@router.post("/api/evaluators", summary="Create or update an evaluator", status_code=200)
async def put_evaluator(request: Request, project_id: str = Depends(project_of)) -> Response:
    """An evaluator in the configuration format. A new name creates it (201); a changed
    definition of an existing one creates its next version (200)."""
    st = state_of(request)
    body = await _json(request)
    name, spec = await run_in_threadpool(check_definition, st, project_id, body)
    ev, action = await run_in_threadpool(store_evaluator, st, project_id, name, spec)
    view = await run_in_threadpool(evaluator_view, st, ev)
    return JSON({**view, "action": action}, 201 if action == "created" else 200)


@router.get("/api/evaluators/{name}", summary="An evaluator, its versions and run log")
def get_evaluator(
    request: Request, name: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    st = state_of(request)
    return evaluator_view(st, evaluator_named(st, project_id, name), detail=True)


@router.put("/api/evaluators/{name}", summary="Update an evaluator (a new version)")
async def replace_evaluator(
    request: Request, name: str, project_id: str = Depends(project_of)
) -> Response:
    st = state_of(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise BadRequest("body: expected an evaluator object")
    if body.get("name", name) != name:
        raise BadRequest("name: the body names another evaluator than the path")
    await run_in_threadpool(evaluator_named, st, project_id, name)
    _, spec = await run_in_threadpool(check_definition, st, project_id, {**body, "name": name})
    ev, action = await run_in_threadpool(store_evaluator, st, project_id, name, spec)
    return JSON({**await run_in_threadpool(evaluator_view, st, ev), "action": action})


@router.delete("/api/evaluators/{name}", summary="Delete an evaluator (its scores stay)")
def delete_evaluator(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    remove_evaluator(state_of(request), project_id, name)
    return {"deleted": name}


def remove_evaluator(st: ServerState, project_id: str, name: str) -> None:
    ev = evaluator_named(st, project_id, name)
    st.store.delete_evaluator(project_id, ev["id"])
    _refresh(st)


def set_paused(st: ServerState, project_id: str, name: str, paused: bool) -> dict[str, Any]:
    """Pause (by a user) or resume the evaluator ``name``; its view afterwards."""
    ev = evaluator_named(st, project_id, name)
    if paused:
        st.store.set_evaluator_status(project_id, ev["id"], "paused", "paused by a user")
    else:
        st.store.set_evaluator_status(project_id, ev["id"], "active", None)
    _refresh(st)
    return evaluator_view(st, evaluator_named(st, project_id, name))


@router.post("/api/evaluators/{name}/pause", summary="Pause an evaluator")
def pause_evaluator(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    return set_paused(state_of(request), project_id, name, True)


@router.post("/api/evaluators/{name}/resume", summary="Resume a paused evaluator")
def resume_evaluator(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    """Targets that changed while it was paused are not evaluated again: backfill them."""
    return set_paused(state_of(request), project_id, name, False)


@router.post("/api/evaluators/{name}/backfill", summary="Evaluate stored history", status_code=202)
async def backfill(request: Request, name: str, project_id: str = Depends(project_of)) -> Response:
    """``{from, to, filter?, limit?}``: evaluate the targets with a trace starting in
    ``[from, to)`` (default all time); targets this version already scored are skipped.
    Answers ``202 {"id", ...}``; poll ``GET /api/jobs/{id}``. For an LLM judge the answer
    carries ``estimate``: targets and an estimated cost."""
    st = state_of(request)
    raw = await _body(request)
    body = orjson.loads(raw) if raw.strip() else {}
    return JSON(await run_in_threadpool(start_backfill, st, project_id, name, body), 202)


def start_backfill(st: ServerState, project_id: str, name: str, body: Any) -> dict[str, Any]:
    """Queue a backfill of the evaluator ``name`` (``body``: ``{from, to, filter, limit}``,
    each optional); the job's view, with ``estimate`` for an LLM judge."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected {from, to, filter, limit}")
    unknown = sorted(set(body) - _BACKFILL_KEYS)
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; expected some of {sorted(_BACKFILL_KEYS)}")
    ev = evaluator_named(st, project_id, name)
    if ev["status"] != "active":
        raise Conflict(f"evaluator {name} is paused; resume it first")
    start = parse_time(body["from"], "from") if body.get("from") is not None else None
    end = parse_time(body["to"], "to") if body.get("to") is not None else None
    options: dict[str, Any] = {"evaluators": [ev["id"]]}
    if body.get("filter") is not None:
        try:
            parse_filters(body["filter"])
        except FilterError as exc:
            raise BadRequest(f"filter: {exc}") from None
        options["filter"] = body["filter"]
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BadRequest("limit: a positive whole number of targets")
    runner = runner_of(st)
    task = _TASK_OF_TARGET[ev["spec"]["target"]]
    if task not in runner.tasks:
        raise Conflict(f"the runner task {task!r} is not registered (setting HERON_RUNNER_TASKS)")
    job = runner.start_job(project_id, [task], start, end, options=options, limit=limit)
    out = _job_view(job)
    if ev["spec"]["type"] == "llm_judge":
        from heron.evals.judging import estimate

        out["estimate"] = estimate(
            st.store, ev, job["total"] if job["total"] is not None else None, start, end
        )
    return out


# -- jobs ----------------------------------------------------------------------------------


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    view = job_view(job)
    return {"id": view["id"], **view}


def project_job(st: ServerState, project_id: str, job_id: str) -> dict[str, Any]:
    """The runner job ``job_id`` of the project (another project's is not found)."""
    job = st.store.runner_job(job_id)
    if job is None or job["project_id"] != project_id:
        raise NotFound(f"job {job_id!r} not found")
    return job


@router.get("/api/jobs/{job_id}", summary="A background job's progress")
def get_job(request: Request, job_id: str, project_id: str = Depends(project_of)) -> dict[str, Any]:
    """``{status: queued|running|done|failed|cancelled, done, total, ...}``."""
    return _job_view(project_job(state_of(request), project_id, job_id))


@router.delete("/api/jobs/{job_id}", summary="Cancel a background job")
def cancel_job(
    request: Request, job_id: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    """The chunk under way finishes; the work committed stays (409 once it has ended)."""
    return _job_view(runner_of(state_of(request)).cancel_job(project_id, job_id))


# -- connections ---------------------------------------------------------------------------


def connection_view(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": c["name"],
        **c["spec"],
        "api_key_hint": c.get("api_key_hint"),
        "created_at": iso(c["created_at"]),
        "updated_at": iso(c["updated_at"]),
    }


@router.get("/api/connections", summary="List LLM connections (keys never shown)")
def list_connections(request: Request, project_id: str = Depends(project_of)) -> dict[str, Any]:
    st = state_of(request)
    return {"data": [connection_view(c) for c in st.store.list_connections(project_id)]}


@router.post("/api/connections", summary="Create or update an LLM connection")
async def put_connection(request: Request, project_id: str = Depends(project_of)) -> Response:
    """``{name, base_url, api_key, model, provider?, headers?, api_version?,
    max_concurrency?, timeout_seconds?}``; leaving ``api_key`` out of an update keeps the
    stored key."""
    st = state_of(request)
    body = await _json(request)
    conn, action = await run_in_threadpool(save_connection, st, project_id, body)
    return JSON({**connection_view(conn), "action": action}, 201 if action == "created" else 200)


def save_connection(st: ServerState, project_id: str, body: Any) -> tuple[dict[str, Any], str]:
    """Create or update a connection from ``body`` (no ``api_key`` on an update: keep the
    stored one); the connection (without its key) and ``created|updated|unchanged``."""
    existing = (
        st.store.get_connection(project_id, body.get("name"))
        if isinstance(body, dict) and isinstance(body.get("name"), str)
        else None
    )
    problems = Problems()
    name, spec, api_key = check_connection(body, "$", problems, key_required=existing is None)
    if problems or name is None or spec is None:
        raise document.ConfigError(problems.items)
    token, hint = encrypter(st)(api_key) if api_key else (None, None)
    conn, action = st.store.put_connection(project_id, name, spec, token, hint)
    _refresh(st)
    return conn, action


def connection_users(st: ServerState, project_id: str, name: str) -> list[str]:
    """The names of the evaluators that judge through the connection ``name``."""
    return [
        e["name"]
        for e in st.store.list_evaluators(project_id)
        if e["spec"].get("connection") == name
    ]


def remove_connection(st: ServerState, project_id: str, name: str) -> None:
    """Delete a connection; a conflict while evaluators use it."""
    users = connection_users(st, project_id, name)
    if users:
        raise Conflict(f"connection {name} is used by evaluators {users}; change them first")
    if not st.store.delete_connection(project_id, name):
        raise NotFound(f"connection {name!r} not found in this project")


@router.delete("/api/connections/{name}", summary="Delete an LLM connection")
def delete_connection(request: Request, name: str, project_id: str = Depends(project_of)) -> dict:
    remove_connection(state_of(request), project_id, name)
    return {"deleted": name}


@router.post("/api/connections/{name}/test", summary="Test an LLM connection")
async def test_connection_route(
    request: Request, name: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    """A one-token completion through the connection: ``{ok, message}``."""
    ok, message = await check_connection_works(state_of(request), project_id, name)
    return {"ok": ok, "message": message}


async def check_connection_works(st: ServerState, project_id: str, name: str) -> tuple[bool, str]:
    """``(ok, message)`` of a one-token completion through the project's connection."""
    from heron.evals.judging import connection_of, test

    conn = await run_in_threadpool(connection_of, st.store, project_id, name, secret_key(st))
    return await test(conn)


# -- configuration as code -----------------------------------------------------------------


@router.post("/api/config/apply", summary="Apply a configuration document (YAML or JSON)")
async def apply_config(
    request: Request,
    project_id: str = Depends(project_of),
    dry_run: bool = Query(False, description="Only validate and answer the plan."),
) -> dict[str, Any]:
    """Sections ``score_configs``, ``connections``, ``channels``, ``evaluators``, ``rules``,
    ``alerts``; everything is checked
    first (a 400 lists every problem with its path), then each object is created or updated
    by name. Objects left out of the document are left alone."""
    st = state_of(request)
    text = await _body(request)
    doc = document.parse_document(text)

    def work() -> dict[str, Any]:
        changes = document.plan(
            st.store,
            project_id,
            doc,
            custom_modules=st.settings.custom_modules,
            key_of=document.key_reader(st.store, project_id, secret_key(st)),
        )
        if dry_run:
            return {"dry_run": True, "changes": [c.view() for c in changes]}
        done = document.apply(st.store, project_id, changes, encrypter(st))
        return {"dry_run": False, "changes": done}

    out = await run_in_threadpool(work)
    _refresh(st)
    from heron.server.signals import refresh_rules

    refresh_rules(st)
    return out


@router.get("/api/config", summary="Export the project's configuration")
def export_config(
    request: Request,
    project_id: str = Depends(project_of),
    format: str = Query("yaml", pattern="^(yaml|json)$"),
) -> Response:
    """The configuration document (connection keys left out: applying it keeps them)."""
    doc = document.export(state_of(request).store, project_id)
    if format == "json":
        return JSON(doc)
    return PlainTextResponse(document.dump(doc, "yaml"), media_type="application/yaml")


@router.post("/api/evaluators/try", summary="Try an evaluator on one trace, without saving")
async def try_evaluator_route(request: Request, project_id: str = Depends(project_of)) -> dict:
    """``{evaluator: {...definition...}, trace_id | session_id, observation_id?}``: the
    variables read, the filled prompt, the judge's raw answer and the parsed score (nothing
    is stored but a judge call's trace)."""
    st = state_of(request)
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("evaluator"), dict):
        raise BadRequest("body: expected {evaluator: {...}, trace_id or session_id}")
    unknown = sorted(set(body) - {"evaluator", "trace_id", "session_id", "observation_id"})
    if unknown:
        raise BadRequest(f"unknown fields {unknown}")
    definition = {"name": "draft", **body["evaluator"]}
    target = body.get("session_id") or body.get("trace_id")
    if not isinstance(target, str) or not target:
        raise BadRequest("trace_id (or session_id for a sessions evaluator): required")
    return await run_in_threadpool(
        try_definition, st, project_id, definition, target, body.get("observation_id")
    )


def try_definition(
    st: ServerState,
    project_id: str,
    definition: Any,
    target: str,
    observation_id: str | None = None,
) -> dict[str, Any]:
    """Check an unsaved ``definition`` and try it on ``target`` (a trace, or a session for
    an evaluator of sessions): :func:`heron.evals.trial.try_evaluator`'s answer."""
    from heron.evals.trial import try_evaluator

    name, spec = check_definition(st, project_id, definition)
    return try_evaluator(st.store, project_id, name, spec, target, observation_id)
