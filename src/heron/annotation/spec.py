"""What an annotation queue may be: its name, description, score configs and how many
people annotate each item; checked for the public API (config ids) and for the
configuration document (config names)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from heron.errors import BadRequest
from heron.evals.spec import Problems

MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_CONFIGS = 20
MAX_ANNOTATIONS_PER_ITEM = 5
OBJECT_TYPES = ("TRACE", "OBSERVATION", "SESSION")
ITEM_STATUSES = ("PENDING", "COMPLETED")
MAX_OBJECT_ID = 200
_NAME = re.compile(r"[^\x00-\x1f\x7f]+")


def check_name(raw: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(path, "required, a non-empty string")
        return None
    name = raw.strip()
    if len(name) > MAX_NAME:
        problems.add(path, f"at most {MAX_NAME} characters")
        return None
    if not _NAME.fullmatch(name):
        problems.add(path, "no control characters")
        return None
    return name


def check_description(raw: Any, path: str, problems: Problems) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_DESCRIPTION:
        problems.add(path, f"a string of at most {MAX_DESCRIPTION} characters")
        return None
    return raw


def check_per_item(raw: Any, path: str, problems: Problems) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.add(path, f"expected a whole number, got {raw!r}")
        return 1
    if not 1 <= raw <= MAX_ANNOTATIONS_PER_ITEM:
        problems.add(path, f"between 1 and {MAX_ANNOTATIONS_PER_ITEM}, got {raw}")
        return 1
    return raw


def check_config_refs(
    raw: Any, path: str, problems: Problems, known: Mapping[str, dict[str, Any]], what: str
) -> list[str]:
    """A list of score config references (ids or names, ``what`` says which), each one of
    ``known``'s keys; the stored values are the configs' ids."""
    if not isinstance(raw, list) or not raw:
        problems.add(path, f"expected a non-empty list of score config {what}s")
        return []
    if len(raw) > MAX_CONFIGS:
        problems.add(path, f"at most {MAX_CONFIGS} score configs")
        return []
    out: list[str] = []
    for i, ref in enumerate(raw):
        config = known.get(ref) if isinstance(ref, str) else None
        if config is None:
            problems.add(f"{path}[{i}]", f"no score config {what} {ref!r} in this project")
            continue
        if config.get("isArchived"):
            problems.add(f"{path}[{i}]", f"the score config {config['name']!r} is archived")
            continue
        if config["id"] in out:
            problems.add(f"{path}[{i}]", f"{ref!r} is named twice")
            continue
        out.append(config["id"])
    return out


_API_FIELDS = {"name", "description", "scoreConfigIds", "annotationsPerItem"}


def check_api_queue(
    body: Any, configs_by_id: Mapping[str, dict[str, Any]], *, partial: bool = False
) -> dict[str, Any]:
    """A queue (or, ``partial``, the changes to one) from a public API body in Langfuse's
    shape (``{name, description?, scoreConfigIds, annotationsPerItem?}``) as the store's
    spec; a 400 names every problem."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    problems = Problems()
    for key in sorted(set(body) - _API_FIELDS):
        problems.add(key, f"unknown field; fields: {', '.join(sorted(_API_FIELDS))}")
    spec: dict[str, Any] = {}
    if not partial or "name" in body:
        spec["name"] = check_name(body.get("name"), "name", problems)
    if "description" in body or not partial:
        spec["description"] = check_description(body.get("description"), "description", problems)
    if not partial or "scoreConfigIds" in body:
        spec["score_config_ids"] = check_config_refs(
            body.get("scoreConfigIds"), "scoreConfigIds", problems, configs_by_id, "id"
        )
    if not partial or "annotationsPerItem" in body:
        spec["annotations_per_item"] = check_per_item(
            body.get("annotationsPerItem"), "annotationsPerItem", problems
        )
    if problems:
        raise BadRequest("; ".join(f"{p}: {m}" for p, m in problems.items[:20]))
    return spec


def check_object(object_type: Any, object_id: Any, where: str = "") -> tuple[str, str]:
    """An item's ``(objectType, objectId)``; a 400 naming the field."""
    if not isinstance(object_type, str) or object_type.upper() not in OBJECT_TYPES:
        raise BadRequest(
            f"{where}objectType: one of {', '.join(OBJECT_TYPES)}, got {object_type!r}"
        )
    if not isinstance(object_id, str) or not object_id or len(object_id) > MAX_OBJECT_ID:
        raise BadRequest(
            f"{where}objectId: a non-empty string of at most {MAX_OBJECT_ID} characters"
        )
    return object_type.upper(), object_id


def check_status(raw: Any, where: str = "status") -> str:
    if not isinstance(raw, str) or raw.upper() not in ITEM_STATUSES:
        raise BadRequest(f"{where}: one of {', '.join(ITEM_STATUSES)}, got {raw!r}")
    return raw.upper()
