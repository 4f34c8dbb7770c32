"""Configuration as code: one document of named objects, checked whole, then applied by name.

Sections (field names are the contract; see docs/configuration.md and each domain's page),
planned and applied in this order so an object can name the ones before it:

- ``score_configs``: ``{name, data_type, min, max, categories, description, archived}``;
- ``annotation_queues``: :mod:`heron.annotation.sections` (docs/annotation.md);
- ``connections``, ``evaluators``: :mod:`heron.evals.sections` (docs/evaluators.md);
- ``channels``, ``rules``, ``alerts``: :mod:`heron.signals.sections` (docs/signals.md).

Each section is a :class:`heron.config.sections.Section`. :func:`plan` validates everything
first (every problem with its path) and says what would change; :func:`apply` then creates
or updates each object by name. Objects the document leaves out are left alone.
:func:`export` writes the project's configuration in the same format, secrets left out:
applying an export changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import yaml

from heron.config.sections import Change, Encrypt, KeyOf, Planning, Section
from heron.errors import BadRequest
from heron.evals.spec import Problems
from heron.scores.configs import check_config as check_score_config
from heron.scores.parse import ScoreError
from heron.store import Store

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
        keys = ", ".join(s.key for s in sections())
        raise ConfigError([("$", f"expected a mapping of sections: {keys}")])
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
    key_of: KeyOf | None = None,
) -> list[Change]:
    """What applying ``doc`` would change; raises :class:`ConfigError` listing every
    problem (nothing is changed). ``key_of(kind, name)``: a stored object's secret in
    clear, so that giving the same secret again is no change."""
    problems = Problems()
    keys = [s.key for s in sections()]
    for key in sorted(set(doc) - set(keys)):
        problems.add(key, f"unknown section; sections: {', '.join(keys)}")
    items: dict[str, list[Any]] = {}
    for key in keys:
        value = doc.get(key) or []
        if not isinstance(value, list):
            problems.add(key, "expected a list")
            value = []
        if len(value) > MAX_OBJECTS:
            problems.add(key, f"at most {MAX_OBJECTS} objects")
            value = []
        items[key] = value
    _unique_names(items, problems)
    ctx = Planning(store, project_id, custom_modules, key_of)
    changes: list[Change] = []
    for section in sections():
        changes += section.plan(ctx, items[section.key], problems, section.key)
    if problems:
        raise ConfigError(problems.items)
    return changes


def apply(
    store: Store, project_id: str, changes: list[Change], encrypt: Encrypt
) -> list[dict[str, Any]]:
    """Make the planned changes, section by section in document order (an object is made
    before the objects that name it); ``encrypt(secret) -> (token, hint)``. Returns what
    each became."""
    by_kind = {s.kind: s for s in sections()}
    out = []
    for change in changes:
        if change.action != "unchanged":
            by_kind[change.kind].apply(store, project_id, change, encrypt)
        out.append(change.view())
    return out


def export(store: Store, project_id: str) -> dict[str, Any]:
    """The project's configuration in the document format; secrets left out."""
    return {s.key: s.export(store, project_id) for s in sections()}


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


def _plan_score_configs(
    ctx: Planning, items: list[Any], problems: Problems, key: str
) -> list[Change]:
    stored = {c["name"]: c for c in all_score_configs(ctx.store, ctx.project_id)}
    out = []
    for i, raw in enumerate(items):
        change = _score_config(raw, f"{key}[{i}]", stored, problems)
        if change is not None:
            out.append(change)
    ctx.score_configs = {**stored, **{c.name: c.value for c in out}}
    ctx.names["score_config"] = set(ctx.score_configs)
    return out


def _apply_score_config(store: Store, project_id: str, change: Change, encrypt: Encrypt) -> None:
    store.put_score_config(project_id, change.value)


def _export_score_configs(store: Store, project_id: str) -> list[dict[str, Any]]:
    return [
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


SCORE_CONFIGS = Section(
    "score_configs", "score_config", _plan_score_configs, _apply_score_config,
    _export_score_configs,
)  # fmt: skip


def sections() -> tuple[Section, ...]:
    """The document's sections in the order they are planned and applied."""
    from heron.annotation.sections import ANNOTATION_QUEUES  # issue 16
    from heron.evals.sections import CONNECTIONS, EVALUATORS
    from heron.signals.sections import ALERTS, CHANNELS, RULES

    return (SCORE_CONFIGS, ANNOTATION_QUEUES, CONNECTIONS, CHANNELS, EVALUATORS, RULES, ALERTS)


def key_reader(store: Store, project_id: str, key: bytes) -> KeyOf:
    """``(kind, name) -> secret in clear`` of the project's connections and channels, for
    :func:`plan` (``key``: the server's key for secrets)."""
    from heron.evals.secrets import decrypt

    def key_of(kind: str, name: str) -> str | None:
        if kind == "connection":
            found = store.get_connection(project_id, name, with_key=True)
            token = found and found["api_key"]
        elif kind == "channel":
            found = store.get_channel(project_id, name, with_secret=True)
            token = found and found["secret"]
        else:
            return None
        return decrypt(token, key) if token else None

    return key_of
