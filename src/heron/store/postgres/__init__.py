"""heron's control data on PostgreSQL (issue 18: the scale-out backend).

- :mod:`.connect`: a connection pool from a URL (UTC sessions, JSON read back as text);
- :mod:`.cursor`: a DuckDB-shaped cursor over a psycopg one, so the topic modules'
  SQL (``?`` placeholders) runs on PostgreSQL unchanged;
- :mod:`.schema` and :mod:`.migrations`: the control tables, migrated once under an
  advisory lock however many replicas start;
- :mod:`.control`: :class:`PostgresControl`, the control methods of the store on it.
"""

from heron.store.postgres.control import PostgresControl

__all__ = ["PostgresControl"]
