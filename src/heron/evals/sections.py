"""The ``connections`` and ``evaluators`` sections of the configuration document."""

from __future__ import annotations

from typing import Any

from heron.config.sections import Change, Encrypt, Planning, Section, changed
from heron.evals.spec import Problems, check_connection, check_evaluator, export_evaluator
from heron.store import Store


def _plan_connections(
    ctx: Planning, items: list[Any], problems: Problems, key: str
) -> list[Change]:
    stored = {c["name"]: c for c in ctx.store.list_connections(ctx.project_id)}
    names = ctx.names.setdefault("connection", set(stored))
    out = []
    for i, raw in enumerate(items):
        existing = stored.get(raw.get("name")) if isinstance(raw, dict) else None
        name, spec, api_key = check_connection(
            raw, f"{key}[{i}]", problems, key_required=existing is None
        )
        if name is None or spec is None:
            continue
        names.add(name)
        if existing is not None and ctx.same_secret("connection", name, api_key):
            api_key = None  # the key it has
        out.append(changed("connection", name, existing and existing["spec"], spec, api_key))
    return out


def _apply_connection(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    token, hint = encrypt(change.secret) if change.secret else (None, None)
    store.put_connection(project_id, change.name, change.value, token, hint)


def _export_connections(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [
        {"name": c["name"], **{k: v for k, v in c["spec"].items() if v not in (None, {})}}
        for c in store.list_connections(project_id)
    ]


def _plan_evaluators(ctx: Planning, items: list[Any], problems: Problems, key: str) -> list[Change]:
    out = []
    for i, raw in enumerate(items):
        name, spec = check_evaluator(
            raw,
            f"{key}[{i}]",
            problems,
            connections=ctx.names.get("connection", set()),
            score_configs=ctx.score_configs,
            custom_modules=ctx.custom_modules,
        )
        if name is None or spec is None:
            continue
        existing = ctx.store.get_evaluator(ctx.project_id, name)
        out.append(changed("evaluator", name, existing and existing["spec"], spec))
    return out


def _apply_evaluator(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    store.put_evaluator(project_id, change.name, change.value)


def _export_evaluators(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [export_evaluator(e["name"], e["spec"]) for e in store.list_evaluators(project_id)]


CONNECTIONS = Section(
    "connections", "connection", _plan_connections, _apply_connection, _export_connections
)
EVALUATORS = Section(
    "evaluators", "evaluator", _plan_evaluators, _apply_evaluator, _export_evaluators
)
