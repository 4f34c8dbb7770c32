"""Evaluator and LLM-connection definitions: checked whole, every problem named with its path.

The shapes are those of the configuration format (``heron apply``, ``POST
/api/config/apply``, docs/evaluators.md); the API's create and update take the same objects.
Validation is pure: the caller says which connections and score configs exist. A checked
evaluator is a plain dict (the stored spec, without its name); its version changes when that
dict changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from heron.evals.fields import FIELDS, check_field
from heron.query.filters import FilterError, compile_filters, parse_filters
from heron.query.views import OBSERVATIONS, TRACES

EVALUATOR_TYPES = ("code", "llm_judge", "custom")
TARGETS = ("traces", "observations", "sessions")
OUTPUT_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL")
PROVIDERS = ("openai", "azure")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_PROMPT = 20_000
MAX_DESCRIPTION = 2_000
MAX_HEADERS = 20
DEFAULT_DELAY_S = 10.0
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "authorization"}
_EVALUATOR_KEYS = {
    "name", "type", "description", "check", "function", "args", "timeout_seconds",
    "connection", "model", "template", "prompt", "output", "score_config", "variables",
    "target", "observation", "filter", "sampling", "delay_seconds",
}  # fmt: skip
_CONNECTION_KEYS = {
    "name", "provider", "base_url", "api_key", "model", "headers", "api_version",
    "max_concurrency", "timeout_seconds",
}  # fmt: skip


@dataclass(slots=True)
class Problems:
    """Problems found so far, each ``(path, message)``."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)


def _number(
    raw: Any, path: str, problems: Problems, low: float, high: float, default: float
) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(path, f"expected a number, got {raw!r}")
        return default
    if not low <= raw <= high:
        problems.add(path, f"must be between {low:g} and {high:g}, got {raw:g}")
        return default
    return float(raw)


def _text(raw: Any, path: str, problems: Problems, limit: int, required: bool = False) -> Any:
    if raw is None:
        if required:
            problems.add(path, "required")
        return None
    if not isinstance(raw, str) or (required and not raw.strip()):
        problems.add(path, "expected a non-empty string" if required else "expected a string")
        return None
    if len(raw) > limit:
        problems.add(path, f"longer than {limit} characters")
        return None
    return raw


