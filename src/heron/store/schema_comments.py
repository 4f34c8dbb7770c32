"""Comments on traces, observations and sessions (Langfuse's shape); one migration of
:mod:`heron.store.schema`.

``trace_id`` is the trace a comment belongs to when there is one (the object itself for a
TRACE, the observation's trace for an OBSERVATION), so notes can be read per trace by error
analysis and removed with their trace. Ids are random (``heron.store.comments``); the index
on ``id`` serves reads by id, the one on ``trace_id`` the deletion of a trace.
"""

DDL = """
CREATE TABLE IF NOT EXISTS comments (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    object_type VARCHAR NOT NULL,
    object_id VARCHAR NOT NULL,
    trace_id VARCHAR,
    content VARCHAR NOT NULL,
    author_user_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_object ON comments (project_id, object_type, object_id);
CREATE INDEX IF NOT EXISTS comments_id ON comments (id);
CREATE INDEX IF NOT EXISTS comments_trace_id ON comments (trace_id);
"""
