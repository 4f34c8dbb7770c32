"""Score configs (Langfuse's ``/api/public/score-configs``) and scores checked against them.

A config fixes a score's name, data type and allowed values: NUMERIC bounds, CATEGORICAL
categories (``{label, value}``), BOOLEAN 0/1, TEXT up to 500 characters. Pure validation:
the caller looks the configs up (:func:`config_ids`) and passes them in.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from heron.scores.parse import DATA_TYPES, ScoreError, ScoreLimits, ScoreRecord, parse_score

MAX_NAME = 35
MAX_DESCRIPTION = 2000
MAX_CATEGORIES = 100
MAX_LABEL = 200
MAX_CONFIG_TEXT = 500  # a TEXT score under a config, as Langfuse bounds it
_NAME = re.compile(r"[A-Za-z0-9_\-.() ]+")  # Langfuse's characters for a config name
BOOLEAN_CATEGORIES = [{"label": "True", "value": 1.0}, {"label": "False", "value": 0.0}]
_FIELDS = {"name", "dataType", "categories", "minValue", "maxValue", "description"}
_PATCH_FIELDS = (_FIELDS - {"dataType"}) | {"isArchived"}


def _number(value: Any, label: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScoreError(f"{label}: expected a finite number, got {value!r}")
    return float(value)


def _categories(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ScoreError("categories: expected a list of {label, value}")
    if len(value) > MAX_CATEGORIES:
        raise ScoreError(f"categories: at most {MAX_CATEGORIES}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"label", "value"}:
            raise ScoreError(f"categories[{i}]: expected {{label, value}} and nothing else")
        label = item["label"]
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise ScoreError(f"categories[{i}].label: a non-empty string of <= {MAX_LABEL}")
        number = _number(item["value"], f"categories[{i}].value")
        if any(c["label"] == label for c in out):
            raise ScoreError(f"categories[{i}].label: {label!r} appears twice")
        if any(c["value"] == number for c in out):
            raise ScoreError(f"categories[{i}].value: {item['value']!r} appears twice")
        out.append({"label": label, "value": number})
    return out


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """The whole config's rules (after a create or a patch)."""
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScoreError("name: required, a non-empty string")
    if len(name) > MAX_NAME:
        raise ScoreError(f"name: longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(name):
        raise ScoreError(
            f"name: {name!r} has other characters than letters, digits, spaces and _ - . ( )"
        )
    data_type = config.get("dataType")
    if not isinstance(data_type, str) or data_type.upper() not in DATA_TYPES:
        raise ScoreError(f"dataType: {data_type!r} is not one of {', '.join(DATA_TYPES)}")
    data_type = data_type.upper()
    categories = _categories(config.get("categories"))
    if data_type == "CATEGORICAL" and not categories:
        raise ScoreError("categories: a CATEGORICAL config needs at least one category")
    if data_type != "CATEGORICAL" and categories is not None:
        raise ScoreError(f"categories: only a CATEGORICAL config has categories, not {data_type}")
    low = _number(config.get("minValue"), "minValue")
    high = _number(config.get("maxValue"), "maxValue")
    if data_type != "NUMERIC" and (low is not None or high is not None):
        raise ScoreError(f"minValue/maxValue: only a NUMERIC config has bounds, not {data_type}")
    if low is not None and high is not None and low > high:
        raise ScoreError(f"minValue: {low:g} is above maxValue {high:g}")
    description = config.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION
    ):
        raise ScoreError(f"description: a string of <= {MAX_DESCRIPTION} characters")
    archived = config.get("isArchived", False)
    if not isinstance(archived, bool):
        raise ScoreError(f"isArchived: expected true or false, got {archived!r}")
    return {
        "id": config["id"], "name": name.strip(), "dataType": data_type,
        "categories": categories, "minValue": low, "maxValue": high,
        "description": description, "isArchived": archived,
    }  # fmt: skip


