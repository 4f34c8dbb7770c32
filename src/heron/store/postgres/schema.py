"""The control tables on PostgreSQL: the DuckDB schema's (:mod:`heron.store.schema` and its
``schema_*`` modules) columns, in the same order (some statements insert without a column
list), with PostgreSQL's types.

Types: ``VARCHAR`` is ``TEXT``, ``DOUBLE`` is ``DOUBLE PRECISION``, ``VARCHAR[]`` is
``TEXT[]``, ``JSON`` stays ``JSON``: checked, but kept as sent (``JSONB`` would reorder an
object's keys, so a dataset item's input would come back unlike DuckDB's; read back as
text, see :mod:`.connect`). Times stay
``TIMESTAMP`` (naive UTC, as heron writes and reads them; sessions run in UTC), so values
read back equal DuckDB's.

Events (traces, observations, scores, signals, comments, dataset run items, score changes)
live in ClickHouse (:mod:`heron.store.clickhouse`) and have no table here.

Unlike DuckDB's, tables whose rows have a unique random id get it as primary key, and names
documented as unique per project (datasets, annotation queues) get a unique constraint: with
several replicas there is no process-wide admin lock to keep a check-then-insert honest, so
the database refuses the second of two racing writes.
"""

from __future__ import annotations

CONTROL_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    retention_days INTEGER
);

