"""Error analyses (:mod:`heron.analysis`): one run over a project's notes, its categories and
which note is in which category; one migration of :mod:`heron.store.schema`.

A note is copied into the analysis (``content``, cut to 2,000 characters) so that editing and
accepting never depend on the comment or score still being there.
"""

DDL = """
CREATE TABLE IF NOT EXISTS error_analyses (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    score_name VARCHAR,
    from_time TIMESTAMP,
    to_time TIMESTAMP,
    filter VARCHAR,
    method VARCHAR NOT NULL,
    warnings VARCHAR,
    note_count INTEGER NOT NULL,
    created_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    config_id VARCHAR
);
CREATE TABLE IF NOT EXISTS error_analysis_categories (
    project_id VARCHAR NOT NULL,
    analysis_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    keywords VARCHAR NOT NULL,
    suggested_label VARCHAR,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS error_analysis_notes (
    project_id VARCHAR NOT NULL,
    analysis_id VARCHAR NOT NULL,
    note_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    category_id VARCHAR NOT NULL,
    position INTEGER NOT NULL
);
"""
