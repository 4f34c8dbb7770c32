"""Error analyses in the store: the notes they read, the analyses, their categories and edits.

Functions taking a cursor, every query parameterised and scoped to one project. The caller
(:class:`heron.store.EmbeddedStore`) owns transactions. Tables: :mod:`schema_analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from heron.query.filters import Filter, compile_filters
from heron.query.views import TRACES
from heron.store.reads import iso

MAX_CONTENT = 2000  # characters of a note kept in an analysis


@dataclass(frozen=True, slots=True)
class NoteQuery:
    """Which notes an analysis reads: comments or TEXT scores on matching traces."""

    source: str  # "comments" or "scores"
    score_name: str | None
    start: datetime | None  # the traces' start time, inclusive
    end: datetime | None  # exclusive
    filters: Sequence[Filter]


def read_notes(
    cur: duckdb.DuckDBPyConnection, project_id: str, q: NoteQuery, limit: int
) -> list[tuple[str, str, str]]:
    """Up to ``limit`` notes ``(note id, trace id, text)`` on the project's traces that match
    ``q``, oldest first. Comments on a trace or on one of its observations count; a session's
    comments (no trace) do not."""
    where, params = compile_filters(q.filters, TRACES)
    conditions = [where]
    if q.start is not None:
        conditions.append("t.start_time >= ?")
        params.append(q.start)
    if q.end is not None:
        conditions.append("t.start_time < ?")
        params.append(q.end)
    if q.source == "comments":
        sql = (
            "SELECT n.id, n.trace_id, n.content FROM comments n JOIN traces t "
            "ON t.project_id = n.project_id AND t.id = n.trace_id "
            "WHERE n.project_id = ? AND trim(n.content) <> ''"
        )
        head: list[Any] = [project_id]
        order = "n.created_at, n.id"
    else:
        sql = (
            "SELECT n.id, n.trace_id, n.string_value FROM scores n JOIN traces t "
            "ON t.project_id = n.project_id AND t.id = n.trace_id "
            "WHERE n.project_id = ? AND n.data_type = 'TEXT' AND trim(n.string_value) <> ''"
        )
        head = [project_id]
        if q.score_name is not None:
            sql += " AND n.name = ?"
            head.append(q.score_name)
        order = "n.timestamp, n.id"
    rows = cur.execute(
        f"{sql} AND {' AND '.join(conditions)} ORDER BY {order} LIMIT ?",
        [*head, *params, limit],
    ).fetchall()
    return [(i, t, c) for i, t, c in rows]


def create_analysis(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    analysis: dict[str, Any],
    categories: Sequence[dict[str, Any]],
    notes: Sequence[tuple[str, str, str, str]],
) -> None:
    """Store an analysis (``id, source, scoreName, from, to, filter, method, warnings,
    createdBy``), its categories in order (``id, label, keywords, suggestedLabel``) and its
    notes ``(note id, trace id, text, category id)`` in order."""
    now = _now()
    cur.execute(
        "INSERT INTO error_analyses (project_id, id, source, score_name, from_time, to_time, "
        "filter, method, warnings, note_count, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            project_id, analysis["id"], analysis["source"], analysis.get("scoreName"),
            analysis.get("from"), analysis.get("to"), orjson.dumps(analysis["filter"]).decode(),
            analysis["method"], orjson.dumps(analysis["warnings"]).decode(), len(notes),
            analysis.get("createdBy"), now, now,
        ],
    )  # fmt: skip
    if categories:
        cur.executemany(
            "INSERT INTO error_analysis_categories VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [project_id, analysis["id"], c["id"], c["label"],
                 orjson.dumps(c["keywords"]).decode(), c.get("suggestedLabel"), i]
                for i, c in enumerate(categories)
            ],
        )  # fmt: skip
    if notes:  # one statement for all notes: a list per column, zipped by unnest
        cur.execute(
            "INSERT INTO error_analysis_notes SELECT ?, ?, unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::INTEGER[])",
            [
                project_id, analysis["id"], [n[0] for n in notes], [n[1] for n in notes],
                [n[2][:MAX_CONTENT] for n in notes], [n[3] for n in notes],
                list(range(len(notes))),
            ],
        )  # fmt: skip


def get_analysis(
    cur: duckdb.DuckDBPyConnection, project_id: str, analysis_id: str
) -> dict[str, Any] | None:
    """The analysis with its categories (in order, each with its notes in order), or None."""
    row = cur.execute(
        "SELECT id, source, score_name, from_time, to_time, filter, method, warnings, "
        "note_count, created_by, created_at, updated_at, accepted_at, config_id "
        "FROM error_analyses WHERE project_id = ? AND id = ?",
        [project_id, analysis_id],
    ).fetchone()
    if row is None:
        return None
    out = _analysis(row)
    cats = cur.execute(
        "SELECT id, label, keywords, suggested_label FROM error_analysis_categories "
        "WHERE project_id = ? AND analysis_id = ? ORDER BY position",
        [project_id, analysis_id],
    ).fetchall()
    notes = cur.execute(
        "SELECT note_id, trace_id, content, category_id FROM error_analysis_notes "
        "WHERE project_id = ? AND analysis_id = ? ORDER BY position",
        [project_id, analysis_id],
    ).fetchall()
    by_category: dict[str, list[dict[str, str]]] = {c[0]: [] for c in cats}
    for note_id, trace_id, content, category_id in notes:
        by_category.setdefault(category_id, []).append(
            {"id": note_id, "traceId": trace_id, "note": content}
        )
    out["categories"] = [
        {
            "id": cid,
            "label": label,
            "keywords": orjson.loads(keywords),
            "suggestedLabel": suggested,
            "notes": by_category.get(cid, []),
        }
        for cid, label, keywords, suggested in cats
    ]
    return out


def list_analyses(
    cur: duckdb.DuckDBPyConnection, project_id: str, limit: int
) -> list[dict[str, Any]]:
    """The project's analyses, newest first (without their categories)."""
    rows = cur.execute(
        "SELECT id, source, score_name, from_time, to_time, filter, method, warnings, "
        "note_count, created_by, created_at, updated_at, accepted_at, config_id "
        "FROM error_analyses WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ?",
        [project_id, limit],
    ).fetchall()
    return [_analysis(r) for r in rows]


