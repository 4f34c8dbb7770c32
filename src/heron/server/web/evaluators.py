"""The evaluator pages: the list (``/evaluators``), one evaluator with its versions, run log,
pause and resume and backfills with their progress (``/evaluators/{name}``), and the editor
(``/evaluators/new``, ``/evaluators/{name}/edit``) where a definition is tried on a trace
before it is saved.

Viewers read; members and above change (``write``). Every change calls the same functions
as the JSON API (:mod:`heron.server.evaluators`), so the rules and problems are the API's:
a definition with problems comes back above the form, every problem with its path, the text
kept. "Try on this trace" is a form post too: the page runs the unsaved definition on the
trace and shows the variables, the filled prompt, the judge's raw answer and the parsed score.
A backfill's progress is polled by ``static/evaluators.js`` from
``/evaluators/{name}/jobs/{id}`` (JSON, the session's project only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from heron.analysis.service import CONFIG_NAME, category_definition
from heron.config.document import ConfigError
from heron.errors import HeronError
from heron.evals import alignment
from heron.runner.engine import job_view
from heron.server import alignment as alignment_api
from heron.server import evaluators as api
from heron.server.state import state_of
from heron.server.web import evaluator_editor as editor
from heron.server.web.auth import PageError, WebUser, csrf_user, not_found
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)

JOBS_SHOWN = 5  # backfills listed on an evaluator's page
LOG_SHOWN = 50  # run-log lines shown
Problem = tuple[str | None, str]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _q(scope: Scope, **params: str) -> str:
    return urlencode({"project": scope.project_id, **{k: v for k, v in params.items() if v}})


def evaluator_url(scope: Scope, name: str, suffix: str = "", **params: str) -> str:
    return f"/evaluators/{quote(name, safe='')}{suffix}?" + _q(scope, **params)


def _problems(exc: Exception) -> list[Problem]:
    if isinstance(exc, ConfigError):
        return list(exc.problems)
    if isinstance(exc, HeronError):
        return [(None, exc.message)]
    return [(None, str(exc))]


async def _call(fn: Any, *args: Any) -> Any:
    """Run an API function; its not-found is the page's 404, any other refusal a 400/409."""
    try:
        return await run_in_threadpool(fn, *args)
    except HeronError as exc:
        if exc.status_code == 404:
            raise PageError(404, f"Not found: {exc.message}.") from None
        raise PageError(exc.status_code, exc.message) from None


def _evaluator(request: Request, scope: Scope, name: str) -> dict[str, Any]:
    ev = state_of(request).store.get_evaluator(scope.project_id, name)
    if ev is None:
        raise not_found(f"evaluator {name!r}")
    return ev


# -- the list ------------------------------------------------------------------------------


@router.get("/evaluators")
async def evaluators_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """Every evaluator of the project with its figures; ``?trace=ID`` offers to try each one
    (or a new one) on that trace."""
    if scope.project is None:
        return page(request, "evaluators.html", scope.context(evaluators=[], trace=""))
    scope.require("read")
    st = state_of(request)

    def views() -> list[dict[str, Any]]:
        return [api.evaluator_view(st, e) for e in st.store.list_evaluators(scope.project_id)]

    context = scope.context(
        evaluators=await run_in_threadpool(views),
        trace=request.query_params.get("trace", "")[:200],
    )
    return page(request, "evaluators.html", context)


# -- one evaluator -------------------------------------------------------------------------


