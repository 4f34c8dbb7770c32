"""Tables of notification channels, the notification outbox and the delivery log
(:mod:`heron.signals`); one migration of :mod:`heron.store.schema`.

``notifications`` is the outbox: a rule or an alert adds rows in the same transaction as
the change they announce (:func:`heron.signals.outbox.enqueue`), and delivery sends them
afterwards with retries, so a notification is neither lost by a crash nor sent for a change
that was rolled back.

``channels`` holds each project's channels by name: the spec (JSON, without the secret)
and the secret (a webhook's ``whsec_`` secret or an apprise URL) encrypted with the server's
key (:mod:`heron.evals.secrets`), beside a hint of it for display. ``deliveries`` logs every
attempt to send (a notification's or a "send test"), per channel: when, the outcome, the
HTTP status or the error, how long it took."""

DDL = """
CREATE TABLE IF NOT EXISTS notifications (
    id VARCHAR NOT NULL PRIMARY KEY,
    project_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error VARCHAR,
    delivered_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS channels (
    id VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    secret VARCHAR,
    secret_hint VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id VARCHAR NOT NULL PRIMARY KEY,
    project_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    notification_id VARCHAR,
    event_type VARCHAR NOT NULL,
    title VARCHAR,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    outcome VARCHAR NOT NULL,
    status_code INTEGER,
    error VARCHAR,
    duration_ms DOUBLE NOT NULL
);
"""
