"""Tables of alerts on aggregates and the history of their evaluations
(:mod:`heron.signals`); one migration of :mod:`heron.store.schema`.

- ``alerts``: the definitions (control data), by project and name;
- ``alert_states``: each alert's current state and when it last notified;
- ``alert_evaluations``: every evaluation (its time, window, value, expected band, state),
  keyed by the evaluation time so a redo after a crash writes nothing twice.
"""

DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    project_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE IF NOT EXISTS alert_states (
    project_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    since TIMESTAMP NOT NULL,
    evaluated_at TIMESTAMP NOT NULL,
    value DOUBLE,
    notified_at TIMESTAMP,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE IF NOT EXISTS alert_evaluations (
    project_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    eval_time TIMESTAMP NOT NULL,
    window_start TIMESTAMP NOT NULL,
    value DOUBLE,
    lower DOUBLE,
    upper DOUBLE,
    state VARCHAR NOT NULL,
    detail VARCHAR,
    PRIMARY KEY (project_id, name, eval_time)
);
"""
