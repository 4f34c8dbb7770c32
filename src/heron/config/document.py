"""Configuration as code: one document of named objects, checked whole, then applied by name.

Sections (field names are the contract, see docs/evaluators.md):

- ``score_configs``: ``{name, data_type, min, max, categories, description, archived}``;
- ``connections``: LLM connections (:func:`heron.evals.spec.check_connection`);
- ``evaluators``: (:func:`heron.evals.spec.check_evaluator`).

:func:`plan` validates everything first (every problem with its path) and says what would
change; :func:`apply` then creates or updates each object by name, score configs first so
evaluators can name them. Objects the document leaves out are left alone. :func:`export`
writes the project's configuration in the same format, secrets left out: applying an export
changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from heron.errors import BadRequest
from heron.evals.spec import Problems, check_connection, check_evaluator, export_evaluator
from heron.scores.configs import check_config as check_score_config
from heron.scores.parse import ScoreError
from heron.store import Store

SECTIONS = ("score_configs", "connections", "evaluators")
MAX_OBJECTS = 500
_SCORE_CONFIG_KEYS = {"name", "data_type", "min", "max", "categories", "description", "archived"}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(BadRequest):
    """A document with problems: every one listed with its path."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{path}: {message}" for path, message in problems[:50])
        more = f" (and {len(problems) - 50} more)" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s): {lines}{more}")


@dataclass(slots=True)
class Change:
    kind: str  # score_config | connection | evaluator
    name: str
    action: str  # create | update | unchanged
    value: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None  # a connection's API key, as given

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action}


