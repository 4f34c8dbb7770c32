"""The ``annotation_queues`` section of the configuration document.

A queue is ``{name, description?, score_configs: [config names], annotations_per_item?}``:
it names score configs by name (configs of the document's ``score_configs`` section, planned
before it, or the project's), never by id, so a document moves between projects. Items are
data, not configuration: a queue's items stay as they are when it is applied again.
"""

from __future__ import annotations

from typing import Any

from heron.annotation.spec import check_config_refs, check_description, check_name, check_per_item
from heron.config.sections import Change, Encrypt, Planning, Section, changed
from heron.evals.spec import Problems
from heron.store import Store

_KEYS = {"name", "description", "score_configs", "annotations_per_item"}


def check_queue(
    raw: Any, path: str, problems: Problems, score_configs: dict[str, dict[str, Any]]
) -> tuple[str | None, dict[str, Any] | None]:
    """``(name, spec)`` of a queue in the document's form (``score_configs`` by name);
    ``(None, None)`` after adding its problems."""
    if not isinstance(raw, dict):
        problems.add(path, "expected {name, score_configs, description?, annotations_per_item?}")
        return None, None
    before = len(problems.items)
    for key in sorted(set(raw) - _KEYS):
        problems.add(f"{path}.{key}", f"unknown field; fields: {', '.join(sorted(_KEYS))}")
    name = check_name(raw.get("name"), f"{path}.name", problems)
    spec = {
        "description": check_description(raw.get("description"), f"{path}.description", problems),
        "score_config_ids": check_config_refs(
            raw.get("score_configs"), f"{path}.score_configs", problems, score_configs, "name"
        ),
        "annotations_per_item": check_per_item(
            raw.get("annotations_per_item"), f"{path}.annotations_per_item", problems
        ),
    }
    if name is None or len(problems.items) > before:
        return None, None
    return name, spec


def _stored(queue: dict[str, Any]) -> dict[str, Any]:
    return {k: queue[k] for k in ("description", "score_config_ids", "annotations_per_item")}


def _plan(ctx: Planning, items: list[Any], problems: Problems, key: str) -> list[Change]:
    stored = {q["name"]: q for q in ctx.store.list_annotation_queues(ctx.project_id)}
    ctx.names["annotation_queue"] = set(stored)
    out = []
    for i, raw in enumerate(items):
        name, spec = check_queue(raw, f"{key}[{i}]", problems, ctx.score_configs)
        if name is None or spec is None:
            continue
        ctx.names["annotation_queue"].add(name)
        existing = stored.get(name)
        out.append(changed("annotation_queue", name, existing and _stored(existing), spec))
    return out


def _apply(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    existing = store.get_annotation_queue(project_id, change.name)
    if existing is not None and existing["name"] == change.name:
        store.update_annotation_queue(project_id, existing["id"], change.value)
    else:
        store.create_annotation_queue(project_id, {"name": change.name, **change.value})


def _export(store: Store, project_id: str) -> list[dict[str, Any]]:
    from heron.config.document import all_score_configs

    names = {c["id"]: c["name"] for c in all_score_configs(store, project_id)}
    out = []
    for q in store.list_annotation_queues(project_id):
        entry: dict[str, Any] = {"name": q["name"]}
        if q["description"] is not None:
            entry["description"] = q["description"]
        entry["score_configs"] = [names.get(i, i) for i in q["score_config_ids"]]
        if q["annotations_per_item"] != 1:
            entry["annotations_per_item"] = q["annotations_per_item"]
        out.append(entry)
    return out


ANNOTATION_QUEUES = Section("annotation_queues", "annotation_queue", _plan, _apply, _export)
