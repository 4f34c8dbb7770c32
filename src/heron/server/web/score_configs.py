"""The score configs settings page: list the project's configs, create, edit, archive and
unarchive them. Members and above change them (``write``); viewers read. The rules are the
API's (:mod:`heron.scores.configs`): a form error is shown above the form, kept filled in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heron.scores import DATA_TYPES, ScoreError
from heron.scores.configs import parse_config, patch_config
from heron.server.state import state_of
from heron.server.web.auth import WebUser, csrf_user, not_found
from heron.server.web.render import page
from heron.server.web.scope import Scope, page_scope

router = APIRouter(include_in_schema=False)

PATH = "/settings/score-configs"
SHOWN = 500  # configs listed on the page (projects have a handful)
_TEXT_FIELDS = ("name", "data_type", "min_value", "max_value", "categories", "description")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(text: str, label: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ScoreError(f"{label}: {text!r} is not a number") from None


def _categories(text: str) -> list[dict[str, Any]] | None:
    """One category a line, ``label = value``."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, value = line.rpartition("=")
        if not sep or not label.strip():
            raise ScoreError(f"categories, line {n}: expected 'label = value', got {line!r}")
        out.append({"label": label.strip(), "value": _number(value.strip(), f"line {n} value")})
    return out or None


def body_from_form(form: FormData, creating: bool) -> dict[str, Any]:
    """The API body the form describes (an empty field: not set)."""
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "categories": _categories(_text(form, "categories")),
        "minValue": _number(_text(form, "min_value"), "minimum"),
        "maxValue": _number(_text(form, "max_value"), "maximum"),
        "description": _text(form, "description") or None,
    }
    if creating:
        body["dataType"] = _text(form, "data_type")
    return body


def _form_of(config: dict[str, Any]) -> dict[str, str]:
    def num(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    categories = config["categories"] if config["dataType"] == "CATEGORICAL" else None
    return {
        "id": config["id"], "name": config["name"], "data_type": config["dataType"],
        "min_value": num(config["minValue"]), "max_value": num(config["maxValue"]),
        "categories": "\n".join(f"{c['label']} = {c['value']:g}" for c in categories or ()),
        "description": config["description"] or "",
    }  # fmt: skip


def _here(scope: Scope, **params: str) -> str:
    return f"{PATH}?" + urlencode({"project": scope.project_id, **params})


async def _render(
    request: Request,
    scope: Scope,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    store = state_of(request).store
    configs, total = await run_in_threadpool(store.list_score_configs, scope.project_id, 1, SHOWN)
    if form is None:
        editing = next((c for c in configs if c["id"] == request.query_params.get("edit")), None)
        form = _form_of(editing) if editing else {"id": "", **dict.fromkeys(_TEXT_FIELDS, "")}
    context = scope.context(
        section="score_configs", configs=configs, total=total, form=form, error=error,
        data_types=DATA_TYPES,
    )  # fmt: skip
    return page(request, "settings/score_configs.html", context, status_code)


async def _config(request: Request, scope: Scope, config_id: str) -> dict[str, Any]:
    store = state_of(request).store
    found = await run_in_threadpool(store.score_configs_by_id, scope.project_id, [config_id])
    if config_id not in found:
        raise not_found(f"score config {config_id!r}")
    return found[config_id]


@router.get(PATH)
async def score_configs_page(request: Request, scope: Scope = Depends(page_scope)) -> Response:
    """The page; ``?edit=ID`` fills the form with that config."""
    if scope.project is None:
        return page(request, "settings/score_configs.html", scope.context(section="score_configs"))
    scope.require("read")
    return await _render(request, scope)


@router.post(PATH)
async def save_config(
    request: Request, scope: Scope = Depends(page_scope), user: WebUser = Depends(csrf_user)
) -> Response:
    """Create a config, or edit one (field ``id``; its data type stays)."""
    scope.require("write")
    form = await request.form()
    config_id = _text(form, "id")
    try:
        if config_id:
            existing = await _config(request, scope, config_id)
            config = patch_config(existing, body_from_form(form, creating=False))
        else:
            config = parse_config(body_from_form(form, creating=True))
    except ScoreError as exc:
        shown = {"id": config_id, **{k: _text(form, k) for k in _TEXT_FIELDS}}
        return await _render(request, scope, shown, exc.message, 400)
    await run_in_threadpool(state_of(request).store.put_score_config, scope.project_id, config)
    return RedirectResponse(_here(scope, saved=config["id"]), status_code=303)


@router.post(PATH + "/{config_id}/archive")
async def archive_config(
    request: Request,
    config_id: str,
    scope: Scope = Depends(page_scope),
    user: WebUser = Depends(csrf_user),
) -> Response:
    """Archive the config (field ``archived=false``: unarchive it)."""
    scope.require("write")
    form = await request.form()
    existing = await _config(request, scope, config_id)
    config = patch_config(existing, {"isArchived": _text(form, "archived") != "false"})
    await run_in_threadpool(state_of(request).store.put_score_config, scope.project_id, config)
    return RedirectResponse(_here(scope), status_code=303)