def parse_config(body: Any) -> dict[str, Any]:
    """A new config from a ``POST /api/public/score-configs`` body (a fresh id)."""
    if not isinstance(body, dict):
        raise ScoreError("body: expected a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ScoreError(f"{unknown[0]}: unknown field")
    return check_config({**body, "id": uuid.uuid4().hex, "isArchived": False})


def patch_config(existing: dict[str, Any], body: Any) -> dict[str, Any]:
    """``existing`` with a ``PATCH`` body's fields applied (``null`` clears an optional one)."""
    if not isinstance(body, dict):
        raise ScoreError("body: expected a JSON object")
    if "dataType" in body:
        raise ScoreError("dataType: cannot be changed; create a new config")
    unknown = sorted(set(body) - _PATCH_FIELDS)
    if unknown:
        raise ScoreError(f"{unknown[0]}: unknown field")
    base = dict(existing)
    if base["dataType"] == "BOOLEAN":
        base["categories"] = None  # shown, not stored (see heron.store.scores)
    return check_config({**base, **body})


def config_ids(body: Any) -> list[str]:
    """The config ids a score body (an object or a list of them) names."""
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        if isinstance(item, dict):
            value = item.get("configId", item.get("config_id"))
            if isinstance(value, str) and value:
                out.append(value)
    return out


def parse_configured(
    body: Any,
    project_id: str,
    configs: Mapping[str, dict[str, Any]],
    where: str = "",
    limits: ScoreLimits | None = None,
) -> ScoreRecord:
    """:func:`parse_score`, then the rules of the score's config (``configs`` by id, the
    project's ones the body names). A score without ``dataType`` takes its config's; a
    CATEGORICAL one may send a category's label or its value and gets both."""
    config = None
    if isinstance(body, dict):
        config_id = body.get("configId", body.get("config_id"))
        if config_id is not None:
            if not isinstance(config_id, str):
                raise ScoreError(
                    f"{where}configId: expected a string, got {type(config_id).__name__}"
                )
            config = configs.get(config_id)
            if config is None:
                raise ScoreError(f"{where}configId: no score config {config_id!r} in this project")
            if config["isArchived"]:
                raise ScoreError(
                    f"{where}configId: the config {config['name']!r} is archived; "
                    "unarchive it or use another"
                )
            body = _with_config_type(body, config, where)
    record = parse_score(body, project_id, where, limits or ScoreLimits())
    if config is None:
        if record.source == "ANNOTATION":
            raise ScoreError(f"{where}configId: an ANNOTATION score needs a configId")
        return record
    _apply(record, config, where)
    return record


def _not_a_category(config: dict[str, Any], shown: Any, where: str) -> ScoreError:
    allowed = ", ".join(f"{c['label']} ({c['value']:g})" for c in config["categories"] or ())
    return ScoreError(
        f"{where}value: {shown!r} is not a category of the config {config['name']!r}: {allowed}"
    )


def _with_config_type(body: dict[str, Any], config: dict[str, Any], where: str) -> dict[str, Any]:
    body = dict(body)
    if body.get("dataType", body.get("data_type")) is None:
        body["dataType"] = config["dataType"]
    value = body.get("value")
    string_value = body.get("stringValue", body.get("string_value"))
    if (
        config["dataType"] == "CATEGORICAL"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and string_value is None
    ):
        match = next((c for c in config["categories"] or () if c["value"] == value), None)
        if match is None:
            raise _not_a_category(config, value, where)
        body["stringValue"] = match["label"]
    return body


def _apply(record: ScoreRecord, config: dict[str, Any], where: str) -> None:
    name, data_type = config["name"], config["dataType"]
    if record.name != name:
        raise ScoreError(f"{where}name: {record.name!r} is not the config's name {name!r}")
    if record.data_type != data_type:
        raise ScoreError(
            f"{where}dataType: {record.data_type} does not match the config {name!r} ({data_type})"
        )
    if data_type == "NUMERIC":
        assert record.value is not None  # parse_score: a NUMERIC score has a number
        low, high = config["minValue"], config["maxValue"]
        if low is not None and record.value < low:
            raise ScoreError(
                f"{where}value: {record.value:g} is below the config {name!r} minimum {low:g}"
            )
        if high is not None and record.value > high:
            raise ScoreError(
                f"{where}value: {record.value:g} is above the config {name!r} maximum {high:g}"
            )
    elif data_type == "CATEGORICAL":
        categories = config["categories"] or []
        match = next((c for c in categories if c["label"] == record.string_value), None)
        if match is None or (record.value is not None and record.value != match["value"]):
            raise _not_a_category(config, record.string_value, where)
        record.value = match["value"]
    elif data_type == "TEXT":
        text = record.string_value or ""
        if not 1 <= len(text) <= MAX_CONFIG_TEXT:
            raise ScoreError(
                f"{where}value: a TEXT score of the config {name!r} has 1 to "
                f"{MAX_CONFIG_TEXT} characters, got {len(text)}"
            )
    # BOOLEAN: parse_score already holds it to true/false or 1/0
    record.config_id = config["id"]
