"""Tables of alerts on aggregates and the history of their evaluations
(:mod:`heron.signals`); one migration of :mod:`heron.store.schema`."""

DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    PRIMARY KEY (project_id, id)
);
"""
