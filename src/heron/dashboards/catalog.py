"""A project's dashboards: the built-in default (``id`` ``default``, read-only) and the custom
ones in the store. Used by the API and the pages alike; another project's id is not found."""

from __future__ import annotations

import secrets
from typing import Any

from heron.dashboards.default import DEFAULT_ID, default_dashboard
from heron.dashboards.spec import MAX_NAME, Dashboard, parse_dashboard, stored_dashboard
from heron.errors import BadRequest, NotFound
from heron.store import Store

MAX_DASHBOARDS = 500


def describe(dashboard_id: str, dashboard: Dashboard, row: dict[str, Any] | None) -> dict[str, Any]:
    """A dashboard as the API shows it."""
    return {
        "id": dashboard_id,
        **dashboard.to_json(),
        "read_only": dashboard_id == DEFAULT_ID,
        "created_at": row["created_at"] if row else None,
        "updated_at": row["updated_at"] if row else None,
    }


def list_all(store: Store, project_id: str) -> list[dict[str, Any]]:
    """The default dashboard first, then the project's own by name."""
    rows = store.list_dashboards(project_id)
    return [
        describe(DEFAULT_ID, default_dashboard(), None),
        *(describe(r["id"], stored_dashboard(r), r) for r in rows),
    ]


def get(store: Store, project_id: str, dashboard_id: str) -> tuple[Dashboard, dict[str, Any]]:
    """The dashboard and its API description; NotFound when the project has no such id."""
    if dashboard_id == DEFAULT_ID:
        dashboard = default_dashboard()
        return dashboard, describe(DEFAULT_ID, dashboard, None)
    row = store.get_dashboard(project_id, dashboard_id)
    if row is None:
        raise NotFound(f"dashboard {dashboard_id!r} not found in this project")
    dashboard = stored_dashboard(row)
    return dashboard, describe(dashboard_id, dashboard, row)


def _save_new(store: Store, project_id: str, dashboard: Dashboard) -> dict[str, Any]:
    if len(store.list_dashboards(project_id)) >= MAX_DASHBOARDS:
        raise BadRequest(f"a project holds at most {MAX_DASHBOARDS} dashboards")
    dashboard_id = secrets.token_hex(8)
    store.create_dashboard(
        project_id, dashboard_id, dashboard.name, dashboard.description, dashboard.spec()
    )
    return get(store, project_id, dashboard_id)[1]


def create(store: Store, project_id: str, raw: Any) -> dict[str, Any]:
    """Validate and store a new dashboard; its API description."""
    return _save_new(store, project_id, parse_dashboard(raw))


def update(store: Store, project_id: str, dashboard_id: str, raw: Any) -> dict[str, Any]:
    """Replace a custom dashboard's content (the default one is read-only)."""
    _read_only(dashboard_id, "changed")
    dashboard = parse_dashboard(raw)
    if not store.update_dashboard(
        project_id, dashboard_id, dashboard.name, dashboard.description, dashboard.spec()
    ):
        raise NotFound(f"dashboard {dashboard_id!r} not found in this project")
    return get(store, project_id, dashboard_id)[1]


def delete(store: Store, project_id: str, dashboard_id: str) -> None:
    _read_only(dashboard_id, "deleted")
    if not store.delete_dashboard(project_id, dashboard_id):
        raise NotFound(f"dashboard {dashboard_id!r} not found in this project")


def duplicate(store: Store, project_id: str, dashboard_id: str) -> dict[str, Any]:
    """A new custom dashboard with the same content, named "Copy of ..."."""
    dashboard, _ = get(store, project_id, dashboard_id)
    dashboard.name = f"Copy of {dashboard.name}"[:MAX_NAME]
    return _save_new(store, project_id, dashboard)


def _read_only(dashboard_id: str, what: str) -> None:
    if dashboard_id == DEFAULT_ID:
        raise BadRequest(
            f"the default dashboard is built in and cannot be {what}; duplicate it first"
        )
