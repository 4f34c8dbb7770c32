"""Evaluators from people's labels, and their alignment with those labels, over HTTP.

- ``POST /api/evaluators/drafts/from-label`` ``{scoreName, positive, kind: judge|code,
  connection?, description?, keywords?, source?}``: a draft definition (nothing stored);
- ``POST /api/evaluators/drafts`` (a definition): create it **paused**, to align first;
- ``POST /api/evaluators/drafts/align`` ``{evaluator, scoreName, positive, limit?}``: align an
  unsaved definition; ``GET /api/evaluators/drafts/alignments/{id}`` its result;
- ``POST /api/evaluators/{name}/align`` ``{scoreName, positive, limit?, source?,
  evaluatorPositive?, threshold?}``: 202 ``{jobId, ...}``, a runner job (progress and cancel
  at ``/api/jobs/{id}``) evaluating the labelled traces without writing scores;
- ``GET /api/evaluators/{name}/alignment``: the latest run of its current version
  (``?version=``: of another), with the figures and the disagreeing traces.

Every route is scoped to the key's project, like :mod:`heron.server.evaluators`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.config import document
from heron.errors import BadRequest, Conflict, NotFound
from heron.evals import alignment, drafts, labels
from heron.server import evaluators as evapi
from heron.server import schemas
from heron.server.evaluators import project_of
from heron.server.responses import JSON
from heron.server.state import ServerState, state_of

router = APIRouter(
    tags=["evaluators"],
    responses={
        400: {"model": schemas.Error},
        401: {"model": schemas.Error},
        403: {"model": schemas.Error},
        404: {"model": schemas.Error},
    },
)
_DRAFT_KEYS = {
    "scoreName", "positive", "kind", "connection", "description", "keywords", "source", "rule",
}  # fmt: skip
DRAFT_REASON = "created from a draft: align it with people's labels before switching it on"


def _configs(st: ServerState, project_id: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document.all_score_configs(st.store, project_id)}


def resolve_labels(st: ServerState, project_id: str, body: dict[str, Any]) -> labels.Labels:
    """The label a request names (``scoreName``, ``positive``, ``source``)."""
    return labels.resolve(
        st.store,
        project_id,
        body.get("scoreName"),
        body.get("positive"),
        body.get("source", "ANNOTATION"),
        _configs(st, project_id),
    )


def draft_from_label(st: ServerState, project_id: str, body: Any) -> dict[str, Any]:
    """A draft evaluator for the label ``body`` names (see the module docstring)."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected {scoreName, positive, kind}")
    unknown = sorted(set(body) - _DRAFT_KEYS)
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; expected some of {sorted(_DRAFT_KEYS)}")
    kind = body.get("kind", "judge")
    if kind not in drafts.KINDS:
        raise BadRequest(f"kind: one of {', '.join(drafts.KINDS)}")
    connection = body.get("connection")
    names = [c["name"] for c in st.store.list_connections(project_id)]
    if kind == "judge":
        if connection is None:
            if not names:
                raise BadRequest("connection: the project has no LLM connection; create one")
            connection = names[0]
        elif connection not in names:
            raise BadRequest(f"connection: no LLM connection named {connection!r}")
    found = resolve_labels(st, project_id, body)
    return drafts.draft(
        st.store, project_id, found, kind, connection, body.get("description"),
        body.get("keywords"), body.get("rule", "contains"),
    )  # fmt: skip


def save_draft(st: ServerState, project_id: str, definition: Any) -> dict[str, Any]:
    """Create the evaluator ``definition`` paused (a conflict when the name is taken)."""
    name, spec = evapi.check_definition(st, project_id, definition)
    if st.store.get_evaluator(project_id, name) is not None:
        raise Conflict(f"an evaluator named {name} exists: choose another name")
    ev, _ = evapi.store_evaluator(st, project_id, name, spec)
    st.store.set_evaluator_status(project_id, ev["id"], "paused", DRAFT_REASON)
    evapi._refresh(st)
    return evapi.evaluator_view(st, evapi.evaluator_named(st, project_id, name))


def start_alignment(st: ServerState, project_id: str, name: str, body: Any) -> dict[str, Any]:
    """Align the evaluator ``name``'s current version with the label ``body`` names."""
    checked = alignment.check_body(body)
    ev = evapi.evaluator_named(st, project_id, name)
    found = resolve_labels(st, project_id, checked)
    runner = evapi.runner_of(st)
    return alignment.start(st.store, runner, project_id, ev, found, checked)


