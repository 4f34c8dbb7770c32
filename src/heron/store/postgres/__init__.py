"""heron's control data on PostgreSQL (issue 18: the scale-out backend).

- :mod:`.connect`: a connection pool from a URL (UTC sessions, JSON read back as text);
- :mod:`.cursor`: a DuckDB-shaped cursor over a psycopg one, so the topic modules'
  SQL (``?`` placeholders) runs on PostgreSQL unchanged;
- :mod:`.schema` and :mod:`.migrations`: the control tables, migrated once under an
  advisory lock however many replicas start;
- :mod:`.transactions`: the pooled read and write blocks every topic runs in (unique
  constraints and advisory locks stand in for the embedded store's admin lock);
- :mod:`.control`: :class:`PostgresControl`, the control methods of the store, one class
  per topic group (:mod:`.accounts`, :mod:`.project_settings`, :mod:`.automation`,
  :mod:`.annotation`, :mod:`.datasets`).
"""

from heron.store.postgres.control import PostgresControl

__all__ = ["PostgresControl"]
