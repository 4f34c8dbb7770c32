"""Tables of trace rules, the signals they raise and the issues that group them (control
data and events of :mod:`heron.signals`); one migration of :mod:`heron.store.schema`."""

DDL = """
CREATE TABLE IF NOT EXISTS signal_rules (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    PRIMARY KEY (project_id, id)
);
"""
