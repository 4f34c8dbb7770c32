"""A clickhouse-connect client from a URL.

``http://user:password@host:8123/database`` (``https://`` for TLS) or the same with
``clickhouse://`` (plain HTTP; ``clickhouses://`` for TLS). The database defaults to
``default``; the port to 8123 (8443 with TLS).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

_SCHEMES = {"http": False, "clickhouse": False, "https": True, "clickhouses": True}


class ClickHouseURLError(ValueError):
    """A ClickHouse URL heron cannot use: names what is wrong."""


def parse_url(url: str) -> dict[str, object]:
    """The connection arguments a URL names (host, port, username, password, database,
    secure)."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ClickHouseURLError(
            f"ClickHouse URL: scheme must be one of {', '.join(_SCHEMES)}, got {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ClickHouseURLError("ClickHouse URL: a host is required")
    secure = _SCHEMES[parts.scheme]
    database = unquote(parts.path.strip("/")) or "default"
    if "/" in database:
        raise ClickHouseURLError(f"ClickHouse URL: one database name, got {database!r}")
    return {
        "host": parts.hostname,
        "port": parts.port or (8443 if secure else 8123),
        "username": unquote(parts.username) if parts.username else "default",
        "password": unquote(parts.password) if parts.password else "",
        "database": database,
        "secure": secure,
    }


def connect(url: str, *, create_database: bool = True) -> Client:
    """A client of the URL's database, which is created first when missing (and allowed)."""
    args = parse_url(url)
    database = str(args.pop("database"))
    if create_database and database != "default":
        bootstrap = clickhouse_connect.get_client(  # type: ignore[arg-type]
            autogenerate_session_id=False, **args
        )
        try:
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
        finally:
            bootstrap.close()
    # No ClickHouse session per client: a session takes one query at a time, and the store's
    # reads run from many threads (nothing of heron's relies on session state).
    return clickhouse_connect.get_client(  # type: ignore[arg-type]
        database=database, autogenerate_session_id=False, **args
    )


def quote_identifier(name: str) -> str:
    """A ClickHouse identifier in backquotes (names come from configuration, not requests)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
