"""Projects and their API keys: create, list, look up (the authenticator's table).

Functions take a cursor, like :mod:`heron.store.users`; a store wraps the writes in its
admin transaction. The SQL is portable: the DuckDB store and the PostgreSQL control store
(:mod:`heron.store.postgres`) run these same statements.
"""

from __future__ import annotations

from typing import Any

import duckdb

from heron.errors import BadRequest, Conflict, NotFound
from heron.store import keys as keymod
from heron.store import members
from heron.store import users as usermod
from heron.store.reads import iso


def list_projects(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT p.id, p.name, p.created_at, count(k.public_key), p.retention_days "
        "FROM projects p LEFT JOIN api_keys k ON k.project_id = p.id "
        "GROUP BY p.id, p.name, p.created_at, p.retention_days ORDER BY p.created_at"
    ).fetchall()
    return [
        {"id": i, "name": n, "created_at": iso(c), "key_count": k, "retention_days": r}
        for i, n, c, k, r in rows
    ]


def create_project(
    cur: duckdb.DuckDBPyConnection, name: str, owner_id: str | None
) -> dict[str, Any]:
    """A new project; ``owner_id`` (a web user) becomes its owner, admins join it."""
    name = name.strip()
    if not name:
        raise Conflict("project name must not be empty")
    if cur.execute("SELECT 1 FROM projects WHERE name = ?", [name]).fetchone():
        raise Conflict(f"project {name!r} already exists")
    pid = keymod.new_project_id()
    cur.execute("INSERT INTO projects (id, name, created_at) VALUES (?, ?, now())", [pid, name])
    usermod.add_admins_to_project(cur, pid)
    if owner_id is not None:
        members.add_member(cur, pid, owner_id, "owner")
    return {"id": pid, "name": name}


def create_key(
    cur: duckdb.DuckDBPyConnection, project_id: str, public_key: str, secret_key: str, scope: str
) -> dict[str, str]:
    """Store a key pair (the secret hashed); the pair as given, its secret shown once."""
    keymod.check_scope(scope)
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")
    secret_hash = keymod.hash_secret(secret_key)
    clash = cur.execute(
        "SELECT 1 FROM api_keys WHERE public_key = ? OR secret_hash = ?", [public_key, secret_hash]
    ).fetchone()
    if clash:
        raise Conflict("that public or secret key is already in use")
    cur.execute(
        "INSERT INTO api_keys (public_key, secret_hash, secret_hint, project_id, created_at, "
        "scope) VALUES (?, ?, ?, ?, now(), ?)",
        [public_key, secret_hash, keymod.hint(secret_key), project_id, scope],
    )
    return {
        "project_id": project_id,
        "public_key": public_key,
        "secret_key": secret_key,
        "scope": scope,
    }


def list_keys(cur: duckdb.DuckDBPyConnection, project_id: str | None) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT k.public_key, k.secret_hint, k.project_id, p.name, k.created_at, k.scope "
        "FROM api_keys k JOIN projects p ON p.id = k.project_id "
        "WHERE CAST(? AS VARCHAR) IS NULL OR k.project_id = ? ORDER BY k.created_at",
        [project_id, project_id],
    ).fetchall()
    return [
        {
            "public_key": pk,
            "secret_hint": h,
            "project_id": pid,
            "project": n,
            "created_at": iso(c),
            "scope": sc,
        }
        for pk, h, pid, n, c, sc in rows
    ]


def key_table(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, str]]:
    """secret hash -> (public key, project id, scope), for the authenticator's cache."""
    rows = cur.execute("SELECT secret_hash, public_key, project_id, scope FROM api_keys").fetchall()
    return {h: (pk, pid, scope) for h, pk, pid, scope in rows}


def has_key(cur: duckdb.DuckDBPyConnection, public_key: str) -> bool:
    return bool(cur.execute("SELECT 1 FROM api_keys WHERE public_key = ?", [public_key]).fetchone())


def set_retention(cur: duckdb.DuckDBPyConnection, project_id: str, days: int | None) -> None:
    """Keep the project's traces ``days`` days (``None``: forever)."""
    if days is not None and days < 1:
        raise BadRequest(f"retention must be at least 1 day (or none), not {days}")
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")
    cur.execute("UPDATE projects SET retention_days = ? WHERE id = ?", [days, project_id])


# -- meta: the store's own key-value pairs ------------------------------------------------------


def get_meta(cur: duckdb.DuckDBPyConnection, key: str) -> str | None:
    # fetchall: a half-read DuckDB result keeps its transaction open, which blocks CHECKPOINT
    rows = cur.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def set_meta(cur: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    cur.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
