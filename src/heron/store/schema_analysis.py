"""Error analyses and their categories (placeholder: the owner of :mod:`heron.analysis`
rewrites this DDL); one migration of :mod:`heron.store.schema`."""

DDL = """
CREATE TABLE IF NOT EXISTS error_analyses (project_id VARCHAR NOT NULL, id VARCHAR NOT NULL);
"""
