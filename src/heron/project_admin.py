"""Project settings by project name and user email, for the admin API and the CLI (which
call them on the server's store, or on the data directory when no server runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.errors import NotFound

if TYPE_CHECKING:
    from heron.store.base import Store


def project_id(store: Store, name: str) -> str:
    found = store.project_by_name(name)
    if not found:
        raise NotFound(f"project {name!r} not found")
    return str(found["id"])


def user_id(store: Store, email: str) -> str:
    found = store.user_by_email(email)
    if not found:
        raise NotFound(f"user {email!r} not found")
    return str(found["id"])


def rename(store: Store, project: str, name: str) -> dict[str, Any]:
    return store.rename_project(project_id(store, project), name)


def revoke_key(store: Store, project: str, public_key: str) -> dict[str, Any]:
    store.revoke_key(project_id(store, project), public_key)
    return {"project": project, "public_key": public_key, "revoked": True}


def members(store: Store, project: str) -> list[dict[str, Any]]:
    return store.list_members(project_id(store, project))


def set_member(store: Store, project: str, email: str, role: str) -> dict[str, Any]:
    """Add a user to a project with ``role``, or change their role there."""
    store.add_member(project_id(store, project), user_id(store, email), role)
    return {"project": project, "email": email.strip().lower(), "role": role}


def remove_member(store: Store, project: str, email: str) -> dict[str, Any]:
    store.remove_member(project_id(store, project), user_id(store, email))
    return {"project": project, "email": email.strip().lower(), "removed": True}


def invite(store: Store, project: str, role: str, base_url: str) -> dict[str, Any]:
    """A one-time invitation link granting ``role`` (its token is shown only here)."""
    made = store.create_invite(project_id(store, project), role)
    return {
        **made,
        "project": project,
        "link": f"{base_url.rstrip('/')}/invite?token={made['token']}",
    }


def feedback_settings(store: Store, project: str) -> dict[str, Any]:
    """The project's browser feedback settings (allowed origins, allowed score names)."""
    return {"project": project, **store.feedback_settings(project_id(store, project))}


def set_feedback_settings(
    store: Store, project: str, origins: list[str] | None, names: list[str] | None
) -> dict[str, Any]:
    """Replace the lists given (``None`` keeps that list as it is)."""
    pid = project_id(store, project)
    now = store.feedback_settings(pid)
    done = store.set_feedback_settings(
        pid,
        now["allowed_origins"] if origins is None else origins,
        now["allowed_names"] if names is None else names,
    )
    return {"project": project, **done}
