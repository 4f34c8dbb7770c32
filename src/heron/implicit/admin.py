"""A project's implicit-feedback settings by project name, for the admin API and the CLI
(called on the server's store, or on the data directory when no server runs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heron.implicit.model import FeedbackConfig, FeedbackConfigError
from heron.project_admin import project_id
from heron.store.base import Store


def view(store: Store, project: str) -> dict[str, Any]:
    """The settings in effect (defaults filled in) and the ones the project changed."""
    stored = store.implicit_settings(project_id(store, project)) or {}
    return {
        "project": project,
        "settings": FeedbackConfig.from_settings(stored).to_settings(),
        "changed": stored,
    }


def update(
    store: Store, project: str, changes: Mapping[str, Any] | None, reset: bool = False
) -> dict[str, Any]:
    """Merge ``changes`` into the project's stored settings (``reset``: start from the
    defaults); a bad setting is a 400 naming it and nothing is stored."""
    if changes is not None and not isinstance(changes, Mapping):
        raise FeedbackConfigError("settings must be an object of feedback settings")
    pid = project_id(store, project)
    merged = {} if reset else dict(store.implicit_settings(pid) or {})
    merged.update(changes or {})
    FeedbackConfig.from_settings(merged)  # validates (unknown keys, types, ranges, patterns)
    store.set_implicit_settings(pid, merged or None)
    return view(store, project)
