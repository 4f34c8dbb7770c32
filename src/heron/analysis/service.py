"""Error analyses over the store: run one, edit its categories, accept it.

Used by the API (:mod:`heron.server.error_analysis`) and the page; every function takes the
store and the caller's project. Accepting follows the failure-mode contract: the categories
become the CATEGORICAL score config ``failure_mode`` (created, or extended with new labels:
existing values are never renumbered) and each reviewed trace gets one ``failure_mode``
score through :meth:`heron.store.Store.write_scores`, with an id derived from the analysis
and the trace, so accepting again after edits updates those scores.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from heron.analysis.cluster import kmeans
from heron.analysis.embed import MAX_CHARS, embed_notes
from heron.analysis.labels import keywords, label_of
from heron.analysis.propose import EXAMPLES, OTHER, Note, propose
from heron.errors import BadRequest, Conflict, NotFound, Overloaded
from heron.query.filters import compile_filters, parse_filters, parse_time
from heron.query.views import TRACES
from heron.scores.configs import parse_config, parse_configured, patch_config
from heron.store.analysis import NoteQuery

MAX_NOTES = 20_000
MAX_IDS = 20_000  # note ids in one edit
MAX_LABEL = 200
CONFIG_NAME = "failure_mode"
SOURCES = ("comments", "scores")
_FIELDS = {"source", "scoreName", "from", "to", "filter"}
_running = threading.Semaphore(1)  # one grouping at a time: it keeps a core busy for seconds


def parse_request(body: Any) -> tuple[NoteQuery, dict[str, Any]]:
    """The notes a ``POST /api/error-analysis`` body asks for, and the body as stored."""
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object {source, scoreName?, from, to, filter}")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field; use {', '.join(sorted(_FIELDS))}")
    source = body.get("source")
    if source not in SOURCES:
        raise BadRequest(f"source: expected 'comments' or 'scores', got {source!r}")
    score_name = body.get("scoreName")
    if score_name is not None and (
        not isinstance(score_name, str) or not 0 < len(score_name) <= 200
    ):
        raise BadRequest("scoreName: a non-empty string of at most 200 characters")
    if score_name is not None and source != "scores":
        raise BadRequest("scoreName: only with source 'scores'")
    start = None if body.get("from") is None else parse_time(body["from"], "from")
    end = None if body.get("to") is None else parse_time(body["to"], "to")
    if start is not None and end is not None and start >= end:
        raise BadRequest("from: must be before to")
    filters = parse_filters(body.get("filter"))
    if len(filters) > 50:
        raise BadRequest("filter: at most 50 conditions")
    compile_filters(filters, TRACES)  # checked now: a bad column or value is a 400 here
    stored = {
        "source": source, "scoreName": score_name, "from": start, "to": end,
        "filter": body.get("filter") or [],
    }  # fmt: skip
    return NoteQuery(source, score_name, start, end, filters), stored


def run(store: Any, project_id: str, body: Any, created_by: str | None) -> dict[str, Any]:
    """Read the notes, propose categories, store the analysis; its summary."""
    query, stored = parse_request(body)
    if not _running.acquire(blocking=False):
        raise Overloaded("another error analysis is running on this server; try again", 5)
    try:
        return _run(store, project_id, query, stored, created_by)
    finally:
        _running.release()


def _run(
    store: Any, project_id: str, query: NoteQuery, stored: dict[str, Any], created_by: str | None
) -> dict[str, Any]:
    rows = store.analysis_notes(project_id, query, MAX_NOTES + 1)
    if len(rows) > MAX_NOTES:
        raise BadRequest(
            f"more than {MAX_NOTES:,} notes match: narrow the time range or the filter"
        )
    if not rows:
        raise BadRequest("no notes match: widen the time range or the filter")
    notes = [Note(i, t, text) for i, t, text in rows]
    proposal = propose(notes)
    analysis_id = uuid.uuid4().hex
    categories = [
        {"id": c.id, "label": c.label, "keywords": c.keywords, "suggestedLabel": c.suggested_label}
        for c in proposal.categories
    ]
    texts = {n.id: n for n in notes}
    assigned = [
        (nid, texts[nid].trace_id, texts[nid].text, c.id)
        for c in proposal.categories
        for nid in c.note_ids
    ]
    analysis = {
        **stored, "id": analysis_id, "method": proposal.method,
        "warnings": proposal.warnings, "createdBy": created_by,
    }  # fmt: skip
    store.create_error_analysis(project_id, analysis, categories, assigned)
    return summary(get(store, project_id, analysis_id))


def get(store: Any, project_id: str, analysis_id: str) -> dict[str, Any]:
    """The stored analysis with its categories and notes (a 404 when not in the project)."""
    found = store.get_error_analysis(project_id, analysis_id)
    if found is None:
        raise NotFound(f"error analysis {analysis_id!r} not found in this project")
    return found


def summary(analysis: dict[str, Any], with_notes: bool = False) -> dict[str, Any]:
    """The API's shape: ``{id, method, warnings, ..., categories: [{id, label, count,
    traceIds, keywords, examples, suggestedLabel}]}`` (``notes`` too when asked)."""
    out = {k: v for k, v in analysis.items() if k != "categories"}
    out["categories"] = []
    for c in analysis["categories"]:
        notes = c["notes"]
        item = {
            "id": c["id"], "label": c["label"], "count": len(notes),
            "traceIds": list(dict.fromkeys(n["traceId"] for n in notes)),
            "keywords": c["keywords"], "examples": notes[:EXAMPLES],
            "suggestedLabel": c["suggestedLabel"],
        }  # fmt: skip
        if with_notes:
            item["notes"] = notes
        out["categories"].append(item)
    return out


# -- edits ---------------------------------------------------------------------------------


def rename(store: Any, project_id: str, analysis_id: str, category_id: str, label: Any) -> None:
    analysis = get(store, project_id, analysis_id)
    _category(analysis, category_id)
    label = _label(label)
    if any(c["label"] == label and c["id"] != category_id for c in analysis["categories"]):
        raise Conflict(f"label: another category is already called {label!r}")
    store.edit_error_analysis(
        project_id, analysis_id, [("rename", {"category_id": category_id, "label": label})]
    )


def merge(
    store: Any, project_id: str, analysis_id: str, category_ids: Any, label: Any = None
) -> str:
    """Move the notes of the other categories into the first one and delete the others;
    the kept category's id."""
    analysis = get(store, project_id, analysis_id)
    if (
        not isinstance(category_ids, list)
        or len(category_ids) < 2
        or len(set(category_ids)) != len(category_ids)
    ):
        raise BadRequest("categoryIds: a list of at least two different category ids")
    cats = [_category(analysis, cid) for cid in category_ids]
    keep, rest = cats[0], cats[1:]
    moved = [n["id"] for c in rest for n in c["notes"]]
    edits: list[tuple[str, dict[str, Any]]] = [
        ("move", {"note_ids": moved, "category_id": keep["id"]}),
        ("delete", {"category_ids": [c["id"] for c in rest]}),
    ]
    if label is not None:
        label = _label(label)
        if any(c["label"] == label and c["id"] not in category_ids for c in analysis["categories"]):
            raise Conflict(f"label: another category is already called {label!r}")
        edits.append(("rename", {"category_id": keep["id"], "label": label}))
    words = _keywords(analysis, dict.fromkeys(moved, keep["id"]))
    edits.append(("keywords", {"keywords": words}))
    store.edit_error_analysis(project_id, analysis_id, edits)
    return keep["id"]


