"""What the evaluator editor shows besides its form: definitions as YAML text (the
configuration format, :func:`heron.evals.spec.export_evaluator`), starters to begin from
(each built-in check, each managed judge template, a judge with its own prompt, a custom
function) and the reference beside the form (checks with their args, templates, fields).

Pure functions: the page routes are in :mod:`heron.server.web.evaluators`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from heron.config.document import ConfigError
from heron.evals import checks
from heron.evals.args import REQUIRED
from heron.evals.fields import FIELDS
from heron.evals.spec import export_evaluator

MAX_DEFINITION_CHARS = 100_000
# The order of a definition's keys on the page (stored specs come back sorted by key).
KEY_ORDER = (
    "name", "type", "description", "target", "observation", "check", "function",
    "connection", "model", "template", "prompt", "output", "score_config", "args",
    "variables", "filter", "sampling", "delay_seconds", "timeout_seconds",
)  # fmt: skip

# Args that make each check's starter run as it stands (what a user edits first).
_EXAMPLE_ARGS: dict[str, dict[str, Any]] = {
    "contains": {"any": ["refund"], "case_sensitive": False},
    "not_contains": {"any": ["as an AI language model"], "case_sensitive": False},
    "regex": {"pattern": r"\b\d{4}\b"},
    "max_length": {"limit": 2000, "unit": "chars"},
    "min_length": {"limit": 5, "unit": "words"},
    "json_schema": {"schema": {"type": "object", "required": ["answer"]}},
    "similarity": {"threshold": 0.8},
    "latency_above": {"ms": 5000},
    "cost_above": {"usd": 0.05},
}
# An example value of a required argument of each kind (a check added later).
_EXAMPLE_OF_KIND: dict[str, Any] = {
    "int": 1, "number": 1.0, "str": "text", "words": ["word"], "choice": None,
    "choices": [], "bool": True, "schema": {"type": "object"},
}  # fmt: skip
_OWN_PROMPT = """\
Rate how well the answer addresses the question, from 0 (not at all) to 1 (fully).

Question:
{{input}}

Answer:
{{output}}

Think it through first, then give the score.
"""


class _Dumper(yaml.SafeDumper):
    """YAML for a textarea: the definition's keys one a line, short lists and mappings of
    scalars inline (``any: [refund]``), multi-line strings (prompts) as ``|`` blocks."""

    _root = True

    def represent_mapping(self, tag: str, mapping: Any, flow_style: bool | None = None) -> Any:
        root, self._root = self._root, False
        return super().represent_mapping(tag, mapping, False if root else flow_style)


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_str(data)


_Dumper.add_representer(str, _text)


def dump(definition: Mapping[str, Any]) -> str:
    """A definition as YAML text, its keys in their given order."""
    return yaml.dump(
        dict(definition),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )


def definition_text(name: str, spec: Mapping[str, Any]) -> str:
    """A stored evaluator (or one of its versions) as the editor shows it: what
    :func:`export_evaluator` writes, its keys in the order a person reads them."""
    exported = export_evaluator(name, spec)
    first = {k: exported[k] for k in KEY_ORDER if k in exported}
    return dump({**first, **exported})


def parse(text: str) -> Any:
    """The definition a textarea holds (YAML, or JSON); a :class:`ConfigError` when it is
    not one."""
    if len(text) > MAX_DEFINITION_CHARS:
        raise ConfigError([("$", f"longer than {MAX_DEFINITION_CHARS:,} characters")])
    if not text.strip():
        raise ConfigError([("$", "empty: write a definition, or start from an example")])
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError([("$", f"not valid YAML or JSON{where}: {problem or exc}")]) from None


def templates() -> Mapping[str, Any]:
    """The managed judge templates (none when :mod:`heron.evals.templates` is absent)."""
    try:
        from heron.evals.templates import TEMPLATES
    except ImportError:
        return {}
    return TEMPLATES


# -- starters ------------------------------------------------------------------------------


def starters() -> list[dict[str, str]]:
    """``{value, label, group}`` of each starter the editor offers."""
    out = [
        {"value": f"check:{c.name}", "label": f"{c.name}: {c.description}", "group": "Code checks"}
        for c in checks.CHECKS.values()
    ]
    out += [
        {"value": f"template:{t.name}", "label": f"{t.name}: {t.title}", "group": "LLM judges"}
        for t in templates().values()
    ]
    out.append({"value": "judge", "label": "an LLM judge with your own prompt",
                "group": "LLM judges"})  # fmt: skip
    out.append({"value": "custom", "label": "a custom Python function", "group": "Custom"})
    return out


def _check_args(check: checks.Check) -> dict[str, Any]:
    if check.name in _EXAMPLE_ARGS:
        return dict(_EXAMPLE_ARGS[check.name])
    return {
        a.name: a.choices[0] if a.kind == "choice" and a.choices else _EXAMPLE_OF_KIND[a.kind]
        for a in check.args
        if a.default is REQUIRED
    }


def starter(value: str, connections: Sequence[str]) -> str:
    """The YAML text of starter ``value`` (an unknown one: the first check's)."""
    connection = connections[0] if connections else "my-connection"
    kind, _, name = value.partition(":")
    if kind == "template" and name in templates():
        template = templates()[name]
        return dump({"name": name, "type": "llm_judge", "connection": connection,
                     "template": name, "target": template.target})  # fmt: skip
    if kind == "judge":
        return dump({
            "name": "answer-quality", "type": "llm_judge", "connection": connection,
            "prompt": _OWN_PROMPT, "variables": {"input": "input", "output": "output"},
            "output": {"data_type": "NUMERIC", "min": 0, "max": 1}, "target": "traces",
        })  # fmt: skip
    if kind == "custom":
        return dump({"name": "my-evaluator", "type": "custom",
                     "function": "my_package.evaluators:score", "args": {},
                     "variables": {"text": "output"}, "target": "traces"})  # fmt: skip
    check = checks.CHECKS.get(name) or next(iter(checks.CHECKS.values()))
    return dump({"name": check.name.replace("_", "-"), "type": "code", "check": check.name,
                 "args": _check_args(check), "variables": dict(check.variables),
                 "target": "traces"})  # fmt: skip


# -- the reference beside the form -----------------------------------------------------------


def _arg_hint(arg: Any) -> dict[str, str]:
    if arg.default is REQUIRED:
        default = "required"
    elif arg.default is None:
        default = "optional"
    elif isinstance(arg.default, bool):
        default = f"default {str(arg.default).lower()}"
    elif isinstance(arg.default, tuple | list):
        default = f"default [{', '.join(map(str, arg.default))}]"
    else:
        default = f"default {arg.default}"
    kind = f"one of {', '.join(arg.choices)}" if arg.kind == "choice" else arg.kind
    if arg.kind == "choices":
        kind = f"some of {', '.join(arg.choices)}"
    return {"name": arg.name, "kind": kind, "default": default}


def check_hints() -> list[dict[str, Any]]:
    """Each built-in check: what it tells, what it reads by default, its args."""
    return [
        {
            "name": c.name,
            "description": c.description,
            "data_type": c.data_type,
            "variables": c.variables,
            "args": [_arg_hint(a) for a in c.args],
        }
        for c in checks.CHECKS.values()
    ]


def template_hints() -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "title": t.title,
            "description": t.description,
            "target": t.target,
            "variables": t.variables,
            "output": t.output.data_type,
        }
        for t in templates().values()
    ]


def field_hints() -> dict[str, tuple[str, ...]]:
    """The fields a variable may read, per target."""
    return FIELDS
