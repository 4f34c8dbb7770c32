"""Ask a project's LLM connection to name the proposed categories and merge the ones that
describe the same failure (optional: grouping never needs a model).

The model sees each category's id, label, keywords and a few notes, and answers
``{"groups": [{"categoryIds": [...], "label": "..."}]}`` (asked as structured output). The
answer is checked (known ids, each at most once, a label of at most 200 characters) and
applied with the ordinary edits: a group of several categories is a merge, one category a
rename. Categories the model leaves out keep their label.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from heron.analysis import service
from heron.analysis.propose import OTHER
from heron.errors import BadRequest, Overloaded
from heron.evals.judge import Connection, make_client

NOTES_PER_CATEGORY = 5
NOTE_CHARS = 200
MAX_CATEGORIES = 60

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["categoryIds", "label"],
                "properties": {
                    "categoryIds": {"type": "array", "items": {"type": "string"}},
                    "label": {"type": "string"},
                },
            },
        }
    },
}


def prompt(analysis: dict[str, Any]) -> str:
    """The request: the categories, then what to answer."""
    lines = [
        "Reviewers read traces of an LLM application and wrote a note on the first thing "
        "that went wrong. The notes were grouped automatically into the categories below.",
        "Give each category a short failure-mode name (2 to 5 words, like 'Wrong tool "
        "arguments'). When several categories describe the same failure, put them in one "
        "group. Every category id appears in exactly one group.",
        "",
    ]
    for c in _named(analysis)[:MAX_CATEGORIES]:
        lines.append(f"Category {c['id']} (now '{c['label']}', keywords: "
                     f"{', '.join(c['keywords'])}):")  # fmt: skip
        lines += [f"- {n['note'][:NOTE_CHARS]}" for n in c["notes"][:NOTES_PER_CATEGORY]]
        lines.append("")
    lines.append(
        'Answer with JSON only: {"groups": [{"categoryIds": ["c1", "c4"], "label": "..."}]}'
    )
    return "\n".join(lines)


def ask(connection: Connection, analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's groups, checked against the analysis."""
    text = asyncio.run(_call(connection, prompt(analysis)))
    return check_answer(text, analysis)


def check_answer(text: str, analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{categoryIds, label}]`` from the answer's JSON (a 400 naming what is wrong)."""
    start, end = text.find("{"), text.rfind("}")
    try:
        body = orjson.loads(text[start : end + 1]) if start >= 0 < end else None
    except orjson.JSONDecodeError:
        body = None
    groups = body.get("groups") if isinstance(body, dict) else None
    if not isinstance(groups, list):
        raise BadRequest('the model\'s answer is not {"groups": [...]} JSON; nothing changed')
    known = {c["id"] for c in _named(analysis)}
    seen: set[str] = set()
    out = []
    for i, g in enumerate(groups):
        ids = g.get("categoryIds") if isinstance(g, dict) else None
        label = g.get("label") if isinstance(g, dict) else None
        if not isinstance(ids, list) or not ids or not isinstance(label, str) or not label.strip():
            raise BadRequest(f"the model's answer, groups[{i}]: needs categoryIds and a label")
        unknown = [x for x in ids if x not in known]
        if unknown:
            raise BadRequest(f"the model's answer, groups[{i}]: unknown category {unknown[0]!r}")
        twice = [x for x in ids if x in seen]
        if twice:
            raise BadRequest(f"the model's answer: category {twice[0]!r} is in two groups")
        seen.update(ids)
        out.append({"categoryIds": list(dict.fromkeys(ids)), "label": label.strip()[:200]})
    return out


def apply(store: Any, project_id: str, analysis_id: str, groups: list[dict[str, Any]]) -> int:
    """Merge and rename as the groups say; how many categories were changed."""
    changed = 0
    for g in groups:
        analysis = service.get(store, project_id, analysis_id)
        label = _free_label(analysis, g["label"], g["categoryIds"])
        if len(g["categoryIds"]) > 1:
            service.merge(store, project_id, analysis_id, g["categoryIds"], label)
        else:
            service.rename(store, project_id, analysis_id, g["categoryIds"][0], label)
        changed += len(g["categoryIds"])
    return changed


async def _call(connection: Connection, text: str) -> str:
    import openai  # here, not at the top: `heron serve` imports this module and starts quicker

    client = make_client(connection)
    try:
        answer = await client.chat.completions.create(
            model=connection.model,
            messages=[{"role": "user", "content": text}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "categories", "schema": SCHEMA, "strict": True},
            },
        )
    except openai.APIError as exc:
        raise Overloaded(f"the LLM connection {connection.name!r} failed: {exc}", 10) from None
    finally:
        await client.close()
    content = answer.choices[0].message.content if answer.choices else None
    return content or ""


def _named(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in analysis["categories"] if c["id"] != OTHER and c["notes"]]


def _free_label(analysis: dict[str, Any], label: str, ids: list[str]) -> str:
    """``label``, numbered when a category outside ``ids`` already has it."""
    taken = {c["label"] for c in analysis["categories"] if c["id"] not in ids}
    out, n = label, 2
    while out in taken:
        out, n = f"{label} ({n})", n + 1
    return out


def name_with_model(store: Any, project_id: str, analysis_id: str, connection: Connection) -> int:
    """Ask ``connection`` to name and merge the analysis' categories and apply its answer;
    how many categories were renamed or merged."""
    analysis = service.get(store, project_id, analysis_id)
    if not _named(analysis):
        raise BadRequest("no category has notes to name")
    return apply(store, project_id, analysis_id, ask(connection, analysis))