def rename_category(
    cur: duckdb.DuckDBPyConnection, project_id: str, analysis_id: str, category_id: str, label: str
) -> bool:
    found = cur.execute(
        "UPDATE error_analysis_categories SET label = ? "
        "WHERE project_id = ? AND analysis_id = ? AND id = ? RETURNING id",
        [label, project_id, analysis_id, category_id],
    ).fetchall()
    if found:
        _touch(cur, project_id, analysis_id)
    return bool(found)


def add_category(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    analysis_id: str,
    category: dict[str, Any],
    after: str | None,
) -> None:
    """Insert a category just after ``after`` (at the end when ``None``)."""
    position = None
    if after is not None:
        row = cur.execute(
            "SELECT position FROM error_analysis_categories "
            "WHERE project_id = ? AND analysis_id = ? AND id = ?",
            [project_id, analysis_id, after],
        ).fetchone()
        position = None if row is None else row[0] + 1
    if position is None:
        row = cur.execute(
            "SELECT coalesce(max(position), -1) + 1 FROM error_analysis_categories "
            "WHERE project_id = ? AND analysis_id = ?",
            [project_id, analysis_id],
        ).fetchone()
        position = row[0] if row else 0
    cur.execute(
        "UPDATE error_analysis_categories SET position = position + 1 "
        "WHERE project_id = ? AND analysis_id = ? AND position >= ?",
        [project_id, analysis_id, position],
    )
    cur.execute(
        "INSERT INTO error_analysis_categories VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            project_id, analysis_id, category["id"], category["label"],
            orjson.dumps(category["keywords"]).decode(), category.get("suggestedLabel"), position,
        ],
    )  # fmt: skip
    _touch(cur, project_id, analysis_id)


