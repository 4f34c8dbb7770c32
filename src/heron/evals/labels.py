"""People's labels as scores: which traces are positive examples of a label, which negative.

A label is ``{scoreName, positive}``: the traces with a trace-level score ``scoreName`` of
``source`` (ANNOTATION by default) whose value is ``positive`` are its positives, the other
traces with that score its negatives. For the failure-mode contract (error analysis), the
CATEGORICAL score ``failure_mode`` with ``positive`` a category label: the traces labelled
with that category against the other reviewed traces. A BOOLEAN score's positive is
``true`` or ``false``. Only the latest score of a trace counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heron.errors import BadRequest

SOURCES = ("ANNOTATION", "API", "EVAL")
LABEL_TYPES = ("BOOLEAN", "CATEGORICAL")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(slots=True)
class Labels:
    """The resolved label: its name and value as shown, and the labelled traces (dicts of
    ``trace_id``, ``comment``) on each side."""

    score_name: str
    positive: str | bool
    data_type: str
    source: str
    positives: list[dict[str, Any]]
    negatives: list[dict[str, Any]]

    @property
    def label(self) -> str:
        """The positive value as text: ``"hallucinated refund"``, ``"true"``."""
        if isinstance(self.positive, bool):
            return "true" if self.positive else "false"
        return self.positive


def _score_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 200:
        raise BadRequest("scoreName: the name of a BOOLEAN or CATEGORICAL score people gave")
    return raw


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise BadRequest(f"positive: the score is BOOLEAN, so true or false, not {raw!r}")


def _category(raw: Any, config: Mapping[str, Any] | None, seen: set[str]) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise BadRequest("positive: a category label (or its number)")
    if config is not None:
        for c in config.get("categories") or ():
            if str(raw).lower() in (str(c["label"]).lower(), _number_text(c["value"])):
                return str(c["label"])
        labels = [str(c["label"]) for c in config.get("categories") or ()]
        raise BadRequest(
            f"positive: {raw!r} is not a category of score config {config['name']}; "
            f"categories: {labels}"
        )
    for label in seen:
        if str(raw).lower() == label.lower():
            return label
    raise BadRequest(f"positive: no trace is labelled {raw!r}; labels given: {sorted(seen)[:20]}")


def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, int | float) and value == int(value) else str(value)


def resolve(
    store: Any,
    project_id: str,
    score_name: Any,
    positive: Any,
    source: Any = "ANNOTATION",
    configs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Labels:
    """The label's positives and negatives among the project's scores; a 400 naming the
    problem when the score is unknown, not a label type, or ``positive`` is not one of its
    values. ``configs``: the project's score configs by name."""
    name = _score_name(score_name)
    if source not in SOURCES:
        raise BadRequest(f"source: one of {', '.join(SOURCES)}")
    if positive is None:
        raise BadRequest("positive: required (the label's value: a category, or true/false)")
    config = (configs or {}).get(name)
    rows = store.human_labels(project_id, name, source)
    if config is None and not rows:
        raise BadRequest(f"scoreName: no score config and no {source} scores named {name!r}")
    data_type = config["dataType"] if config is not None else rows[0]["data_type"]
    if data_type not in LABEL_TYPES:
        raise BadRequest(f"scoreName: {name} is {data_type}; a label is BOOLEAN or CATEGORICAL")
    rows = [r for r in rows if r["data_type"] == data_type]
    if data_type == "BOOLEAN":
        wanted: str | bool = _boolean(positive)
        hits = [r for r in rows if (r["value"] is not None and r["value"] >= 0.5) is wanted]
    else:
        seen = {r["string_value"] for r in rows if r["string_value"]}
        wanted = _category(positive, config, seen)
        hits = [r for r in rows if (r["string_value"] or "").lower() == wanted.lower()]
    hit_ids = {r["trace_id"] for r in hits}
    labels = Labels(
        score_name=name,
        positive=wanted,
        data_type=data_type,
        source=source,
        positives=[{"trace_id": r["trace_id"], "comment": r["comment"]} for r in hits],
        negatives=[
            {"trace_id": r["trace_id"], "comment": r["comment"]}
            for r in rows
            if r["trace_id"] not in hit_ids
        ],
    )
    if not labels.positives:
        raise BadRequest(
            f"positive: no trace has {name} = {labels.label} ({source} scores; "
            f"{len(rows)} traces have {name})"
        )
    return labels
