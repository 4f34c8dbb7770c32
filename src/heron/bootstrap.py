"""First-start set-up: the default project and key pair, and the HERON_INIT_* project."""

from __future__ import annotations

from heron.settings import Settings
from heron.store import Store


def bootstrap(store: Store, settings: Settings) -> list[dict[str, str]]:
    """Create what must exist; return the key pairs created now (their secrets, once)."""
    created: list[dict[str, str]] = []
    if settings.init_project:
        project = store.project_by_name(settings.init_project) or store.create_project(
            settings.init_project
        )
        pk, sk = settings.init_public_key, settings.init_secret_key
        if pk and sk:
            if not store.has_key(pk):
                created.append(
                    {**store.create_key(project["id"], pk, sk), "project": project["name"]}
                )
        elif pk or sk:
            raise ValueError("HERON_INIT_PUBLIC_KEY and HERON_INIT_SECRET_KEY go together")
    if not store.list_projects():
        project = store.create_project("default")
        created.append({**store.create_key(project["id"]), "project": project["name"]})
    return created