def parse_document(text: str | bytes) -> dict[str, Any]:
    """A YAML (or JSON, a subset of YAML) document as a mapping of sections."""
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([("$", f"not valid YAML or JSON{where}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([("$", f"expected a mapping of sections: {', '.join(SECTIONS)}")])
    return data


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """``${NAME}`` replaced by the environment's value (the applying client's); an unset
    name raises ValueError naming it."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            raise ValueError(f"environment variable {m.group(1)} is not set")
        return env[m.group(1)]

    return _ENV.sub(one, text)


def plan(
    store: Store,
    project_id: str,
    doc: Mapping[str, Any],
    *,
    custom_modules: tuple[str, ...] = (),
    key_of: Callable[[str], str | None] | None = None,
) -> list[Change]:
    """What applying ``doc`` would change; raises :class:`ConfigError` listing every
    problem (nothing is changed). ``key_of(name)``: a stored connection's API key in clear,
    so that giving the same key again is no change."""
    problems = Problems()
    for key in sorted(set(doc) - set(SECTIONS)):
        problems.add(key, f"unknown section; sections: {', '.join(SECTIONS)}")
    sections = {}
    for key in SECTIONS:
        items = doc.get(key) or []
        if not isinstance(items, list):
            problems.add(key, "expected a list")
            items = []
        if len(items) > MAX_OBJECTS:
            problems.add(key, f"at most {MAX_OBJECTS} objects")
            items = []
        sections[key] = items
    _unique_names(sections, problems)

    changes: list[Change] = []
    stored_configs = {c["name"]: c for c in all_score_configs(store, project_id)}
    new_configs: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(sections["score_configs"]):
        change = _score_config(raw, f"score_configs[{i}]", stored_configs, problems)
        if change is not None:
            changes.append(change)
            new_configs[change.name] = change.value
    configs = {**stored_configs, **new_configs}

    stored_connections = {c["name"]: c for c in store.list_connections(project_id)}
    names = set(stored_connections)
    for i, raw in enumerate(sections["connections"]):
        path = f"connections[{i}]"
        existing = stored_connections.get(raw.get("name")) if isinstance(raw, dict) else None
        name, spec, api_key = check_connection(raw, path, problems, key_required=existing is None)
        if name is None or spec is None:
            continue
        names.add(name)
        if api_key is not None and existing is not None and key_of is not None:
            try:
                if key_of(name) == api_key:
                    api_key = None  # the key it has
            except Exception:  # a key the server can no longer read: replace it
                pass
        same = existing is not None and existing["spec"] == spec and api_key is None
        action = "create" if existing is None else "unchanged" if same else "update"
        changes.append(Change("connection", name, action, spec, api_key))

    for i, raw in enumerate(sections["evaluators"]):
        name, spec = check_evaluator(
            raw,
            f"evaluators[{i}]",
            problems,
            connections=names,
            score_configs=configs,
            custom_modules=custom_modules,
        )
        if name is None or spec is None:
            continue
        existing = store.get_evaluator(project_id, name)
        action = (
            "create" if existing is None else "unchanged" if existing["spec"] == spec else "update"
        )
        changes.append(Change("evaluator", name, action, spec))
    if problems:
        raise ConfigError(problems.items)
    return changes


def apply(
    store: Store,
    project_id: str,
    changes: list[Change],
    encrypt: Callable[[str], tuple[str, str]],
) -> list[dict[str, Any]]:
    """Make the planned changes (score configs, then connections, then evaluators);
    ``encrypt(key) -> (token, hint)``. Returns what each became."""
    out = []
    for change in changes:
        if change.action == "unchanged":
            out.append(change.view())
            continue
        if change.kind == "score_config":
            store.put_score_config(project_id, change.value)
        elif change.kind == "connection":
            token, hint = encrypt(change.secret) if change.secret else (None, None)
            store.put_connection(project_id, change.name, change.value, token, hint)
        else:
            store.put_evaluator(project_id, change.name, change.value)
        out.append(change.view())
    return out


def export(store: Store, project_id: str) -> dict[str, Any]:
    """The project's configuration in the document format; connection keys left out."""
    configs = [
        {
            k: v
            for k, v in (
                ("name", c["name"]),
                ("data_type", c["dataType"]),
                ("min", c.get("minValue")),
                ("max", c.get("maxValue")),
                (
                    "categories",
                    [{"label": x["label"], "value": x["value"]} for x in c["categories"]]
                    if c["dataType"] == "CATEGORICAL"
                    else None,
                ),
                ("description", c.get("description")),
                ("archived", c.get("isArchived") or None),
            )
            if v is not None
        }
        for c in all_score_configs(store, project_id)
    ]
    connections = [
        {"name": c["name"], **{k: v for k, v in c["spec"].items() if v not in (None, {})}}
        for c in store.list_connections(project_id)
    ]
    evaluators = [export_evaluator(e["name"], e["spec"]) for e in store.list_evaluators(project_id)]
    return {"score_configs": configs, "connections": connections, "evaluators": evaluators}


def dump(doc: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True)


def all_score_configs(store: Store, project_id: str) -> list[dict[str, Any]]:
    """Every score config of the project (all pages)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        items, total = store.list_score_configs(project_id, page, 100)
        out.extend(items)
        if not items or len(out) >= total:
            return out
        page += 1


def _unique_names(sections: Mapping[str, list[Any]], problems: Problems) -> None:
    for key, items in sections.items():
        seen: dict[str, int] = {}
        for i, raw in enumerate(items):
            name = raw.get("name") if isinstance(raw, dict) else None
            if isinstance(name, str):
                if name in seen:
                    problems.add(f"{key}[{i}].name", f"{name!r} is also {key}[{seen[name]}]")
                seen.setdefault(name, i)


def _score_config(
    raw: Any, path: str, stored: Mapping[str, dict[str, Any]], problems: Problems
) -> Change | None:
    if not isinstance(raw, dict):
        problems.add(path, "expected {name, data_type, ...}")
        return None
    bad = sorted(set(raw) - _SCORE_CONFIG_KEYS)
    for key in bad:
        problems.add(f"{path}.{key}", "unknown field")
    categories = raw.get("categories")
    if isinstance(categories, list) and all(isinstance(c, str) for c in categories):
        categories = [{"label": c, "value": float(i)} for i, c in enumerate(categories)]
    existing = stored.get(raw.get("name")) if isinstance(raw.get("name"), str) else None
    body = {
        "id": existing["id"] if existing else uuid.uuid4().hex,
        "name": raw.get("name"),
        "dataType": raw.get("data_type"),
        "categories": categories,
        "minValue": raw.get("min"),
        "maxValue": raw.get("max"),
        "description": raw.get("description"),
        "isArchived": raw.get("archived", False),
    }
    try:
        config = check_score_config(body)
    except ScoreError as exc:
        message = str(exc)
        field_name, _, rest = message.partition(": ")
        problems.add(f"{path}.{_SNAKE.get(field_name, field_name)}", rest or message)
        return None
    if bad:
        return None
    if existing is not None and existing["dataType"] != config["dataType"]:
        problems.add(
            f"{path}.data_type",
            f"{existing['dataType']} in the project; a config's type cannot change "
            "(archive it and create one with another name)",
        )
        return None
    if existing is None:
        action = "create"
    else:
        current = {k: existing.get(k) for k in config}
        if current.get("dataType") == "BOOLEAN":
            current["categories"] = None
        action = "unchanged" if current == config else "update"
    return Change("score_config", config["name"], action, config)


_SNAKE = {
    "dataType": "data_type", "minValue": "min", "maxValue": "max", "isArchived": "archived",
    "minValue/maxValue": "min",
}  # fmt: skip