def check_name(raw: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(raw, str) or not NAME.fullmatch(raw):
        problems.add(
            path,
            "a name of 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
        return None
    return raw


# -- output of a judge ---------------------------------------------------------------------


def check_output(raw: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    """``{data_type, min, max, categories}``: what a judge answers."""
    if not isinstance(raw, dict):
        problems.add(path, "expected {data_type: NUMERIC|BOOLEAN|CATEGORICAL, ...}")
        return None
    unknown = sorted(set(raw) - {"data_type", "min", "max", "categories"})
    for key in unknown:
        problems.add(f"{path}.{key}", "unknown field")
    data_type = raw.get("data_type")
    if not isinstance(data_type, str) or data_type.upper() not in OUTPUT_TYPES:
        problems.add(f"{path}.data_type", f"one of {', '.join(OUTPUT_TYPES)}")
        return None
    data_type = data_type.upper()
    out: dict[str, Any] = {"data_type": data_type}
    if data_type == "NUMERIC":
        low = _number(raw.get("min"), f"{path}.min", problems, -1e12, 1e12, 0.0)
        high = _number(raw.get("max"), f"{path}.max", problems, -1e12, 1e12, 1.0)
        if low >= high:
            problems.add(f"{path}.min", f"{low:g} is not below max {high:g}")
        out.update(min=low, max=high)
    elif raw.get("min") is not None or raw.get("max") is not None:
        problems.add(f"{path}.min", f"only a NUMERIC output has a range, not {data_type}")
    categories = raw.get("categories")
    if data_type == "CATEGORICAL":
        if (
            not isinstance(categories, list)
            or not categories
            or len(categories) > 50
            or not all(isinstance(c, str) and c.strip() and len(c) <= 100 for c in categories)
            or len({c.lower() for c in categories}) != len(categories)
        ):
            problems.add(f"{path}.categories", "1 to 50 distinct non-empty labels")
            return None
        out["categories"] = list(categories)
    elif categories is not None:
        problems.add(f"{path}.categories", "only a CATEGORICAL output has categories")
    return out


def output_of_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A score config (Langfuse item shape) as a judge output."""
    data_type = config["dataType"]
    if data_type == "NUMERIC":
        low = config.get("minValue")
        high = config.get("maxValue")
        return {
            "data_type": "NUMERIC",
            "min": 0.0 if low is None else float(low),
            "max": 1.0 if high is None else float(high),
        }
    if data_type == "CATEGORICAL":
        return {
            "data_type": "CATEGORICAL",
            "categories": [c["label"] for c in config["categories"]],
        }
    return {"data_type": data_type}


# -- evaluators ----------------------------------------------------------------------------


def check_evaluator(
    raw: Any,
    path: str,
    problems: Problems,
    *,
    connections: Collection[str],
    score_configs: Mapping[str, Mapping[str, Any]],
    custom_modules: Collection[str] = (),
) -> tuple[str | None, dict[str, Any] | None]:
    """``(name, spec)`` of one evaluator, or ``(name, None)`` with ``problems`` added.
    ``connections``: names of existing LLM connections; ``score_configs``: configs by name;
    ``custom_modules``: module prefixes a ``custom`` evaluator may name by path."""
    start = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(path, "expected an object with name, type, ...")
        return None, None
    for key in sorted(set(raw) - _EVALUATOR_KEYS):
        problems.add(f"{path}.{key}", "unknown field")
    name = check_name(raw.get("name"), f"{path}.name", problems)
    kind = raw.get("type")
    if kind not in EVALUATOR_TYPES:
        problems.add(f"{path}.type", f"one of {', '.join(EVALUATOR_TYPES)}")
        return name, None
    target = raw.get("target", "traces")
    if target not in TARGETS:
        problems.add(f"{path}.target", f"one of {', '.join(TARGETS)}")
        target = "traces"
    spec: dict[str, Any] = {
        "type": kind,
        "target": target,
        "description": _text(raw.get("description"), f"{path}.description", problems, 2000),
        "sampling": _number(raw.get("sampling"), f"{path}.sampling", problems, 0.0, 1.0, 1.0),
        "delay_seconds": _number(
            raw.get("delay_seconds"), f"{path}.delay_seconds", problems, 0, 86_400, DEFAULT_DELAY_S
        ),
        "filter": _filters(raw.get("filter"), f"{path}.filter", target, problems),
    }
    if target == "observations":
        spec["observation"] = _observation(raw.get("observation"), f"{path}.observation", problems)
    elif raw.get("observation") is not None:
        problems.add(f"{path}.observation", "only an evaluator of observations names one")
    given = _variables(raw.get("variables"), f"{path}.variables", target, problems)
    if kind == "code":
        _code(raw, path, spec, given, problems)
    elif kind == "custom":
        _custom(raw, path, spec, given, problems, custom_modules)
    else:
        _judge(raw, path, spec, given, target, problems, connections, score_configs)
    if kind != "llm_judge":
        for key in ("connection", "model", "prompt", "template", "output"):
            if raw.get(key) is not None:
                problems.add(f"{path}.{key}", "only an llm_judge evaluator has this")
    config_name = raw.get("score_config")
    if config_name is not None:
        if not isinstance(config_name, str) or config_name not in score_configs:
            problems.add(f"{path}.score_config", f"no score config named {config_name!r}")
        else:
            spec["score_config"] = config_name
            _config_fits(score_configs[config_name], spec, f"{path}.score_config", problems)
    if len(problems.items) > start:
        return name, None
    return name, spec


def _filters(raw: Any, path: str, target: str, problems: Problems) -> list[dict[str, Any]]:
    if raw is None:
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


def _observation(raw: Any, path: str, problems: Problems) -> dict[str, Any]:
    if raw is None:
        return {"type": None, "name": None}
    if not isinstance(raw, dict) or set(raw) - {"type", "name"}:
        problems.add(path, "expected {type, name} (either may be left out)")
        return {"type": None, "name": None}
    out = {}
    for key in ("type", "name"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            problems.add(f"{path}.{key}", "expected a non-empty string")
            value = None
        out[key] = value.lower() if key == "type" and value else value
    return out


def _variables(raw: Any, path: str, target: str, problems: Problems) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(path, "expected {variable: field}")
        return {}
    if len(raw) > 50:
        problems.add(path, "at most 50 variables")
        return {}
    out = {}
    for name, source in raw.items():
        if not VARIABLE.fullmatch(str(name)):
            problems.add(f"{path}.{name}", "a variable name: letters, digits and _")
            continue
        problem = check_field(source, target)
        if problem:
            problems.add(f"{path}.{name}", problem)
            continue
        out[name] = source
    return out


def _defaults(names: Collection[str], target: str) -> dict[str, str]:
    """Variables named like a field read that field."""
    return {n: n for n in names if n in FIELDS[target]}


def _code(
    raw: dict[str, Any], path: str, spec: dict[str, Any], given: dict[str, str], problems: Problems
) -> None:
    from heron.evals import checks

    name = raw.get("check")
    if name not in checks.CHECKS:
        problems.add(f"{path}.check", f"one of {', '.join(sorted(checks.CHECKS))}")
        return
    check = checks.CHECKS[name]
    try:
        args = checks.validate_args(name, raw.get("args"))
    except checks.CheckArgsError as exc:
        for where, message in exc.problems:
            where = where if where.startswith("args") else f"args.{where}"
            problems.add(f"{path}.{where}", message)
        return
    unknown = sorted(set(given) - set(check.variables))
    for var in unknown:
        problems.add(
            f"{path}.variables.{var}",
            f"check {name} reads {', '.join(check.variables)}, not {var}",
        )
    spec.update(
        check=name,
        args=args,
        variables={**check.variables, **given},
        output={"data_type": checks.result_type(name, args)},
    )
    if raw.get("timeout_seconds") is not None:
        problems.add(f"{path}.timeout_seconds", "only a custom evaluator has a timeout")


def _custom(
    raw: dict[str, Any],
    path: str,
    spec: dict[str, Any],
    given: dict[str, str],
    problems: Problems,
    custom_modules: Collection[str],
) -> None:
    function = raw.get("function")
    if not isinstance(function, str) or not function or len(function) > 300:
        problems.add(f"{path}.function", "an entry point name (group heron.evaluators) or "
                     "'module:function'")  # fmt: skip
        return
    if ":" in function:
        module = function.split(":", 1)[0]
        if not any(module == m or module.startswith(m + ".") for m in custom_modules):
            problems.add(
                f"{path}.function",
                f"module {module!r} is not allowed: a custom evaluator runs code in the server, "
                "so its module must be listed in the server setting HERON_EVALUATOR_MODULES "
                "(or registered as an entry point in group heron.evaluators)",
            )
            return
    args = raw.get("args") or {}
    if not isinstance(args, dict):
        problems.add(f"{path}.args", "expected an object")
        return
    if not given:
        problems.add(f"{path}.variables", "a custom evaluator names the variables it reads")
    spec.update(
        function=function,
        args=args,
        variables=given,
        timeout_seconds=_number(
            raw.get("timeout_seconds"), f"{path}.timeout_seconds", problems, 0.1, 300, 5.0
        ),
    )


def _judge(
    raw: dict[str, Any],
    path: str,
    spec: dict[str, Any],
    given: dict[str, str],
    target: str,
    problems: Problems,
    connections: Collection[str],
    score_configs: Mapping[str, Mapping[str, Any]],
) -> None:
    from heron.evals.judge import placeholders
    from heron.evals.templates import TEMPLATES

    connection = raw.get("connection")
    if not isinstance(connection, str) or connection not in connections:
        problems.add(f"{path}.connection", f"no LLM connection named {connection!r}")
    model = _text(raw.get("model"), f"{path}.model", problems, 200)
    template_name = raw.get("template")
    template = None
    if template_name is not None:
        template = TEMPLATES.get(template_name) if isinstance(template_name, str) else None
        if template is None:
            problems.add(f"{path}.template", f"one of {', '.join(sorted(TEMPLATES))}")
            return
        if template.target != target and not (
            template.target == "traces" and target == "observations"
        ):
            problems.add(f"{path}.target", f"template {template_name} judges {template.target}")
    prompt = _text(raw.get("prompt"), f"{path}.prompt", problems, MAX_PROMPT)
    if prompt is None and template is not None:
        prompt = template.prompt
    if prompt is None:
        problems.add(f"{path}.prompt", "required (or a template)")
        return
    names = placeholders(prompt)
    if not names:
        problems.add(f"{path}.prompt", "names no {{variable}}: the judge would see nothing")
    variables = {**_defaults(names, target), **given}
    for var in names:
        if var not in variables:
            problems.add(
                f"{path}.variables.{var}",
                f"the prompt uses {{{{{var}}}}}: map it to a field (e.g. {var}: output)",
            )
    for var in sorted(set(given) - set(names)):
        problems.add(f"{path}.variables.{var}", "not used by the prompt")
    output_raw = raw.get("output")
    if output_raw is not None and raw.get("score_config") is not None:
        problems.add(f"{path}.output", "give output or score_config, not both")
    if output_raw is not None:
        output = check_output(output_raw, f"{path}.output", problems)
    elif isinstance(raw.get("score_config"), str) and raw["score_config"] in score_configs:
        output = output_of_config(score_configs[raw["score_config"]])
    elif template is not None:
        t = template.output
        output = {"data_type": t.data_type}
        if t.data_type == "NUMERIC":
            output.update(min=float(t.min), max=float(t.max))
        elif t.data_type == "CATEGORICAL":
            output["categories"] = list(t.categories)
    else:
        output = {"data_type": "NUMERIC", "min": 0.0, "max": 1.0}
    if output is not None and output["data_type"] not in OUTPUT_TYPES:
        problems.add(f"{path}.score_config", f"a judge writes {', '.join(OUTPUT_TYPES)} scores")
    spec.update(
        connection=connection,
        model=model,
        template=template_name,
        prompt=prompt,
        variables=variables,
        output=output,
    )
    if raw.get("timeout_seconds") is not None or raw.get("check") is not None:
        problems.add(f"{path}.check", "an llm_judge evaluator has no check or timeout")


def _config_fits(
    config: Mapping[str, Any], spec: dict[str, Any], path: str, problems: Problems
) -> None:
    output = spec.get("output")
    if not output:
        return
    if config["dataType"] != output["data_type"]:
        problems.add(
            path, f"config {config['name']} is {config['dataType']}, the evaluator writes "
            f"{output['data_type']}"
        )  # fmt: skip
    if config.get("isArchived"):
        problems.add(path, f"config {config['name']} is archived")


# -- connections ---------------------------------------------------------------------------


def check_connection(
    raw: Any, path: str, problems: Problems, *, key_required: bool
) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """``(name, spec, api_key)`` of one connection; the key stays apart from the spec (it is
    stored encrypted). ``key_required``: a new connection needs one."""
    start = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(path, "expected an object with name, base_url, api_key, model")
        return None, None, None
    for key in sorted(set(raw) - _CONNECTION_KEYS):
        problems.add(f"{path}.{key}", "unknown field")
    name = check_name(raw.get("name"), f"{path}.name", problems)
    provider = raw.get("provider", "openai")
    if provider not in PROVIDERS:
        problems.add(f"{path}.provider", f"one of {', '.join(PROVIDERS)}")
    base_url = raw.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) and len(base_url) <= 500 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(f"{path}.base_url", "an http(s) URL, e.g. https://api.openai.com/v1")
    elif parts.username or parts.password:
        problems.add(f"{path}.base_url", "no credentials in the URL: use api_key")
    api_key = raw.get("api_key")
    if api_key is None or api_key == "":
        api_key = None
        if key_required:
            problems.add(f"{path}.api_key", "required for a new connection")
    elif not isinstance(api_key, str) or len(api_key) > 2000 or "\n" in api_key:
        problems.add(f"{path}.api_key", "a single-line string")
        api_key = None
    elif api_key.startswith("${") or api_key == "***":
        problems.add(f"{path}.api_key", "looks unresolved or redacted; give the real key")
    model = _text(raw.get("model"), f"{path}.model", problems, 200, required=True)
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        problems.add(f"{path}.headers", f"an object of at most {MAX_HEADERS} string headers")
        headers = {}
    for key, value in headers.items():
        if (
            not isinstance(key, str)
            or not re.fullmatch(r"[A-Za-z0-9\-]{1,100}", key)
            or key.lower() in _HOP_HEADERS
            or not isinstance(value, str)
            or len(value) > 2000
            or "\n" in value
            or "\r" in value
        ):
            problems.add(f"{path}.headers.{key}", "a header name and a one-line string value "
                         "(not Host, Authorization or framing headers)")  # fmt: skip
    api_version = _text(raw.get("api_version"), f"{path}.api_version", problems, 50)
    if provider == "azure" and not api_version:
        problems.add(f"{path}.api_version", "Azure OpenAI needs an api_version")
    spec = {
        "provider": provider,
        "base_url": base_url,
        "model": model,
        "headers": dict(sorted(headers.items())) if isinstance(headers, dict) else {},
        "api_version": api_version,
        "max_concurrency": int(
            _number(raw.get("max_concurrency"), f"{path}.max_concurrency", problems, 1, 256, 8)
        ),
        "timeout_seconds": _number(
            raw.get("timeout_seconds"), f"{path}.timeout_seconds", problems, 1, 600, 60
        ),
    }
    if len(problems.items) > start:
        return name, None, None
    return name, spec, api_key


def export_evaluator(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A stored evaluator in the configuration format: what applying it again gives back
    (derived fields and empty values left out)."""
    out: dict[str, Any] = {"name": name}
    for key, value in spec.items():
        if value is None or value == [] or value == {}:
            continue
        if key == "output" and (spec["type"] != "llm_judge" or spec.get("score_config")):
            continue  # a check's output type follows from it; a config's from the config
        if key == "observation":
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        out[key] = value
    return out