def split(
    store: Any, project_id: str, analysis_id: str, category_id: str, note_ids: Any = None
) -> str:
    """Move some notes of a category into a new category right after it: the ``note_ids``
    given, else the smaller half of a second grouping of its notes in two. The new id."""
    analysis = get(store, project_id, analysis_id)
    cat = _category(analysis, category_id)
    notes = cat["notes"]
    if note_ids is None:
        if len(notes) < 2:
            raise BadRequest("split: a category of at least two notes")
        vectors = embed_notes([n["note"] for n in notes]).vectors
        halves = kmeans(vectors, 2) if np.linalg.norm(vectors, axis=1).any() else None
        if halves is None or halves.min() == halves.max():
            raise BadRequest("split: these notes do not fall into two groups; choose the notes")
        chosen = [n["id"] for n, h in zip(notes, halves, strict=True) if h == 1]
    else:
        chosen = _ids(note_ids, "noteIds")
        inside = {n["id"] for n in notes}
        outside = [i for i in chosen if i not in inside]
        if outside:
            raise BadRequest(f"noteIds: {outside[0]!r} is not a note of category {category_id!r}")
        if len(set(chosen)) == len(notes):
            raise BadRequest("noteIds: leave at least one note in the category")
    new_id = _new_id(analysis)
    words = _keywords(analysis, dict.fromkeys(chosen, new_id), [new_id])
    first = next(n["note"] for n in notes if n["id"] in set(chosen))
    category = {
        "id": new_id, "label": _unique_label(analysis, label_of(words[new_id])),
        "keywords": words[new_id], "suggestedLabel": first[:120],
    }  # fmt: skip
    store.edit_error_analysis(
        project_id,
        analysis_id,
        [
            ("add", {"category": category, "after": category_id}),
            ("move", {"note_ids": chosen, "category_id": new_id}),
            ("keywords", {"keywords": words}),
        ],
    )
    return new_id


