"""Annotation queues, their items, assignments and leases (placeholder: the owner of
:mod:`heron.annotation` rewrites this DDL); one migration of :mod:`heron.store.schema`."""

DDL = """
CREATE TABLE IF NOT EXISTS annotation_queues (project_id VARCHAR NOT NULL, id VARCHAR NOT NULL);
"""
