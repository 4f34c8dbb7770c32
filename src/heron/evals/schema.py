"""JSON Schemas of the ``json_schema`` check: checked once when defined, then kept compiled.

A schema is at most :data:`MAX_SCHEMA_BYTES` as JSON. It is validated against the
meta-schema of its ``$schema`` (draft 4, 6, 7, 2019-09, or 2020-12 by default) and every
problem is reported with its path. ``$ref`` may point inside the schema but never fetches a
document (jsonschema-rs runs offline), and ``pattern`` keywords run on Rust's ``regex``
crate, in time linear in the text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

__all__ = ["MAX_SCHEMA_BYTES", "first_error", "schema_problems"]

MAX_SCHEMA_BYTES = 64 * 1024
MAX_PROBLEMS = 20
_META_SCHEMAS = (
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-04/schema#",
)
_TYPES = "array, boolean, integer, null, number, object, string"


def schema_problems(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a schema as ``(path, message)``, paths starting at ``schema``
    (``schema.properties.a.type``), at most :data:`MAX_PROBLEMS`; empty when it is usable."""
    import jsonschema_rs

    try:
        key = _key(schema)
    except (TypeError, orjson.JSONEncodeError) as exc:
        return [("schema", f"is not JSON: {exc}")]
    if len(key) > MAX_SCHEMA_BYTES:
        return [("schema", f"is {len(key):,} bytes as JSON; at most {MAX_SCHEMA_BYTES:,}")]
    uri = schema.get("$schema", _META_SCHEMAS[0])
    if uri not in _META_SCHEMAS:
        uri = f"{uri}#"  # draft 4 to 7 are often written without the empty fragment
        if uri not in _META_SCHEMAS:
            drafts = ", ".join(_META_SCHEMAS)
            return [("schema.$schema", f"must be one of {drafts}; got {schema['$schema']!r}")]
    errors = sorted(
        _meta_validator(uri).iter_errors(schema), key=lambda e: [str(p) for p in e.instance_path]
    )
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
        message = error.message.split("\n", 1)[0][:300]
        if error.instance_path and error.instance_path[-1] == "type" and "anyOf" in message:
            message = f"{message.split(' is ', 1)[0]} is not a JSON type ({_TYPES})"
        problems.append((f"schema{path}", message))
    if problems:
        return problems
    try:
        _validator(key)
    except (jsonschema_rs.ValidationError, ValueError, jsonschema_rs.ReferencingError) as exc:
        return [("schema", str(exc).split("\n", 1)[0][:300])]  # $ref, pattern, format
    return []


def first_error(schema: dict[str, Any], value: Any) -> str | None:
    """None when ``value`` is valid under ``schema`` (one without problems), else its first
    error and where it is, as a JSON pointer: ``at /items/1: "x" is not of type "integer"``."""
    validator = _validator(_key(schema))
    if validator.is_valid(value):
        return None
    error = next(iter(validator.iter_errors(value)))
    path = error.instance_path
    where = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return f"at {where if path else 'the root'}: {error.message}"[:200]


def _key(schema: Any) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)


@lru_cache(maxsize=64)
def _validator(key: bytes) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(
        orjson.loads(key), offline=True, pattern_options=jsonschema_rs.RegexOptions()
    )


@lru_cache(maxsize=8)
def _meta_validator(uri: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for({"$schema": uri, "$ref": uri}, offline=True)