def move(store: Any, project_id: str, analysis_id: str, note_ids: Any, to: Any) -> int:
    """Move notes (of any category) into category ``to``; how many moved."""
    analysis = get(store, project_id, analysis_id)
    if not isinstance(to, str):
        raise BadRequest("to: the id of the category to move the notes into")
    target = _category(analysis, to)
    ids = _ids(note_ids, "noteIds")
    where = {n["id"]: c for c in analysis["categories"] for n in c["notes"]}
    missing = [i for i in ids if i not in where]
    if missing:
        raise BadRequest(f"noteIds: {missing[0]!r} is not a note of this analysis")
    new_words = _keywords(analysis, dict.fromkeys(ids, target["id"]))
    store.edit_error_analysis(
        project_id,
        analysis_id,
        [
            ("move", {"note_ids": ids, "category_id": target["id"]}),
            ("keywords", {"keywords": new_words}),
        ],
    )
    return len(ids)


# -- accept --------------------------------------------------------------------------------


def accept(store: Any, project_id: str, analysis_id: str, author: str | None) -> dict[str, Any]:
    """The categories become ``failure_mode``'s categories and each reviewed trace gets its
    ``failure_mode`` score; ``{configId, categories, scores, removed}``."""
    analysis = get(store, project_id, analysis_id)
    accepted = [c for c in analysis["categories"] if c["id"] != OTHER and c["notes"]]
    if not accepted:
        raise BadRequest("accept: no category has notes (notes in Other are not accepted)")
    labels = [c["label"] for c in accepted]
    twice = [label for label, n in Counter(labels).items() if n > 1]
    if twice:
        raise Conflict(f"label: two categories are called {twice[0]!r}; rename one")
    config = _failure_mode_config(store, project_id, labels)
    values = {c["label"]: c["value"] for c in config["categories"]}
    by_trace: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
    for position, c in enumerate(accepted):
        for n in c["notes"]:
            by_trace.setdefault(n["traceId"], []).append((position, c, n))
    environments = store.trace_environments(project_id, list(by_trace))
    configs = {config["id"]: config}
    records = []
    for trace_id, items in by_trace.items():
        counts = Counter(p for p, _, _ in items)
        position = min(counts, key=lambda p: (-counts[p], p))  # most of its notes, then first
        _, category, note = next(i for i in items if i[0] == position)
        body = {
            "id": score_id(analysis_id, trace_id), "traceId": trace_id, "name": CONFIG_NAME,
            "value": category["label"], "dataType": "CATEGORICAL", "configId": config["id"],
            "source": "ANNOTATION", "comment": note["note"][:MAX_CHARS], "author": author,
            "metadata": {"analysisId": analysis_id, "categoryId": category["id"]},
            "environment": environments.get(trace_id) or "default",
        }  # fmt: skip
        records.append(parse_configured(body, project_id, configs))
    # traces labelled by an earlier acceptance of this analysis but no longer in a category
    reviewed = {n["traceId"] for c in analysis["categories"] for n in c["notes"]}
    stale = [score_id(analysis_id, t) for t in sorted(reviewed - set(by_trace))]
    store.write_scores(records)
    removed = sum(1 for sid in stale if store.delete_score(project_id, sid))
    store.edit_error_analysis(project_id, analysis_id, [("accepted", {"config_id": config["id"]})])
    return {
        "configId": config["id"],
        "categories": [{"label": label, "value": values[label]} for label in labels],
        "scores": len(records),
        "removed": removed,
    }