def _jobs(request: Request, scope: Scope, ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluator's latest backfills, newest first."""
    found = []
    for job in state_of(request).store.runner_jobs(scope.project_id):
        if ev["id"] in ((job["spec"].get("options") or {}).get("evaluators") or ()):
            found.append(job_view(job))
        if len(found) == JOBS_SHOWN:
            break
    return found


def _log_href(scope: Scope, target: str | None, evaluated: str) -> str | None:
    """Where a run-log line's target is shown (an observation's trace is not known)."""
    if not target or evaluated == "observations":
        return None
    kind = "sessions" if evaluated == "sessions" else "traces"
    return f"/{kind}/{quote(target, safe='')}?" + _q(scope)


async def _show(
    request: Request,
    scope: Scope,
    name: str,
    backfill: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    align: dict[str, str] | None = None,
    align_error: str | None = None,
) -> Response:
    st = state_of(request)

    def context() -> dict[str, Any]:
        ev = _evaluator(request, scope, name)
        aligned = alignment_context(request, scope, ev, align, align_error)
        view = api.evaluator_view(st, ev, detail=True)
        for line in view["log"]:
            line["href"] = _log_href(scope, line["target"], view["target"])
        return scope.context(
            ev=view,
            definition=editor.definition_text(ev["name"], ev["spec"]),
            versions=[{**v, "text": editor.dump(v["definition"])} for v in view["versions"]],
            log=view["log"][:LOG_SHOWN],
            jobs=_jobs(request, scope, ev),
            backfill=backfill or {"from": "", "to": "", "limit": ""},
            error=error,
            saved=request.query_params.get("saved", ""),
            **aligned,
        )

    return page(request, "evaluator.html", await run_in_threadpool(context), status_code)


@router.get("/evaluators/new")
async def new_evaluator(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The editor for a new evaluator: ``?start=`` names the starter (``check:contains``,
    ``template:helpfulness``, ``judge``, ``custom``), ``?trace=`` the trace to try it on."""
    scope.require("write")
    params = request.query_params
    if "score" in params or "from_category" in params:
        return await _draft_editor(request, scope)
    names = [c["name"] for c in state_of(request).store.list_connections(scope.project_id)]
    start = params.get("start", "check:contains")
    text = editor.starter(start, names)
    return await _editor(request, scope, text, "", params.get("trace", "")[:200], "", start=start)


@router.get("/evaluators/{name}")
async def evaluator_page(
    request: Request, name: str, scope: Scope = Depends(page_scope)
) -> Response:
    scope.require("read")
    return await _show(request, scope, name)


@router.get("/evaluators/{name}/edit")
async def edit_evaluator(
    request: Request, name: str, scope: Scope = Depends(page_scope)
) -> Response:
    """The editor with the evaluator's current definition (``?trace=``: the trace to try)."""
    scope.require("write")
    ev = await run_in_threadpool(_evaluator, request, scope, name)
    text = editor.definition_text(ev["name"], ev["spec"])
    return await _editor(request, scope, text, name, request.query_params.get("trace", "")[:200])


# -- the editor ----------------------------------------------------------------------------


async def _editor(
    request: Request,
    scope: Scope,
    text: str,
    editing: str,
    trace_id: str = "",
    observation_id: str = "",
    problems: list[Problem] | None = None,
    trial: dict[str, Any] | None = None,
    status_code: int = 200,
    start: str = "",
    draft: dict[str, Any] | None = None,
) -> Response:
    st = state_of(request)
    connections = await run_in_threadpool(st.store.list_connections, scope.project_id)
    context = scope.context(
        draft=draft,
        definition=text,
        editing=editing,
        trace_id=trace_id,
        observation_id=observation_id,
        problems=problems or [],
        trial=trial,
        starters=editor.starters(),
        start=start,
        checks=editor.check_hints(),
        templates=editor.template_hints(),
        fields=editor.field_hints(),
        connections=[c["name"] for c in connections],
    )
    return page(request, "evaluator_edit.html", context, status_code)


@router.post("/evaluators/try")
async def try_on_trace(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Run the unsaved definition (field ``definition``) on the trace ``trace_id`` (a session
    for an evaluator of sessions; ``observation_id`` optional) and show the editor again with
    what it read and answered. A judge's call costs what a real one does."""
    scope.require("write")
    form = await request.form()
    text, editing = str(form.get("definition") or ""), _text(form, "editing")
    trace_id, observation_id = _text(form, "trace_id"), _text(form, "observation_id")
    st = state_of(request)
    if not trace_id:
        problems: list[Problem] = [("trace_id", "give the id of a trace to try it on")]
        return await _editor(request, scope, text, editing, "", observation_id, problems, None,
                             400)  # fmt: skip
    try:
        definition = editor.parse(text)
        trial = await run_in_threadpool(
            api.try_definition, st, scope.project_id, definition, trace_id, observation_id or None
        )
    except HeronError as exc:
        return await _editor(request, scope, text, editing, trace_id, observation_id,
                             _problems(exc), None, 400, draft=draft_of(form))  # fmt: skip
    return await _editor(request, scope, text, editing, trace_id, observation_id, None, trial,
                         draft=draft_of(form))  # fmt: skip


def _save(st: Any, project_id: str, definition: Any, editing: str) -> tuple[str, str]:
    """Check and store the definition; ``(name, created|updated|unchanged)``. Editing, the
    name stays; a new evaluator may not take an existing one's name."""
    name, spec = api.check_definition(st, project_id, definition)
    if editing and name != editing:
        raise ConfigError([("$.name", f"this page edits {editing}; to make another evaluator, "
                            "start a new one")])  # fmt: skip
    if editing and st.store.get_evaluator(project_id, editing) is None:
        raise ConfigError([("$.name", f"evaluator {editing} no longer exists")])
    if not editing and st.store.get_evaluator(project_id, name) is not None:
        raise ConfigError([("$.name", f"an evaluator named {name} exists: edit it, or choose "
                            "another name")])  # fmt: skip
    _, action = api.store_evaluator(st, project_id, name, spec)
    return name, action


@router.post("/evaluators")
async def save_evaluator(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Create an evaluator, or give the one named in ``editing`` its next version (a
    changed definition); then its page. Problems come back above the form."""
    scope.require("write")
    form = await request.form()
    text, editing = str(form.get("definition") or ""), _text(form, "editing")
    st = state_of(request)
    try:
        definition = editor.parse(text)
        name, action = await run_in_threadpool(_save, st, scope.project_id, definition, editing)
    except HeronError as exc:
        return await _editor(request, scope, text, editing, _text(form, "trace_id"),
                             _text(form, "observation_id"), _problems(exc), None, 400,
                             draft=draft_of(form))  # fmt: skip
    draft = draft_of(form)
    if draft and action == "created":  # from a label: paused until aligned
        await run_in_threadpool(pause_draft, st, scope.project_id, name)
        return RedirectResponse(evaluator_url(scope, name, saved=action, align_score=draft[
            "score"], align_label=draft["label"]) + "#alignment", status_code=303)  # fmt: skip
    return RedirectResponse(evaluator_url(scope, name, saved=action), status_code=303)


# -- changing one --------------------------------------------------------------------------


@router.post("/evaluators/{name}/pause")
async def pause(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Pause it (form field ``next=list``: back to the list, else its page)."""
    scope.require("write")
    await _call(api.set_paused, state_of(request), scope.project_id, name, True)
    return await _back(request, scope, name)


@router.post("/evaluators/{name}/resume")
async def resume(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    scope.require("write")
    await _call(api.set_paused, state_of(request), scope.project_id, name, False)
    return await _back(request, scope, name)


async def _back(request: Request, scope: Scope, name: str) -> Response:
    if _text(await request.form(), "next") == "list":
        return RedirectResponse("/evaluators?" + _q(scope), status_code=303)
    return RedirectResponse(evaluator_url(scope, name), status_code=303)


@router.post("/evaluators/{name}/delete")
async def delete(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Delete the definition, its versions, figures and log (its scores stay)."""
    scope.require("write")
    await _call(api.remove_evaluator, state_of(request), scope.project_id, name)
    return RedirectResponse("/evaluators?" + _q(scope), status_code=303)


def _backfill_body(fields: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: fields[k] for k in ("from", "to") if fields[k]}
    if fields["limit"]:
        try:
            body["limit"] = int(fields["limit"])
        except ValueError:
            body["limit"] = fields["limit"]  # the API names the problem
    return body


@router.post("/evaluators/{name}/backfill")
async def backfill(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Evaluate stored history (fields ``from``, ``to``: UTC, empty: all time; ``limit``);
    back to the page, which follows the job's progress."""
    scope.require("write")
    form = await request.form()
    fields = {k: _text(form, k) for k in ("from", "to", "limit")}
    st = state_of(request)
    await run_in_threadpool(_evaluator, request, scope, name)
    try:
        job = await run_in_threadpool(
            api.start_backfill, st, scope.project_id, name, _backfill_body(fields)
        )
    except HeronError as exc:
        return await _show(request, scope, name, fields, exc.message, exc.status_code)
    return RedirectResponse(evaluator_url(scope, name, job=job["id"]) + "#backfill", 303)


@router.get("/evaluators/{name}/jobs/{job_id}")
async def job_progress(
    request: Request, name: str, job_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    """One of the evaluator's backfills as JSON, for the page's polling."""
    scope.require("read")
    st = state_of(request)

    def find() -> dict[str, Any] | None:
        ev = st.store.get_evaluator(scope.project_id, name)
        try:
            job = api.project_job(st, scope.project_id, job_id)
        except HeronError:
            return None
        wanted = (job["spec"].get("options") or {}).get("evaluators") or ()
        return job_view(job) if ev is not None and ev["id"] in wanted else None

    view = await run_in_threadpool(find)
    if view is None:
        return JSONResponse({"error": {"message": f"job {job_id!r} not found"}}, 404)
    keys = ("id", "status", "done", "total", "error", "created_at", "finished_at")
    return JSONResponse({k: view[k] for k in keys}, headers={"Cache-Control": "no-store"})


@router.post("/evaluators/{name}/jobs/{job_id}/cancel")
async def cancel_job(
    request: Request,
    name: str,
    job_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Cancel a backfill: the chunk under way finishes, the scores written stay."""
    scope.require("write")
    st = state_of(request)
    await _call(lambda: api.runner_of(st).cancel_job(scope.project_id, job_id))
    return RedirectResponse(evaluator_url(scope, name) + "#backfill", status_code=303)


# -- from a label, and alignment (issue 16) --------------------------------------------------


def draft_of(form: FormData) -> dict[str, str] | None:
    """The label a draft was made from (hidden fields ``draft_score``, ``draft_label``)."""
    score, label = _text(form, "draft_score")[:200], _text(form, "draft_label")[:200]
    return {"score": score, "label": label} if score and label else None


def pause_draft(st: Any, project_id: str, name: str) -> None:
    ev = st.store.get_evaluator(project_id, name)
    st.store.set_evaluator_status(project_id, ev["id"], "paused", alignment_api.DRAFT_REASON)
    api._refresh(st)


async def _draft_editor(request: Request, scope: Scope) -> Response:
    """The editor prefilled from a label: ``?score=&label=`` (``kind=judge|code``), or
    ``?from_category=<analysis>:<category>`` (error analysis)."""
    params = request.query_params
    st = state_of(request)
    kind = params.get("kind", "judge")
    score, label = params.get("score", "")[:200], params.get("label", "")[:200]
    names = [
        c["name"] for c in await run_in_threadpool(st.store.list_connections, scope.project_id)
    ]
    body: dict[str, Any] = {}
    if "from_category" in params and "score" not in params:
        analysis_id, _, category_id = params["from_category"][:200].partition(":")
        try:
            cat = await run_in_threadpool(
                category_definition, st.store, scope.project_id, analysis_id, category_id
            )
        except HeronError as exc:
            text = editor.starter("judge", names)
            return await _editor(request, scope, text, "", problems=_problems(exc),
                                 status_code=exc.status_code)  # fmt: skip
        # the category's accepted labels are failure_mode scores; its notes define it
        score, label = CONFIG_NAME, cat["label"]
        notes = "; ".join(e["note"] for e in cat["examples"])
        body = {"keywords": cat["keywords"][:50], "description": f"reviewers wrote: {notes}"[:2000]}
    body |= {"scoreName": score, "positive": label, "kind": kind}
    if kind == "judge" and names:
        body["connection"] = names[0]
    if kind == "code":
        body["rule"] = params.get("rule", "contains")
    draft = {"score": score, "label": label, "kind": kind}
    try:
        made = await run_in_threadpool(alignment_api.draft_from_label, st, scope.project_id, body)
    except HeronError as exc:
        text = editor.starter("judge" if kind == "judge" else "check:contains", names)
        return await _editor(request, scope, text, "", problems=_problems(exc), status_code=400,
                             draft=draft)  # fmt: skip
    draft.update(made)
    first = {k: made["definition"][k] for k in editor.KEY_ORDER if k in made["definition"]}
    return await _editor(request, scope, editor.dump(first), "", draft=draft)


def alignment_context(
    request: Request,
    scope: Scope,
    ev: dict[str, Any],
    form: dict[str, str] | None,
    error: str | None,
) -> dict[str, Any]:
    """The evaluator page's alignment: the latest run of its version (with its trace
    links), the last run of any version, and the align form's values."""
    st = state_of(request)
    run = st.store.latest_alignment(scope.project_id, ev["id"], ev["version"])
    view = alignment.view(st.store, scope.project_id, run) if run else None
    if view:
        for d in view["disagreements"]:
            d["href"] = f"/traces/{quote(d['traceId'], safe='')}?" + _q(scope)
        view["progress_url"] = evaluator_url(
            scope, ev["name"], f"/alignment/jobs/{quote(view['jobId'] or '', safe='')}"
        )
    previous = run or st.store.latest_alignment(scope.project_id, ev["id"], None)
    params = request.query_params
    if form is None:
        form = {
            "score": params.get("align_score", "")[:200]
            or (previous["score_name"] if previous else "failure_mode"),
            "label": params.get("align_label", "")[:200]
            or (_label_text(previous["positive"]) if previous else ""),
            "limit": "",
        }
    return {"alignment": view, "align": form, "align_error": error,
            "align_max": alignment.MAX_LIMIT}  # fmt: skip


def _label_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@router.post("/evaluators/{name}/align")
async def align(
    request: Request,
    name: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Align the evaluator with people's labels (fields ``score``, ``label``, ``limit``);
    back to its page, which follows the run's progress."""
    scope.require("write")
    form = await request.form()
    fields = {k: _text(form, k)[:200] for k in ("score", "label", "limit")}
    body: dict[str, Any] = {"scoreName": fields["score"], "positive": fields["label"] or None}
    if fields["limit"]:
        try:
            body["limit"] = int(fields["limit"])
        except ValueError:
            body["limit"] = fields["limit"]  # the API names the problem
    st = state_of(request)
    await run_in_threadpool(_evaluator, request, scope, name)
    try:
        await run_in_threadpool(alignment_api.start_alignment, st, scope.project_id, name, body)
    except HeronError as exc:
        return await _show(request, scope, name, status_code=exc.status_code, align=fields,
                           align_error=exc.message)  # fmt: skip
    return RedirectResponse(evaluator_url(scope, name) + "#alignment", status_code=303)


@router.get("/evaluators/{name}/alignment/jobs/{job_id}")
async def alignment_progress(
    request: Request, name: str, job_id: str, scope: Scope = Depends(page_scope)
) -> Response:
    """The progress of one of the evaluator's alignment runs as JSON (the page polls it)."""
    scope.require("read")
    st = state_of(request)

    def find() -> dict[str, Any] | None:
        ev = st.store.get_evaluator(scope.project_id, name)
        job = st.store.runner_job(job_id)
        if ev is None or job is None or job["project_id"] != scope.project_id:
            return None
        run_id = (job["spec"].get("options") or {}).get("alignment")
        run = st.store.get_alignment(scope.project_id, run_id) if run_id else None
        return job_view(job) if run is not None and run["evaluator_id"] == ev["id"] else None

    view = await run_in_threadpool(find)
    if view is None:
        return JSONResponse({"error": {"message": f"job {job_id!r} not found"}}, 404)
    keys = ("id", "status", "done", "total", "error", "created_at", "finished_at")
    return JSONResponse({k: view[k] for k in keys}, headers={"Cache-Control": "no-store"})
