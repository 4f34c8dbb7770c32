"""Trace rules: what they are, how a definition is checked, and the built-in rules.

A rule is a target (``traces`` or ``observations``), a filter in the shared language
(:mod:`heron.query.filters`, ``scores.<name>`` included), a severity and the channels it
notifies; every trace it matches raises a signal (:mod:`heron.signals.task`). The built-in
rules exist for every project without being stored; storing a rule under a built-in's name
overrides its ``enabled``, ``severity``, ``notify``, ``args`` and adds a narrowing
``filter``. Checking is pure and names every problem with its path, as
:func:`heron.evals.spec.check_evaluator` does; a checked rule is a plain dict (the stored
spec, without its name), and :func:`export_rule` gives it back in the configuration form
(applying an export changes nothing).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from heron.evals.spec import Problems, check_name
from heron.query.filters import FilterError, compile_filters, parse_filters
from heron.query.views import OBSERVATIONS, TRACES
from heron.signals.durations import parse_duration

TARGETS = ("traces", "observations")
SEVERITIES = ("info", "warning", "error", "critical")
MAX_MESSAGE = 500
MAX_NOTIFY = 20
MAX_FILTERS = 50
_RULE_KEYS = {"name", "target", "filter", "severity", "notify", "enabled", "message"}
_OVERRIDE_KEYS = {"name", "target", "filter", "severity", "notify", "enabled", "args"}


def _names(default: list[str] | None) -> dict[str, Any]:
    return {"kind": "names", "default": default}


# Each built-in: its target, default severity, description, and args (kind, default, bounds).
BUILTINS: dict[str, dict[str, Any]] = {
    "error": {
        "target": "observations",
        "severity": "error",
        "description": "an observation with level ERROR; the message is its status message",
        "args": {},
    },
    "slow": {
        "target": "traces",
        "severity": "warning",
        "description": "trace latency above the trailing percentile of traces of that name",
        "args": {
            "percentile": {"kind": "number", "default": 99.0, "low": 50.0, "high": 99.99},
            "window": {"kind": "duration", "default": "7d"},
            "min_traces": {"kind": "int", "default": 100, "low": 10, "high": 1_000_000},
        },
    },
    "expensive": {
        "target": "traces",
        "severity": "warning",
        "description": "trace cost above the trailing percentile of traces of that name",
        "args": {
            "percentile": {"kind": "number", "default": 99.0, "low": 50.0, "high": 99.99},
            "window": {"kind": "duration", "default": "7d"},
            "min_traces": {"kind": "int", "default": 100, "low": 10, "high": 1_000_000},
        },
    },
    "retry_cluster": {
        "target": "traces",
        "severity": "warning",
        "description": "the same tool or model called at least min_calls times in one trace "
        "after a failed call",
        "args": {"min_calls": {"kind": "int", "default": 3, "low": 2, "high": 1000}},
    },
    "negative_feedback": {
        "target": "traces",
        "severity": "warning",
        "description": "a person's score (source API or ANNOTATION): BOOLEAN false, or a "
        "NUMERIC rating at or below rating_at_most",
        "args": {
            "boolean_names": _names(None),
            "rating_names": _names(["user_rating"]),
            "rating_at_most": {"kind": "number", "default": 2.0, "low": -1e9, "high": 1e9},
        },
    },
    "implicit": {
        "target": "traces",
        "severity": "info",
        "description": "an implicit-feedback score (implicit_*) with value true",
        "args": {"names": _names(None)},
    },
}


def builtin_spec(name: str) -> dict[str, Any]:
    """The built-in rule ``name`` as it is before any override."""
    b = BUILTINS[name]
    return {
        "target": b["target"],
        "filter": [],
        "severity": b["severity"],
        "notify": [],
        "enabled": True,
        "args": {k: a["default"] for k, a in b["args"].items()},
    }


def check_rule(
    raw: Any, path: str, problems: Problems, *, channels: Collection[str]
) -> tuple[str | None, dict[str, Any] | None]:
    """``(name, spec)`` of one rule, or ``(name, None)`` with ``problems`` added.
    ``channels``: the names of the project's notification channels. A rule named after a
    built-in is an override of it (fields left out keep the built-in's values)."""
    start = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(path, "expected an object with name, target, filter, severity, ...")
        return None, None
    name = check_name(raw.get("name"), f"{path}.name", problems)
    builtin = BUILTINS.get(name or "")
    keys = _OVERRIDE_KEYS if builtin else _RULE_KEYS
    for key in sorted(set(raw) - keys):
        why = "a built-in rule writes its own message" if key == "message" else "unknown field"
        if key == "args" and not builtin:
            why = "only a built-in rule takes args"
        problems.add(f"{path}.{key}", why)
    if builtin:
        target = builtin["target"]
        if raw.get("target", target) != target:
            problems.add(f"{path}.target", f"the built-in rule {name} is on {target}")
    else:
        target = raw.get("target")
        if target not in TARGETS:
            problems.add(f"{path}.target", f"one of {', '.join(TARGETS)}")
            target = "traces"
    spec: dict[str, Any] = {
        "target": target,
        "filter": _filters(raw.get("filter"), f"{path}.filter", target, problems),
        "severity": _severity(
            raw.get("severity"), f"{path}.severity", problems, (builtin or {}).get("severity")
        ),
        "notify": _notify(raw.get("notify"), f"{path}.notify", problems, channels),
        "enabled": _flag(raw.get("enabled"), f"{path}.enabled", problems),
    }
    if builtin:
        spec["args"] = _args(raw.get("args"), f"{path}.args", problems, builtin["args"])
    else:
        if not spec["filter"] and raw.get("filter") is None:
            problems.add(f"{path}.filter", "required: a rule without a filter matches everything")
        message = raw.get("message")
        if message is not None:
            if not isinstance(message, str) or not message.strip():
                problems.add(f"{path}.message", "expected a non-empty string")
            elif len(message) > MAX_MESSAGE:
                problems.add(f"{path}.message", f"longer than {MAX_MESSAGE} characters")
            else:
                spec["message"] = message
    if len(problems.items) > start:
        return name, None
    return name, spec


def export_rule(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The rule in the configuration form (``check_rule`` of it gives ``spec`` back)."""
    out: dict[str, Any] = {"name": name, "target": spec["target"]}
    out["filter"] = [dict(f) for f in spec["filter"]]
    out["severity"] = spec["severity"]
    out["notify"] = list(spec["notify"])
    out["enabled"] = spec["enabled"]
    if "args" in spec:
        out["args"] = dict(spec["args"])
    if spec.get("message") is not None:
        out["message"] = spec["message"]
    return out


def effective_rules(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every rule of a project by name: the built-ins (with their stored overrides) and the
    stored user rules. Each spec carries ``builtin`` (bool) and ``overridden`` (bool)."""
    out: dict[str, dict[str, Any]] = {}
    for name in BUILTINS:
        spec = dict(stored.get(name) or builtin_spec(name))
        out[name] = {**spec, "builtin": True, "overridden": name in stored}
    for name, spec in sorted(stored.items()):
        if name not in BUILTINS:
            out[name] = {**spec, "builtin": False, "overridden": False}
    return out


# -- parts ---------------------------------------------------------------------------------


def _filters(raw: Any, path: str, target: str, problems: Problems) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, list) and len(raw) > MAX_FILTERS:
        problems.add(path, f"at most {MAX_FILTERS} filters")
        return []
    view = OBSERVATIONS if target == "observations" else TRACES
    try:
        parsed = parse_filters(raw)
        compile_filters(parsed, view)
    except FilterError as exc:
        problems.add(path, str(exc))
        return []
    return [
        {k: v for k, v in (("column", f.column), ("operator", f.operator), ("value", f.value),
                           ("key", f.key)) if v is not None or k == "value"}
        for f in parsed
    ]  # fmt: skip


def _severity(raw: Any, path: str, problems: Problems, default: str | None) -> str:
    if raw is None and default is not None:
        return default
    if raw not in SEVERITIES:
        problems.add(path, f"one of {', '.join(SEVERITIES)}")
        return default or "warning"
    return raw


def _notify(raw: Any, path: str, problems: Problems, channels: Collection[str]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_NOTIFY:
        problems.add(path, f"expected a list of at most {MAX_NOTIFY} channel names")
        return []
    out: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or item not in channels:
            shown = repr(item)[:80]
            problems.add(f"{path}[{i}]", f"no notification channel named {shown}")
        elif item not in out:
            out.append(item)
    return out


def _flag(raw: Any, path: str, problems: Problems) -> bool:
    if raw is None:
        return True
    if not isinstance(raw, bool):
        problems.add(path, "expected true or false")
        return True
    return raw


def _args(
    raw: Any, path: str, problems: Problems, kinds: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    out = {k: a["default"] for k, a in kinds.items()}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        problems.add(path, f"expected an object with some of {sorted(kinds) or 'no fields'}")
        return out
    for key in sorted(set(raw) - set(kinds)):
        problems.add(f"{path}.{key}", f"unknown argument; expected some of {sorted(kinds)}")
    for key, kind in kinds.items():
        if key in raw:
            out[key] = _arg(raw[key], f"{path}.{key}", problems, kind)
    return out


def _arg(raw: Any, path: str, problems: Problems, kind: Mapping[str, Any]) -> Any:
    k = kind["kind"]
    if k in ("number", "int"):
        ok = not isinstance(raw, bool) and isinstance(raw, int | float) and math.isfinite(raw)
        if k == "int":
            ok = ok and float(raw).is_integer()
        if not ok or not kind["low"] <= raw <= kind["high"]:
            what = "a whole number" if k == "int" else "a number"
            problems.add(path, f"{what} from {kind['low']:g} to {kind['high']:g}")
            return kind["default"]
        return int(raw) if k == "int" else float(raw)
    if k == "duration":
        try:
            parse_duration(raw)
            return raw.strip()
        except ValueError as exc:
            problems.add(path, str(exc))
            return kind["default"]
    # names: null (any) or a list of score names
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) > 100
        or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in raw)
    ):
        problems.add(path, "null (any) or a list of at most 100 score names")
        return kind["default"]
    return list(dict.fromkeys(raw))
