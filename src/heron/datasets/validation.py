"""A dataset's JSON Schemas: ``inputSchema`` and ``expectedOutputSchema``.

A schema is checked when it is set (a 400 listing each problem with its path, e.g.
``inputSchema.properties.q.type``), with the checks of :mod:`heron.evals.schema`
(jsonschema-rs, offline, linear-time patterns). Every item written afterwards is validated
against it, and so are the dataset's current items when a schema changes: a value that does
not match is a 400 naming the field and the path inside it (``input: at /q: 1 is not of
type "string"``). A value that is absent (``null``) is not validated: an item may wait for
its expected output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from heron.errors import BadRequest
from heron.evals.schema import first_error, schema_problems

MAX_PROBLEMS = 20
FIELDS = (("input", "inputSchema"), ("expectedOutput", "expectedOutputSchema"))


class Invalid(BadRequest):
    """Problems, each ``(path, message)``; the API lists them under ``error.problems``."""

    def __init__(self, problems: list[tuple[str, str]], summary: str = "") -> None:
        self.problems = problems[:MAX_PROBLEMS]
        lines = "; ".join(f"{path}: {message}" for path, message in self.problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{summary}{lines}{more}")


def check_schema(schema: dict[str, Any] | None, label: str) -> None:
    """Refuse (400, every problem with its path under ``label``) a schema that cannot be used;
    ``None`` (not given) and ``{}`` (remove) pass."""
    if not schema:
        return
    problems = schema_problems(schema)
    if problems:
        raise Invalid([(label + path.removeprefix("schema"), msg) for path, msg in problems])


def item_problems(
    schemas: dict[str, Any], values: dict[str, Any], where: str = ""
) -> list[tuple[str, str]]:
    """What is wrong with an item's ``input`` and ``expectedOutput`` (``values``, by those
    names) under a dataset's ``inputSchema`` and ``expectedOutputSchema`` (``schemas``)."""
    problems = []
    for field, schema_name in FIELDS:
        schema, value = schemas.get(schema_name), values.get(field)
        if schema and value is not None:
            error = first_error(schema, value)
            if error is not None:
                problems.append((f"{where}{field}", f"{error} (the dataset's {schema_name})"))
    return problems


def check_items(
    schemas: dict[str, Any], items: Iterable[tuple[str, dict[str, Any]]], summary: str = ""
) -> None:
    """Refuse (400) when any ``(where, values)`` of ``items`` does not match ``schemas``;
    the first :data:`MAX_PROBLEMS` problems are listed, with how many items failed."""
    if not any(schemas.get(s) for _, s in FIELDS):
        return
    problems: list[tuple[str, str]] = []
    failed = 0
    for where, values in items:
        found = item_problems(schemas, values, where)
        if found:
            failed += 1
            problems.extend(found[: MAX_PROBLEMS - len(problems)])
    if failed:
        raise Invalid(problems, f"{summary}{failed:,} item(s) do not match the schema: ")