def align_draft(st: ServerState, project_id: str, body: Any) -> dict[str, Any]:
    """Align an unsaved definition (``body.evaluator``) with the label ``body`` names."""
    if not isinstance(body, dict) or not isinstance(body.get("evaluator"), dict):
        raise BadRequest("body: expected {evaluator: {...definition...}, scoreName, positive}")
    rest = {k: v for k, v in body.items() if k != "evaluator"}
    checked = alignment.check_body(rest)
    name, spec = evapi.check_definition(st, project_id, {"name": "draft", **body["evaluator"]})
    found = resolve_labels(st, project_id, checked)
    draft = {"id": None, "name": name, "version": None, "spec": spec}
    return alignment.start(st.store, evapi.runner_of(st), project_id, draft, found, checked)


def draft_run(st: ServerState, project_id: str, run_id: str) -> dict[str, Any]:
    """An alignment run of an unsaved draft (a saved evaluator's runs are read by name)."""
    run = st.store.get_alignment(project_id, run_id)
    if run is None or run["evaluator_id"] is not None:
        raise NotFound(f"draft alignment {run_id!r} not found")
    return alignment.view(st.store, project_id, run)


def latest(
    st: ServerState, project_id: str, name: str, version: int | None = None
) -> dict[str, Any]:
    """The latest alignment of the evaluator's version (default: current); 404 if none."""
    ev = evapi.evaluator_named(st, project_id, name)
    run = st.store.latest_alignment(project_id, ev["id"], version or ev["version"])
    if run is None:
        raise NotFound(f"evaluator {name} version {version or ev['version']} was never aligned")
    return alignment.view(st.store, project_id, run)


@router.post("/api/evaluators/drafts/from-label", summary="Draft an evaluator from a label")
async def draft_route(request: Request, project_id: str = Depends(project_of)) -> dict:
    """``{scoreName, positive, kind: judge|code, connection?, description?, keywords?,
    source?}``: an LLM judge (or a ``contains`` rule) looking for the label, with a few
    labelled examples in its prompt. Nothing is stored."""
    st = state_of(request)
    body = await evapi._json(request)
    return await run_in_threadpool(draft_from_label, st, project_id, body)


@router.post("/api/evaluators/drafts", summary="Create an evaluator paused, to align first")
async def save_draft_route(request: Request, project_id: str = Depends(project_of)) -> Response:
    """A definition (the configuration format); the evaluator starts paused."""
    st = state_of(request)
    body = await evapi._json(request)
    return JSON(await run_in_threadpool(save_draft, st, project_id, body), 201)


@router.post("/api/evaluators/drafts/align", summary="Align an unsaved draft", status_code=202)
async def align_draft_route(request: Request, project_id: str = Depends(project_of)) -> Response:
    """``{evaluator: {...definition...}, scoreName, positive, limit?}``: like aligning a
    saved evaluator; read the result at ``GET /api/evaluators/drafts/alignments/{id}``."""
    st = state_of(request)
    body = await evapi._json(request)
    return JSON(await run_in_threadpool(align_draft, st, project_id, body), 202)


@router.get("/api/evaluators/drafts/alignments/{run_id}", summary="A draft's alignment")
def draft_alignment_route(
    request: Request, run_id: str, project_id: str = Depends(project_of)
) -> dict[str, Any]:
    return draft_run(state_of(request), project_id, run_id)


@router.post(
    "/api/evaluators/{name}/align", summary="Align an evaluator with labels", status_code=202
)
async def align_route(
    request: Request, name: str, project_id: str = Depends(project_of)
) -> Response:
    """``{scoreName, positive, limit?}``: evaluate the traces people labelled (at most 500, a
    stratified sample when more) and compare; 202 ``{jobId}``, poll ``GET /api/jobs/{id}``
    then ``GET /api/evaluators/{name}/alignment``. No score is written."""
    st = state_of(request)
    body = await evapi._json(request)
    return JSON(await run_in_threadpool(start_alignment, st, project_id, name, body), 202)


@router.get("/api/evaluators/{name}/alignment", summary="An evaluator's latest alignment")
def alignment_route(
    request: Request,
    name: str,
    project_id: str = Depends(project_of),
    version: int | None = Query(None, ge=1, description="Default: the current version."),
) -> dict[str, Any]:
    """True positive and true negative rates, precision, accuracy, Cohen's kappa, counts and
    the disagreeing traces (person's label, evaluator's value and reasoning)."""
    return latest(state_of(request), project_id, name, version)
