"""First-start set-up: the default project and key pair, the HERON_INIT_* project, and the
web UI's first admin user.

Safe when several replicas start together against one shared store (PostgreSQL): each
step checks, then creates; the store refuses the second of two racing creates (a unique
constraint, :class:`~heron.errors.Conflict`) and the loser takes the winner's result, so
everything is created once."""

from __future__ import annotations

from typing import Any

from heron.errors import Conflict
from heron.settings import Settings
from heron.store import Store
from heron.store.users import new_password

DEFAULT_ADMIN_EMAIL = "admin@localhost"


def bootstrap(store: Store, settings: Settings) -> list[dict[str, str]]:
    """Create what must exist; return the key pairs created now (their secrets, once)."""
    created: list[dict[str, str]] = []
    if settings.init_project:
        pk, sk = settings.init_public_key, settings.init_secret_key
        if bool(pk) != bool(sk):
            raise ValueError("HERON_INIT_PUBLIC_KEY and HERON_INIT_SECRET_KEY go together")
        project = _init_project(store, settings.init_project)
        if pk and sk and not store.has_key(pk):
            try:
                pair = store.create_key(project["id"], pk, sk)
            except Conflict:
                if not store.has_key(pk):  # not the race below: a clash of secrets
                    raise
            else:
                created.append({**pair, "project": project["name"]})
    if not store.list_projects():
        try:
            project = store.create_project("default")
        except Conflict:  # another replica, starting too, created it first (and its key)
            return created
        created.append({**store.create_key(project["id"]), "project": project["name"]})
    return created


def _init_project(store: Store, name: str) -> dict[str, Any]:
    """The project, created unless it exists. Replicas starting together against one shared
    store race here: the store refuses the second create (Conflict), which then reads the
    first's project."""
    project = store.project_by_name(name)
    if project is None:
        try:
            project = store.create_project(name)
        except Conflict:
            project = store.project_by_name(name)
            if project is None:
                raise
    return project


def bootstrap_users(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Create the HERON_INIT_ADMIN_* user if absent and, when there is no user at all,
    ``admin@localhost`` (both admins, members of every project). Returns the users created
    now; ``password`` is set when heron generated it, to be shown once."""
    created: list[dict[str, Any]] = []

    def admin(email: str, password: str | None) -> None:
        chosen = password or new_password()
        try:
            user = store.create_user(email, chosen, is_admin=True)
        except Conflict:  # another replica, starting too, created the user first
            if store.user_by_email(email) is None:
                raise
            return
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
