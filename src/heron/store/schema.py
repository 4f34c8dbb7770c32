"""DuckDB schema. Each migration runs once, in order; ``meta.schema_version`` records progress."""

from __future__ import annotations

import duckdb

from heron.store import (
    schema_alerts,
    schema_alignment,
    schema_analysis,
    schema_annotation,
    schema_channels,
    schema_comments,
    schema_datasets,
    schema_signals,
)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);

    CREATE TABLE projects (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL
    );

    CREATE TABLE api_keys (
        public_key VARCHAR PRIMARY KEY,
        secret_hash VARCHAR NOT NULL UNIQUE,
        secret_hint VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    );

    CREATE TABLE observations (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        trace_id VARCHAR NOT NULL,
        parent_id VARCHAR,
        type VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        start_time TIMESTAMP NOT NULL,
        end_time TIMESTAMP,
        completion_start_time TIMESTAMP,
        model VARCHAR,
        model_parameters JSON,
        input VARCHAR,
        output VARCHAR,
        metadata JSON,
        level VARCHAR NOT NULL,
        status_message VARCHAR,
        usage MAP(VARCHAR, BIGINT),
        cost MAP(VARCHAR, DOUBLE),
        cost_source VARCHAR,
        input_tokens BIGINT,
        output_tokens BIGINT,
        total_tokens BIGINT,
        total_cost DOUBLE,
        prompt_name VARCHAR,
        prompt_version INTEGER,
        updated_at TIMESTAMP NOT NULL
    );
    CREATE INDEX observations_trace_id ON observations (trace_id);

    CREATE TABLE traces (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        name VARCHAR,
        user_id VARCHAR,
        session_id VARCHAR,
        release VARCHAR,
        version VARCHAR,
        environment VARCHAR,
        tags VARCHAR[],
        metadata JSON,
        input VARCHAR,
        output VARCHAR,
        public BOOLEAN,
        start_time TIMESTAMP NOT NULL,
        end_time TIMESTAMP,
        latency_ms DOUBLE,
        total_cost DOUBLE,
        input_tokens BIGINT,
        output_tokens BIGINT,
        total_tokens BIGINT,
        observation_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        level VARCHAR NOT NULL,
        models VARCHAR[],
        root_observation_id VARCHAR,
        explicit VARCHAR[],
        updated_at TIMESTAMP NOT NULL
    );
    CREATE INDEX traces_id ON traces (id);

    CREATE TABLE scores (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        trace_id VARCHAR,
        observation_id VARCHAR,
        session_id VARCHAR,
        name VARCHAR NOT NULL,
        value DOUBLE,
        string_value VARCHAR,
        data_type VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        comment VARCHAR,
        author VARCHAR,
        timestamp TIMESTAMP NOT NULL,
        metadata JSON,
        CHECK (data_type IN ('NUMERIC', 'BOOLEAN', 'CATEGORICAL', 'TEXT'))
    );
    CREATE INDEX scores_trace_id ON scores (trace_id);

    CREATE TABLE model_prices (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        entry JSON NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, id)
    );
    """,
    """
    ALTER TABLE scores ADD COLUMN environment VARCHAR;
    """,
    """
    CREATE TABLE users (
        id VARCHAR PRIMARY KEY,
        email VARCHAR NOT NULL UNIQUE,
        password_hash VARCHAR NOT NULL,
        is_admin BOOLEAN NOT NULL,
        created_at TIMESTAMP NOT NULL
    );

    CREATE TABLE memberships (
        user_id VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        PRIMARY KEY (user_id, project_id)
    );

    CREATE TABLE web_sessions (
        token_hash VARCHAR PRIMARY KEY,
        user_id VARCHAR NOT NULL,
        csrf_token VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL
    );

    CREATE TABLE login_tokens (
        token_hash VARCHAR PRIMARY KEY,
        user_id VARCHAR NOT NULL,
        expires_at TIMESTAMP NOT NULL
    );
    """,
    """
    ALTER TABLE traces ADD COLUMN input_preview VARCHAR;
    UPDATE traces SET input_preview = left(input, 200) WHERE input IS NOT NULL;
    """,
    """
    CREATE TABLE IF NOT EXISTS saved_views (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        query VARCHAR NOT NULL,
        created_by VARCHAR,
        created_at TIMESTAMP NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS dashboards (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        spec JSON NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, id)
    );
    """,
    # Scalar trace attributes copied onto observations, so that grouping or filtering
    # observations by them reads no join (see heron.store.writes). Tags stay on traces only:
    # a list column is rewritten row by row, too slow to keep in step.
    """
    ALTER TABLE observations ADD COLUMN trace_name VARCHAR;
    ALTER TABLE observations ADD COLUMN user_id VARCHAR;
    ALTER TABLE observations ADD COLUMN session_id VARCHAR;
    ALTER TABLE observations ADD COLUMN release VARCHAR;
    ALTER TABLE observations ADD COLUMN version VARCHAR;
    ALTER TABLE observations ADD COLUMN environment VARCHAR;
    UPDATE observations SET trace_name = t.name, user_id = t.user_id,
        session_id = t.session_id, release = t.release, version = t.version,
        environment = t.environment
    FROM traces t WHERE t.project_id = observations.project_id AND t.id = observations.trace_id;
    """,
    # Least privilege and retention: a key's scope (ingest, read or full; existing keys keep
    # full) and a project's retention in days (NULL keeps its traces forever).
    """
    ALTER TABLE api_keys ADD COLUMN scope VARCHAR DEFAULT 'full';
    UPDATE api_keys SET scope = 'full' WHERE scope IS NULL;
    ALTER TABLE projects ADD COLUMN retention_days INTEGER;
    """,
    # Settings: one-time invitation links (token digests) with the role they grant. Server
    # admins' memberships said 'admin'; they act as owner anyway (see heron.roles).
    """
    CREATE TABLE IF NOT EXISTS invitations (
        token_hash VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        created_by VARCHAR,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL
    );
    """,
    # Browser feedback per project: the origins whose pages may send scores with the public
    # key alone, and the score names that key may write (empty: any).
    """
    CREATE TABLE IF NOT EXISTS feedback_settings (
        project_id VARCHAR PRIMARY KEY,
        allowed_origins VARCHAR[] NOT NULL,
        allowed_names VARCHAR[] NOT NULL,
        updated_at TIMESTAMP NOT NULL
    );
    """,
    # Score reads and configs (Langfuse's shapes): a score's config, annotation queue and
    # dataset run, when it was first stored and last replaced; the project's score configs.
    """
    ALTER TABLE scores ADD COLUMN IF NOT EXISTS config_id VARCHAR;
    ALTER TABLE scores ADD COLUMN IF NOT EXISTS queue_id VARCHAR;
    ALTER TABLE scores ADD COLUMN IF NOT EXISTS dataset_run_id VARCHAR;
    ALTER TABLE scores ADD COLUMN IF NOT EXISTS created_at TIMESTAMP;
    ALTER TABLE scores ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP;
    UPDATE scores SET created_at = timestamp, updated_at = timestamp WHERE created_at IS NULL;
    CREATE TABLE IF NOT EXISTS score_configs (
        project_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        data_type VARCHAR NOT NULL,
        is_archived BOOLEAN NOT NULL,
        min_value DOUBLE,
        max_value DOUBLE,
        categories JSON,
        description VARCHAR,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, id)
    );
    """,
    # The background runner (heron.runner): traces.change_seq is the store's change marker
    # (one number per committed batch, increasing, kept in meta 'change_seq'), exact whatever
    # timestamps the spans carry; traces stored before it count as change 0. The runner's
    # cursors, the outputs each (task, target) produced, due re-checks and backfill jobs.
    # runner_work and runner_due have no primary key: a chunk replaces its rows with one
    # delete and one insert of an Arrow table, several times faster than upserts through
    # the key's index; (task, project_id, target) is unique because only that path writes.
    """
    ALTER TABLE traces ADD COLUMN change_seq BIGINT;
    UPDATE traces SET change_seq = 0;
    CREATE TABLE IF NOT EXISTS runner_cursors (
        task VARCHAR PRIMARY KEY,
        position BIGINT NOT NULL,
        updated_at TIMESTAMP NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runner_work (
        task VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        outputs VARCHAR[] NOT NULL,
        done_at TIMESTAMP NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runner_due (
        task VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        due_at TIMESTAMP NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runner_jobs (
        id VARCHAR PRIMARY KEY,
        project_id VARCHAR NOT NULL,
        spec JSON NOT NULL,
        status VARCHAR NOT NULL,
        done BIGINT NOT NULL,
        total BIGINT,
        phase INTEGER NOT NULL,
        after VARCHAR,
        error VARCHAR,
        created_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    );
    """,
    # Implicit-feedback detector settings per project (heron.implicit.FeedbackConfig as
    # JSON); a project without a row uses the defaults.
    """
    CREATE TABLE IF NOT EXISTS implicit_settings (
        project_id VARCHAR PRIMARY KEY,
        settings VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL
    );
    """,
    # Automated evaluators (heron.evals): each evaluator's current spec and version, every
    # version's spec, run counts per version and a short run log; LLM connections with
    # their API key encrypted (heron.evals.secrets).
    """
    CREATE TABLE IF NOT EXISTS evaluators (
        id VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        spec VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        status_reason VARCHAR,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, id),
        UNIQUE (project_id, name)
    );
    CREATE TABLE IF NOT EXISTS evaluator_versions (
        project_id VARCHAR NOT NULL,
        evaluator_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        spec VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, evaluator_id, version)
    );
    CREATE TABLE IF NOT EXISTS evaluator_stats (
        project_id VARCHAR NOT NULL,
        evaluator_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        scored BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        cost DOUBLE NOT NULL,
        last_run_at TIMESTAMP NOT NULL,
        last_error VARCHAR,
        PRIMARY KEY (project_id, evaluator_id, version)
    );
    CREATE TABLE IF NOT EXISTS evaluator_log (
        project_id VARCHAR NOT NULL,
        evaluator_id VARCHAR NOT NULL,
        logged_at TIMESTAMP NOT NULL,
        level VARCHAR NOT NULL,
        message VARCHAR NOT NULL,
        target VARCHAR
    );
    CREATE TABLE IF NOT EXISTS llm_connections (
        id VARCHAR NOT NULL,
        project_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        spec VARCHAR NOT NULL,
        api_key VARCHAR,
        api_key_hint VARCHAR,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (project_id, id),
        UNIQUE (project_id, name)
    );
    """,
    # Signal detection (heron.signals): rules, signals and issues; alerts and their
    # evaluations; notification channels, the outbox and the delivery log.
    schema_signals.DDL,
    schema_alerts.DDL,
    schema_channels.DDL,
    schema_comments.DDL,
    schema_annotation.DDL,
    schema_analysis.DDL,
    schema_alignment.DDL,
    # Datasets and experiments (heron.datasets).
    schema_datasets.DDL,
)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema up to date; return the resulting version."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    version = 0
    if exists and exists[0]:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    for number, ddl in enumerate(MIGRATIONS[version:], start=version + 1):
        con.execute("BEGIN")
        try:
            con.execute(ddl)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(number)])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = number
    return version