def score_id(analysis_id: str, trace_id: str) -> str:
    """The ``failure_mode`` score of a trace in an analysis (the same on every acceptance)."""
    digest = hashlib.sha256(f"{analysis_id}\x00{trace_id}".encode()).hexdigest()
    return f"fm-{digest[:32]}"


def _failure_mode_config(store: Any, project_id: str, labels: Sequence[str]) -> dict[str, Any]:
    """``failure_mode``, created or extended so that it has every label in ``labels``."""
    configs, _ = store.list_score_configs(project_id, 1, 1000)
    existing = next((c for c in configs if c["name"] == CONFIG_NAME), None)
    if existing is None:
        categories = [{"label": label, "value": i} for i, label in enumerate(labels)]
        config = parse_config(
            {
                "name": CONFIG_NAME,
                "dataType": "CATEGORICAL",
                "categories": categories,
                "description": "Failure categories accepted from error analyses",
            }
        )
        return store.put_score_config(project_id, config)
    if existing["dataType"] != "CATEGORICAL":
        raise Conflict(
            f"score config {CONFIG_NAME!r} exists with data type {existing['dataType']}; "
            "accepting needs it CATEGORICAL (rename the existing config)"
        )
    if existing["isArchived"]:
        raise Conflict(f"score config {CONFIG_NAME!r} is archived: unarchive it first")
    have = list(existing["categories"] or [])
    known = {c["label"] for c in have}
    fresh = [label for label in labels if label not in known]
    if not fresh:
        return existing
    top = max((c["value"] for c in have), default=-1)
    added = [{"label": label, "value": top + 1 + i} for i, label in enumerate(fresh)]
    return store.put_score_config(project_id, patch_config(existing, {"categories": have + added}))


# -- for the align helper -------------------------------------------------------------------


def category_definition(
    store: Any, project_id: str, analysis_id: str, category_id: str
) -> dict[str, Any]:
    """A category as an evaluator is built from it: ``{label, keywords, examples:
    [{trace_id, note}], trace_ids}`` (a 404 when the analysis or category is not there)."""
    cat = _category(get(store, project_id, analysis_id), category_id)
    return {
        "label": cat["label"],
        "keywords": cat["keywords"],
        "examples": [
            {"trace_id": n["traceId"], "note": n["note"]} for n in cat["notes"][:EXAMPLES]
        ],
        "trace_ids": list(dict.fromkeys(n["traceId"] for n in cat["notes"])),
    }


# -- helpers -------------------------------------------------------------------------------


def _category(analysis: dict[str, Any], category_id: Any) -> dict[str, Any]:
    found = next((c for c in analysis["categories"] if c["id"] == category_id), None)
    if found is None:
        raise NotFound(f"category {category_id!r} not found in error analysis {analysis['id']!r}")
    return found


def _label(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_LABEL:
        raise BadRequest(f"label: a non-empty string of at most {MAX_LABEL} characters")
    return value.strip()


def _ids(value: Any, name: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_IDS
        or not all(isinstance(v, str) for v in value)
    ):
        raise BadRequest(f"{name}: a non-empty list of at most {MAX_IDS:,} note ids")
    return list(dict.fromkeys(value))


def _keywords(
    analysis: dict[str, Any], assignment: dict[str, str], added: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Every category's keywords once notes move (``assignment``: note id -> category id;
    ``added``: new categories), computed over all categories as c-TF-IDF needs."""
    order = [c["id"] for c in analysis["categories"]] + list(added)
    texts: dict[str, list[str]] = {cid: [] for cid in order}
    for c in analysis["categories"]:
        for n in c["notes"]:
            texts[assignment.get(n["id"], c["id"])].append(n["note"])
    ids = [cid for cid in order if cid != OTHER and texts[cid]]
    return dict(zip(ids, keywords([texts[i] for i in ids]), strict=True))


def _new_id(analysis: dict[str, Any]) -> str:
    taken = {c["id"] for c in analysis["categories"]}
    n = len(taken) + 1
    while f"c{n}" in taken:
        n += 1
    return f"c{n}"


def _unique_label(analysis: dict[str, Any], label: str) -> str:
    taken = {c["label"] for c in analysis["categories"]}
    out, n = label, 2
    while out in taken:
        out, n = f"{label} ({n})", n + 1
    return out
