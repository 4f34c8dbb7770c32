"""Tables of notification channels, the notification outbox and the delivery log
(:mod:`heron.signals`); one migration of :mod:`heron.store.schema`.

``notifications`` is the outbox: a rule or an alert adds rows in the same transaction as
the change they announce (:func:`heron.signals.outbox.enqueue`), and delivery sends them
afterwards with retries, so a notification is neither lost by a crash nor sent for a change
that was rolled back."""

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
"""
