"""Browser feedback settings per project: the origins whose pages may send scores with the
public key alone (CORS), and the score names that key may write (empty: any name); and the
implicit-feedback detectors' settings (:mod:`heron.implicit`).

Functions take a cursor, like :mod:`heron.store.members`; writes run inside the store's
admin transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson

from heron.errors import BadRequest, NotFound
from heron.scores.parse import MAX_NAME

MAX_ORIGINS = 100
MAX_NAMES = 100
_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_origin(origin: str) -> str:
    """``origin`` as browsers send it (``scheme://host[:port]``, lower case, no default port);
    400 naming the problem for anything else (paths, wildcards, other schemes)."""
    text = origin.strip()
    if not text:
        raise BadRequest("an origin must not be empty")
    if len(text) > 300:
        raise BadRequest(f"origin {text[:40]!r}…: longer than 300 characters")
    if "*" in text:
        raise BadRequest(f"origin {text!r}: wildcards are not allowed; list each origin")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadRequest(f"origin {text!r}: not a URL like https://shop.example.com") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise BadRequest(f"origin {text!r}: expected http(s)://host[:port]")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise BadRequest(f"origin {text!r}: an origin has no path, user or password")
    if parts.query or parts.fragment:
        raise BadRequest(f"origin {text!r}: an origin has no query or fragment")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def _names(names: list[str]) -> list[str]:
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if len(name) > MAX_NAME:
            raise BadRequest(f"score name {name[:40]!r}…: longer than {MAX_NAME} characters")
        if name not in out:
            out.append(name)
    if len(out) > MAX_NAMES:
        raise BadRequest(f"at most {MAX_NAMES} allowed score names")
    return out


def _origins(origins: list[str]) -> list[str]:
    out: list[str] = []
    for raw in origins:
        if not raw.strip():
            continue
        origin = check_origin(raw)
        if origin not in out:
            out.append(origin)
    if len(out) > MAX_ORIGINS:
        raise BadRequest(f"at most {MAX_ORIGINS} allowed origins")
    return out


def get(cur: duckdb.DuckDBPyConnection, project_id: str) -> dict[str, Any]:
    """The project's settings (both lists empty when never set)."""
    row = cur.execute(
        "SELECT allowed_origins, allowed_names FROM feedback_settings WHERE project_id = ?",
        [project_id],
    ).fetchone()
    origins, names = row if row else ([], [])
    return {"allowed_origins": list(origins), "allowed_names": list(names)}


def put(
    cur: duckdb.DuckDBPyConnection, project_id: str, origins: list[str], names: list[str]
) -> dict[str, Any]:
    """Replace the project's settings with validated, de-duplicated lists."""
    clean_origins, clean_names = _origins(origins), _names(names)
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")
    cur.execute(
        "INSERT INTO feedback_settings VALUES (?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE "
        "SET allowed_origins = excluded.allowed_origins, allowed_names = excluded.allowed_names, "
        "updated_at = excluded.updated_at",
        [project_id, clean_origins, clean_names, datetime.now(UTC).replace(tzinfo=None)],
    )
    return {"allowed_origins": clean_origins, "allowed_names": clean_names}


def all_settings(cur: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Every project's settings, by project id (for the server's cache)."""
    rows = cur.execute(
        "SELECT project_id, allowed_origins, allowed_names FROM feedback_settings"
    ).fetchall()
    return {pid: {"allowed_origins": list(o), "allowed_names": list(n)} for pid, o, n in rows}


# -- implicit-feedback detector settings (heron.implicit) --------------------------------------


def implicit_settings(cur: duckdb.DuckDBPyConnection, project_id: str) -> dict[str, Any] | None:
    """The project's stored implicit-feedback detector settings; None: the defaults."""
    rows = cur.execute(
        "SELECT settings FROM implicit_settings WHERE project_id = ?", [project_id]
    ).fetchall()
    return orjson.loads(rows[0][0]) if rows else None


def set_implicit_settings(
    cur: duckdb.DuckDBPyConnection, project_id: str, settings: dict[str, Any] | None
) -> None:
    """Store the detector settings (validated by the caller); None: back to the defaults."""
    if not cur.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone():
        raise NotFound(f"project {project_id!r} not found")
    cur.execute("DELETE FROM implicit_settings WHERE project_id = ?", [project_id])
    if settings is not None:
        cur.execute(
            "INSERT INTO implicit_settings VALUES (?, ?, now()::TIMESTAMP)",
            [project_id, orjson.dumps(settings).decode()],
        )
