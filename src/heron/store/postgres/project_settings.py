"""A project's settings on PostgreSQL: model prices, browser and implicit feedback, score
configs, saved views and dashboards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.store import dashboards as dashmod
from heron.store import feedback, saved
from heron.store import prices as pricedb
from heron.store import scores as scoremod
from heron.store.postgres.transactions import Transactions


class ProjectSettings(Transactions):
    """A project's settings, views and dashboards (a part of ``PostgresControl``)."""

    # -- project settings: prices, feedback, implicit feedback, score configs -------------------

    def list_prices(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return pricedb.list_prices(cur, project_id)

    def put_price(self, project_id: str, entry: dict[str, Any]) -> None:
        with self._admin() as cur:
            pricedb.put_price(cur, project_id, entry)

    def delete_price(self, project_id: str, entry_id: str) -> None:
        with self._admin() as cur:
            pricedb.delete_price(cur, project_id, entry_id)

    def feedback_settings(self, project_id: str) -> dict[str, Any]:
        with self._read() as cur:
            return feedback.get(cur, project_id)

    def set_feedback_settings(
        self, project_id: str, origins: list[str], names: list[str]
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return feedback.put(cur, project_id, origins, names)

    def all_feedback_settings(self) -> dict[str, dict[str, Any]]:
        with self._read() as cur:
            return feedback.all_settings(cur)

    def implicit_settings(self, project_id: str) -> dict[str, Any] | None:
        """The project's stored detector settings (JSON-shaped), None: the defaults."""
        with self._read() as cur:
            return feedback.implicit_settings(cur, project_id)

    def set_implicit_settings(self, project_id: str, settings: dict[str, Any] | None) -> None:
        """Store the project's detector settings (validated by the caller); None: defaults."""
        with self._admin() as cur:
            feedback.set_implicit_settings(cur, project_id, settings)

    def list_score_configs(
        self, project_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as cur:
            return scoremod.list_configs(cur, project_id, page, limit)

    def score_configs_by_id(
        self, project_id: str, config_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        with self._read() as cur:
            return scoremod.configs_by_id(cur, project_id, sorted(set(config_ids)))

    def put_score_config(self, project_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a config (checked by :mod:`heron.scores.configs`); returns it."""
        with self._admin() as cur:
            scoremod.put_config(cur, project_id, config)
            return scoremod.configs_by_id(cur, project_id, [config["id"]])[config["id"]]

    # -- saved views and dashboards ------------------------------------------------------------

    def list_saved_views(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return saved.list_views(cur, project_id)

    def get_saved_view(self, project_id: str, view_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return saved.get_view(cur, project_id, view_id)

    def create_saved_view(
        self, project_id: str, view_id: str, name: str, query: str, created_by: str
    ) -> None:
        with self._admin() as cur:
            saved.create_view(cur, project_id, view_id, name, query, created_by)

    def delete_saved_view(self, project_id: str, view_id: str) -> bool:
        with self._admin() as cur:
            return saved.delete_view(cur, project_id, view_id)

    def list_dashboards(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return dashmod.list_dashboards(cur, project_id)

    def get_dashboard(self, project_id: str, dashboard_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return dashmod.get_dashboard(cur, project_id, dashboard_id)

    def create_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> None:
        with self._admin() as cur:
            dashmod.create_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def update_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> bool:
        with self._admin() as cur:
            return dashmod.update_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def delete_dashboard(self, project_id: str, dashboard_id: str) -> bool:
        with self._admin() as cur:
            return dashmod.delete_dashboard(cur, project_id, dashboard_id)
