"""Tables of trace rules, the signals they raise and the issues that group them (control
data and events of :mod:`heron.signals`); one migration of :mod:`heron.store.schema`.

- ``signal_rules``: a project's stored rules, and overrides of the built-in rules under
  their names (the spec as :func:`heron.signals.rules.check_rule` returns it, JSON).
- ``signals``: one row per (rule, trace, observation or score) that matched; the id is
  deterministic, so a redo never adds a second row. ``time`` is when the matched thing
  happened, ``created_at`` when the rule saw it.
- ``issues``: signals grouped by fingerprint (the id is derived from it); counts, first and
  last seen, users and sessions are computed from the signals, never stored.
- ``score_changes``: the score feed of the runner; each score write adds (marker, project,
  trace, writing task) under the store-wide change marker (see docs/runner.md).
"""

DDL = """
CREATE TABLE IF NOT EXISTS signal_rules (
    project_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE IF NOT EXISTS signals (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    observation_id VARCHAR,
    score_id VARCHAR,
    time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    message VARCHAR NOT NULL,
    issue_id VARCHAR NOT NULL,
    user_id VARCHAR,
    session_id VARCHAR
);
CREATE TABLE IF NOT EXISTS issues (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    name VARCHAR,
    title VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    ignore_until_count BIGINT,
    ignore_until TIMESTAMP,
    status_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS score_changes (
    change_seq BIGINT NOT NULL,
    project_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    task VARCHAR
);
"""
