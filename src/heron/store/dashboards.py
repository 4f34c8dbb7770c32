"""Custom dashboards: stored rows (functions taking a cursor, like :mod:`heron.store.saved`;
every one scoped to a project). The spec is validated by :mod:`heron.dashboards` first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from heron.query import OBSERVATIONS, TRACES, Filter, compile_filters
from heron.store.reads import iso

_COLUMNS = "id, name, description, spec, created_at, updated_at"


def _dashboard(row: tuple[Any, ...]) -> dict[str, Any]:
    dashboard_id, name, description, spec, created_at, updated_at = row
    return {
        "id": dashboard_id,
        "name": name,
        "description": description,
        "spec": orjson.loads(spec),
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
    }


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def list_dashboards(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM dashboards WHERE project_id = ? ORDER BY lower(name), created_at",
        [project_id],
    ).fetchall()
    return [_dashboard(r) for r in rows]


def get_dashboard(
    cur: duckdb.DuckDBPyConnection, project_id: str, dashboard_id: str
) -> dict[str, Any] | None:
    row = cur.execute(
        f"SELECT {_COLUMNS} FROM dashboards WHERE project_id = ? AND id = ?",
        [project_id, dashboard_id],
    ).fetchone()
    return None if row is None else _dashboard(row)


def create_dashboard(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dashboard_id: str,
    name: str,
    description: str,
    spec: dict[str, Any],
) -> None:
    now = _now()
    cur.execute(
        "INSERT INTO dashboards VALUES (?, ?, ?, ?, ?, ?, ?)",
        [project_id, dashboard_id, name, description, orjson.dumps(spec).decode(), now, now],
    )


def update_dashboard(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    dashboard_id: str,
    name: str,
    description: str,
    spec: dict[str, Any],
) -> bool:
    """Replace a dashboard's name, description and spec; False when there is none."""
    if get_dashboard(cur, project_id, dashboard_id) is None:
        return False
    cur.execute(
        "UPDATE dashboards SET name = ?, description = ?, spec = ?, updated_at = ? "
        "WHERE project_id = ? AND id = ?",
        [name, description, orjson.dumps(spec).decode(), _now(), project_id, dashboard_id],
    )
    return True


def delete_dashboard(cur: duckdb.DuckDBPyConnection, project_id: str, dashboard_id: str) -> bool:
    if get_dashboard(cur, project_id, dashboard_id) is None:
        return False
    cur.execute(
        "DELETE FROM dashboards WHERE project_id = ? AND id = ?", [project_id, dashboard_id]
    )
    return True


def changes(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    trace_filters: Sequence[Filter] = (),
    observation_filters: Sequence[Filter] = (),
) -> list[dict[str, Any]]:
    """Every release, version and prompt version with the moment it first appeared in the
    project (among traces / observations matching the filters), oldest first, each with the
    value that appeared before it (same kind; for prompts, same prompt name)."""
    t_where, t_params = compile_filters(trace_filters, TRACES)
    o_where, o_params = compile_filters(observation_filters, OBSERVATIONS)
    rows = cur.execute(
        "SELECT 'release', NULL, t.release, min(t.start_time) FROM traces t "
        f"WHERE t.project_id = ? AND t.release IS NOT NULL AND {t_where} GROUP BY t.release "
        "UNION ALL SELECT 'version', NULL, t.version, min(t.start_time) FROM traces t "
        f"WHERE t.project_id = ? AND t.version IS NOT NULL AND {t_where} GROUP BY t.version "
        "UNION ALL SELECT 'prompt', o.prompt_name, CAST(o.prompt_version AS VARCHAR), "
        "min(o.start_time) FROM observations o WHERE o.project_id = ? "
        f"AND o.prompt_name IS NOT NULL AND o.prompt_version IS NOT NULL AND {o_where} "
        "GROUP BY o.prompt_name, o.prompt_version ORDER BY 4, 1, 2, 3",
        [project_id, *t_params, project_id, *t_params, project_id, *o_params],
    ).fetchall()
    previous: dict[tuple[str, str | None], str] = {}
    out = []
    for kind, prompt, value, first_seen in rows:
        label = f"{prompt} v{value}" if kind == "prompt" else value
        group = (kind, prompt)
        out.append(
            {
                "kind": kind,
                "name": prompt,
                "value": label,
                "previous": previous.get(group),
                "first_seen": iso(first_seen),
            }
        )
        previous[group] = label
    return out
