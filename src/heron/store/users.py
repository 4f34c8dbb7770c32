"""Web UI users: accounts, project memberships, login sessions and one-time login tokens.

Functions take a cursor, like :mod:`heron.store.reads`; :class:`~heron.store.EmbeddedStore`
wraps them (writes inside its admin transaction).

Passwords are stored as scrypt hashes with a random salt and the parameters used, so they
can be raised later without invalidating stored hashes. Session and one-time tokens carry
256 random bits and are stored as SHA-256 digests, like API secret keys.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from heron.errors import BadRequest, Conflict, NotFound
from heron.store.keys import hash_secret
from heron.store.reads import iso

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8

_USER_COLUMNS = "u.id, u.email, u.is_admin, u.created_at"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$digest`` (base64 salt and digest)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a wrong email costs what a wrong password
    does (made at first use: a scrypt hash at every import would cost each process 70 ms)."""
    return hash_password(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise BadRequest(f"{email!r} is not an email address")
    return email


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def new_password() -> str:
    return secrets.token_urlsafe(12)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _user(row: tuple[Any, ...]) -> dict[str, Any]:
    uid, email, is_admin, created = row
    return {"id": uid, "email": email, "is_admin": bool(is_admin), "created_at": iso(created)}


# -- accounts ---------------------------------------------------------------------------------


def create_user(
    cur: duckdb.DuckDBPyConnection,
    email: str,
    password_hash: str,
    is_admin: bool,
    project_ids: list[str],
) -> dict[str, Any]:
    """A new user; an admin joins every project, others the given ones."""
    email = normalise_email(email)
    if cur.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
        raise Conflict(f"user {email!r} already exists")
    uid = "usr_" + secrets.token_hex(8)
    cur.execute(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?)", [uid, email, password_hash, is_admin, _now()]
    )
    if is_admin:
        project_ids = [r[0] for r in cur.execute("SELECT id FROM projects").fetchall()]
    for pid in dict.fromkeys(project_ids):
        if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [pid]).fetchone():
            raise NotFound(f"project {pid!r} not found")
        role = "admin" if is_admin else "member"
        cur.execute("INSERT INTO memberships VALUES (?, ?, ?)", [uid, pid, role])
    return {"id": uid, "email": email, "is_admin": is_admin}


def add_admins_to_project(cur: duckdb.DuckDBPyConnection, project_id: str) -> None:
    """Admins belong to every project, including ones created after them."""
    cur.execute(
        "INSERT INTO memberships SELECT id, ?, 'admin' FROM users WHERE is_admin", [project_id]
    )


def set_password(cur: duckdb.DuckDBPyConnection, email: str, password_hash: str) -> None:
    """Replace a user's password and end their sessions."""
    email = normalise_email(email)
    row = cur.execute("SELECT id FROM users WHERE email = ?", [email]).fetchone()
    if row is None:
        raise NotFound(f"user {email!r} not found")
    cur.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, row[0]])
    cur.execute("DELETE FROM web_sessions WHERE user_id = ?", [row[0]])


def list_users(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = cur.execute(f"SELECT {_USER_COLUMNS} FROM users u ORDER BY u.created_at").fetchall()
    return [_user(r) for r in rows]


def user_by_email(cur: duckdb.DuckDBPyConnection, email: str) -> dict[str, Any] | None:
    row = cur.execute(
        f"SELECT {_USER_COLUMNS} FROM users u WHERE u.email = ?", [email.strip().lower()]
    ).fetchone()
    return _user(row) if row else None


def check_login(cur: duckdb.DuckDBPyConnection, email: str, password: str) -> dict[str, Any] | None:
    """The user if email and password match, else None (same cost either way)."""
    return check_login_row(login_row(cur, email), password)


def login_row(cur: duckdb.DuckDBPyConnection, email: str) -> tuple[Any, ...] | None:
    """The user's columns and password hash (read apart from the slow check, so that a
    pooled connection is not held through it)."""
    return cur.execute(
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = ?",
        [email.strip().lower()],
    ).fetchone()


def check_login_row(row: tuple[Any, ...] | None, password: str) -> dict[str, Any] | None:
    """The user of a :func:`login_row` if the password matches it, else None."""
    ok = verify_password(password, row[-1] if row else _dummy_hash())
    return _user(row[:-1]) if row and ok else None


def user_projects(cur: duckdb.DuckDBPyConnection, user_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT p.id, p.name, m.role FROM memberships m JOIN projects p ON p.id = m.project_id "
        "WHERE m.user_id = ? ORDER BY p.created_at",
        [user_id],
    ).fetchall()
    return [{"id": i, "name": n, "role": r} for i, n, r in rows]


# -- sessions and one-time tokens ---------------------------------------------------------------


def create_session(cur: duckdb.DuckDBPyConnection, user_id: str, ttl_s: float) -> dict[str, str]:
    """A login session: its token (for the cookie, shown once) and its CSRF token."""
    now = _now()
    cur.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [now])
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    cur.execute(
        "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)",
        [hash_secret(token), user_id, csrf, now, now + timedelta(seconds=ttl_s)],
    )
    return {"token": token, "csrf_token": csrf}


def session_user(cur: duckdb.DuckDBPyConnection, token: str) -> dict[str, Any] | None:
    """The user of a live session, with the session's CSRF token."""
    row = cur.execute(
        f"SELECT {_USER_COLUMNS}, s.csrf_token FROM web_sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        [hash_secret(token), _now()],
    ).fetchone()
    return {**_user(row[:-1]), "csrf_token": row[-1]} if row else None


def delete_session(cur: duckdb.DuckDBPyConnection, token: str) -> None:
    cur.execute("DELETE FROM web_sessions WHERE token_hash = ?", [hash_secret(token)])


def create_login_token(cur: duckdb.DuckDBPyConnection, user_id: str, ttl_s: float) -> str:
    now = _now()
    cur.execute("DELETE FROM login_tokens WHERE expires_at <= ?", [now])
    token = secrets.token_urlsafe(32)
    cur.execute(
        "INSERT INTO login_tokens VALUES (?, ?, ?)",
        [hash_secret(token), user_id, now + timedelta(seconds=ttl_s)],
    )
    return token


def use_login_token(cur: duckdb.DuckDBPyConnection, token: str) -> dict[str, Any] | None:
    """The token's user if it is valid; the token is spent either way.

    Deleting and reading are one statement, so of two uses racing only one gets the user.
    """
    spent = cur.execute(
        "DELETE FROM login_tokens WHERE token_hash = ? RETURNING user_id, expires_at",
        [hash_secret(token)],
    ).fetchone()
    if spent is None or spent[1] <= _now():
        return None
    row = cur.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = ?", [spent[0]]).fetchone()
    return _user(row) if row else None