CREATE TABLE api_keys (
    public_key TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    secret_hint TEXT NOT NULL,
    project_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    scope TEXT DEFAULT 'full'
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE model_prices (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    entry JSON NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);
CREATE INDEX memberships_project ON memberships (project_id);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE saved_views (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE dashboards (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    spec JSON NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE feedback_settings (
    project_id TEXT PRIMARY KEY,
    allowed_origins TEXT[] NOT NULL,
    allowed_names TEXT[] NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE implicit_settings (
    project_id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE score_configs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    is_archived BOOLEAN NOT NULL,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    categories JSON,
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE runner_cursors (
    task TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE runner_work (
    task TEXT NOT NULL,
    project_id TEXT NOT NULL,
    target TEXT NOT NULL,
    version TEXT NOT NULL,
    outputs TEXT[] NOT NULL,
    done_at TIMESTAMP NOT NULL,
    PRIMARY KEY (task, project_id, target)
);
CREATE TABLE runner_due (
    task TEXT NOT NULL,
    project_id TEXT NOT NULL,
    target TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    PRIMARY KEY (task, project_id, target)
);
CREATE INDEX runner_due_at ON runner_due (due_at);
CREATE TABLE runner_jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    spec JSON NOT NULL,
    status TEXT NOT NULL,
    done BIGINT NOT NULL,
    total BIGINT,
    phase INTEGER NOT NULL,
    after TEXT,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE TABLE evaluators (
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE TABLE evaluator_versions (
    project_id TEXT NOT NULL,
    evaluator_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, evaluator_id, version)
);
CREATE TABLE evaluator_stats (
    project_id TEXT NOT NULL,
    evaluator_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    scored BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    last_run_at TIMESTAMP NOT NULL,
    last_error TEXT,
    PRIMARY KEY (project_id, evaluator_id, version)
);
CREATE TABLE evaluator_log (
    project_id TEXT NOT NULL,
    evaluator_id TEXT NOT NULL,
    logged_at TIMESTAMP NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    target TEXT
);
CREATE INDEX evaluator_log_by_evaluator ON evaluator_log (project_id, evaluator_id, logged_at);
CREATE TABLE llm_connections (
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    api_key TEXT,
    api_key_hint TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE TABLE evaluator_alignments (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    evaluator_id TEXT,
    evaluator_name TEXT NOT NULL,
    version INTEGER,
    spec JSON NOT NULL,
    score_name TEXT NOT NULL,
    positive JSON NOT NULL,
    source TEXT NOT NULL,
    labelled BIGINT NOT NULL,
    sampled BIGINT NOT NULL,
    job_id TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE TABLE evaluator_alignment_items (
    project_id TEXT NOT NULL,
    alignment_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    human BOOLEAN NOT NULL,
    predicted BOOLEAN,
    value TEXT,
    reasoning TEXT,
    error TEXT,
    judge_trace_id TEXT,
    PRIMARY KEY (project_id, alignment_id, trace_id)
);

CREATE TABLE signal_rules (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE issues (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    name TEXT,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    ignore_until_count BIGINT,
    ignore_until TIMESTAMP,
    status_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE alerts (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE alert_states (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    evaluated_at TIMESTAMP NOT NULL,
    value DOUBLE PRECISION,
    notified_at TIMESTAMP,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE alert_evaluations (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    eval_time TIMESTAMP NOT NULL,
    window_start TIMESTAMP NOT NULL,
    value DOUBLE PRECISION,
    lower DOUBLE PRECISION,
    upper DOUBLE PRECISION,
    state TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (project_id, name, eval_time)
);

CREATE TABLE notifications (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    delivered_at TIMESTAMP
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE TABLE channels (
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    secret TEXT,
    secret_hint TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE TABLE deliveries (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    notification_id TEXT,
    event_type TEXT NOT NULL,
    title TEXT,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms DOUBLE PRECISION NOT NULL
);
CREATE INDEX deliveries_by_channel ON deliveries (project_id, channel, attempted_at);

CREATE TABLE annotation_queues (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    score_config_ids TEXT NOT NULL,
    annotations_per_item INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE TABLE annotation_queue_items (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    status TEXT NOT NULL,
    position BIGINT NOT NULL,
    lease_user_id TEXT,
    lease_until TIMESTAMP,
    completed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX annotation_items_by_queue ON annotation_queue_items (project_id, queue_id);
CREATE TABLE annotation_queue_annotations (
    project_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    completed_at TIMESTAMP NOT NULL
);
CREATE INDEX annotation_annotations_by_item ON annotation_queue_annotations (project_id, item_id);
CREATE TABLE annotation_queue_assignments (
    project_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE error_analyses (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    score_name TEXT,
    from_time TIMESTAMP,
    to_time TIMESTAMP,
    filter TEXT,
    method TEXT NOT NULL,
    warnings TEXT,
    note_count INTEGER NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    config_id TEXT,
    PRIMARY KEY (project_id, id)
);
CREATE TABLE error_analysis_categories (
    project_id TEXT NOT NULL,
    analysis_id TEXT NOT NULL,
    id TEXT NOT NULL,
    label TEXT NOT NULL,
    keywords TEXT NOT NULL,
    suggested_label TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX error_analysis_categories_by_analysis
    ON error_analysis_categories (project_id, analysis_id);
CREATE TABLE error_analysis_notes (
    project_id TEXT NOT NULL,
    analysis_id TEXT NOT NULL,
    note_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    content TEXT NOT NULL,
    category_id TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX error_analysis_notes_by_analysis ON error_analysis_notes (project_id, analysis_id);

CREATE TABLE datasets (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    metadata JSON,
    input_schema JSON,
    expected_output_schema JSON,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX datasets_by_name ON datasets (project_id, name);
CREATE TABLE dataset_items (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    status TEXT NOT NULL,
    input JSON,
    expected_output JSON,
    metadata JSON,
    source_trace_id TEXT,
    source_observation_id TEXT,
    created_at TIMESTAMP NOT NULL,
    CHECK (status IN ('ACTIVE', 'ARCHIVED'))
);
CREATE INDEX dataset_items_by_dataset ON dataset_items (project_id, dataset_id);
CREATE INDEX dataset_items_id ON dataset_items (id);
CREATE INDEX dataset_items_source ON dataset_items (source_trace_id);
CREATE TABLE dataset_runs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    metadata JSON,
    experiment_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX dataset_runs_by_dataset ON dataset_runs (project_id, dataset_id);
"""

#: Every control table (what a test or a reset may list).
CONTROL_TABLES: tuple[str, ...] = tuple(
    line.split()[2] for line in CONTROL_V1.splitlines() if line.startswith("CREATE TABLE ")
)
