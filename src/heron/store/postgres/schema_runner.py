"""PostgreSQL migration of the runner on the cluster backend: the change feed (positions that
commit in order), the leases, and claims on due re-checks (see
:mod:`heron.store.postgres.runner_feed`)."""

RUNNER_FEED = """
CREATE TABLE runner_feed_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    position BIGINT NOT NULL
);
INSERT INTO runner_feed_head VALUES (TRUE, 0);
CREATE TABLE runner_changes (
    position BIGINT NOT NULL,
    project_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    PRIMARY KEY (position, project_id, trace_id)
);
CREATE INDEX runner_changes_trace ON runner_changes (project_id, trace_id, position);
CREATE TABLE runner_score_changes (
    position BIGINT NOT NULL,
    project_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    task TEXT
);
CREATE INDEX runner_score_changes_position ON runner_score_changes (position);
CREATE TABLE runner_leases (
    key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
ALTER TABLE runner_due ADD COLUMN holder TEXT, ADD COLUMN claimed_until TIMESTAMP;
"""
