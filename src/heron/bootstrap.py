"""First-start set-up: the default project and key pair, the HERON_INIT_* project, and the
web UI's first admin user."""

from __future__ import annotations

from typing import Any

from heron.settings import Settings
from heron.store import Store
from heron.store.users import new_password

DEFAULT_ADMIN_EMAIL = "admin@localhost"


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


def bootstrap_users(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Create the HERON_INIT_ADMIN_* user if absent and, when there is no user at all,
    ``admin@localhost`` (both admins, members of every project). Returns the users created
    now; ``password`` is set when heron generated it, to be shown once."""
    created: list[dict[str, Any]] = []

    def admin(email: str, password: str | None) -> None:
        chosen = password or new_password()
        user = store.create_user(email, chosen, is_admin=True)
        created.append({**user, "password": None if password else chosen})

    email = settings.init_admin_email
    if email:
        if store.user_by_email(email) is None:
            admin(email, settings.init_admin_password)
    elif settings.init_admin_password:
        raise ValueError("HERON_INIT_ADMIN_PASSWORD needs HERON_INIT_ADMIN_EMAIL")
    if not store.list_accounts():
        admin(DEFAULT_ADMIN_EMAIL, None)
    return created
