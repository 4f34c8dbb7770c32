"""Project settings: members and their roles, invitations, renaming, revoking keys.

Functions take a cursor inside the store's admin transaction, like :mod:`heron.store.users`.
Invitation tokens are one-time links: 256 random bits, stored as SHA-256 digests.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from heron.errors import BadRequest, Conflict, NotFound
from heron.roles import ROLES
from heron.store.keys import hash_secret
from heron.store.reads import iso

INVITE_TTL_S = 7 * 24 * 3600


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_role(role: str) -> str:
    """The role, validated (400 naming the choices otherwise)."""
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def _project(cur: duckdb.DuckDBPyConnection, project_id: str) -> None:
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")


def rename_project(cur: duckdb.DuckDBPyConnection, project_id: str, name: str) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise BadRequest("project name must not be empty")
    if len(name) > 200:
        raise BadRequest("project name is longer than 200 characters")
    _project(cur, project_id)
    clash = cur.execute(
        "SELECT 1 FROM projects WHERE name = ? AND id <> ?", [name, project_id]
    ).fetchone()
    if clash:
        raise Conflict(f"project {name!r} already exists")
    cur.execute("UPDATE projects SET name = ? WHERE id = ?", [name, project_id])
    return {"id": project_id, "name": name}


def list_members(cur: duckdb.DuckDBPyConnection, project_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT u.id, u.email, m.role, u.is_admin FROM memberships m "
        "JOIN users u ON u.id = m.user_id WHERE m.project_id = ? ORDER BY u.created_at",
        [project_id],
    ).fetchall()
    return [{"user_id": i, "email": e, "role": r, "is_admin": bool(a)} for i, e, r, a in rows]


def _owners(cur: duckdb.DuckDBPyConnection, project_id: str) -> int:
    row = cur.execute(
        "SELECT count(*) FROM memberships WHERE project_id = ? AND role = 'owner'", [project_id]
    ).fetchone()
    return int(row[0]) if row else 0


def _role_of(cur: duckdb.DuckDBPyConnection, project_id: str, user_id: str) -> str:
    row = cur.execute(
        "SELECT role FROM memberships WHERE project_id = ? AND user_id = ?", [project_id, user_id]
    ).fetchone()
    if row is None:
        raise NotFound(f"user {user_id!r} is not a member of project {project_id!r}")
    return str(row[0])


def add_member(cur: duckdb.DuckDBPyConnection, project_id: str, user_id: str, role: str) -> None:
    """Add a user to a project, or change their role if already a member."""
    check_role(role)
    _project(cur, project_id)
    if not cur.execute("SELECT 1 FROM users WHERE id = ?", [user_id]).fetchone():
        raise NotFound(f"user {user_id!r} not found")
    exists = cur.execute(
        "SELECT 1 FROM memberships WHERE project_id = ? AND user_id = ?", [project_id, user_id]
    ).fetchone()
    if exists:
        set_role(cur, project_id, user_id, role)
    else:
        cur.execute("INSERT INTO memberships VALUES (?, ?, ?)", [user_id, project_id, role])


def set_role(cur: duckdb.DuckDBPyConnection, project_id: str, user_id: str, role: str) -> None:
    """Change a member's role; the last owner cannot be demoted."""
    check_role(role)
    current = _role_of(cur, project_id, user_id)
    if current == "owner" and role != "owner" and _owners(cur, project_id) <= 1:
        raise Conflict("cannot demote the project's last owner; make someone else owner first")
    cur.execute(
        "UPDATE memberships SET role = ? WHERE project_id = ? AND user_id = ?",
        [role, project_id, user_id],
    )


def remove_member(cur: duckdb.DuckDBPyConnection, project_id: str, user_id: str) -> None:
    """Remove a member; the last owner cannot be removed."""
    if _role_of(cur, project_id, user_id) == "owner" and _owners(cur, project_id) <= 1:
        raise Conflict("cannot remove the project's last owner; make someone else owner first")
    cur.execute(
        "DELETE FROM memberships WHERE project_id = ? AND user_id = ?", [project_id, user_id]
    )


def revoke_key(cur: duckdb.DuckDBPyConnection, project_id: str, public_key: str) -> None:
    gone = cur.execute(
        "DELETE FROM api_keys WHERE project_id = ? AND public_key = ? RETURNING public_key",
        [project_id, public_key],
    ).fetchone()
    if gone is None:
        raise NotFound(f"API key {public_key!r} not found in project {project_id!r}")


# -- invitations -------------------------------------------------------------------------------


def create_invite(
    cur: duckdb.DuckDBPyConnection,
    project_id: str,
    role: str,
    created_by: str | None,
    ttl_s: float = INVITE_TTL_S,
) -> dict[str, Any]:
    """A one-time invitation; its token is returned once and stored hashed."""
    check_role(role)
    _project(cur, project_id)
    now = _now()
    cur.execute("DELETE FROM invitations WHERE expires_at <= ?", [now])
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=ttl_s)
    cur.execute(
        "INSERT INTO invitations VALUES (?, ?, ?, ?, ?, ?)",
        [hash_secret(token), project_id, role, created_by, now, expires],
    )
    return {"token": token, "project_id": project_id, "role": role, "expires_at": iso(expires)}


def peek_invite(cur: duckdb.DuckDBPyConnection, token: str) -> dict[str, Any] | None:
    """A live invitation (with its project's name), without spending it."""
    row = cur.execute(
        "SELECT i.project_id, p.name, i.role, i.expires_at FROM invitations i "
        "JOIN projects p ON p.id = i.project_id WHERE i.token_hash = ? AND i.expires_at > ?",
        [hash_secret(token), _now()],
    ).fetchone()
    if row is None:
        return None
    pid, name, role, expires = row
    return {"project_id": pid, "project": name, "role": role, "expires_at": iso(expires)}


def spend_invite(cur: duckdb.DuckDBPyConnection, token: str) -> dict[str, Any] | None:
    """The invitation if it is live; it is spent either way (one statement: no double use)."""
    row = cur.execute(
        "DELETE FROM invitations WHERE token_hash = ? RETURNING project_id, role, expires_at",
        [hash_secret(token)],
    ).fetchone()
    if row is None or row[2] <= _now():
        return None
    return {"project_id": row[0], "role": row[1]}