def move_notes(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    analysis_id: str,
    note_ids: Sequence[str],
    category_id: str,
) -> int:
    """Put the notes in ``category_id``; how many were moved."""
    moved = cur.execute(
        "UPDATE error_analysis_notes SET category_id = ? WHERE project_id = ? AND "
        "analysis_id = ? AND note_id IN (SELECT unnest(?::VARCHAR[])) RETURNING note_id",
        [category_id, project_id, analysis_id, list(note_ids)],
    ).fetchall()
    _touch(cur, project_id, analysis_id)
    return len(moved)


def delete_categories(
    cur: duckdb.DuckDBPyConnection, project_id: str, analysis_id: str, category_ids: Sequence[str]
) -> None:
    """Delete (emptied) categories."""
    cur.execute(
        "DELETE FROM error_analysis_categories WHERE project_id = ? AND analysis_id = ? "
        "AND id IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, analysis_id, list(category_ids)],
    )
    _touch(cur, project_id, analysis_id)


def set_keywords(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    analysis_id: str,
    keywords: dict[str, list[str]],
) -> None:
    """Replace categories' keywords (after their notes changed)."""
    for category_id, words in keywords.items():
        cur.execute(
            "UPDATE error_analysis_categories SET keywords = ? "
            "WHERE project_id = ? AND analysis_id = ? AND id = ?",
            [orjson.dumps(words).decode(), project_id, analysis_id, category_id],
        )


def mark_accepted(
    cur: duckdb.DuckDBPyConnection, project_id: str, analysis_id: str, config_id: str
) -> None:
    cur.execute(
        "UPDATE error_analyses SET accepted_at = ?, config_id = ? WHERE project_id = ? AND id = ?",
        [_now(), config_id, project_id, analysis_id],
    )


def trace_environments(
    cur: duckdb.DuckDBPyConnection, project_id: str, trace_ids: Sequence[str]
) -> dict[str, str | None]:
    """The environment of each of the project's traces among ``trace_ids``."""
    rows = cur.execute(
        "SELECT id, environment FROM traces WHERE project_id = ? "
        "AND id IN (SELECT unnest(?::VARCHAR[]))",
        [project_id, list(trace_ids)],
    ).fetchall()
    return dict(rows)


def _touch(cur: duckdb.DuckDBPyConnection, project_id: str, analysis_id: str) -> None:
    cur.execute(
        "UPDATE error_analyses SET updated_at = ? WHERE project_id = ? AND id = ?",
        [_now(), project_id, analysis_id],
    )


def _analysis(row: tuple[Any, ...]) -> dict[str, Any]:
    (aid, source, score_name, start, end, filters, method, warnings, count, created_by,
     created, updated, accepted, config_id) = row  # fmt: skip
    return {
        "id": aid, "source": source, "scoreName": score_name, "from": iso(start), "to": iso(end),
        "filter": orjson.loads(filters) if filters else [], "method": method,
        "warnings": orjson.loads(warnings) if warnings else [], "noteCount": count,
        "createdBy": created_by, "createdAt": iso(created), "updatedAt": iso(updated),
        "acceptedAt": iso(accepted), "configId": config_id,
    }  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_EDITS = {
    "rename": rename_category,
    "add": add_category,
    "move": move_notes,
    "delete": delete_categories,
    "keywords": set_keywords,
    "accepted": mark_accepted,
}


def apply_edits(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    analysis_id: str,
    edits: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Apply edits ``(kind, arguments)`` in order (one transaction, the caller's); kinds:
    ``rename, add, move, delete, keywords, accepted`` (the functions above)."""
    for kind, arguments in edits:
        _EDITS[kind](cur, project_id, analysis_id, **arguments)
