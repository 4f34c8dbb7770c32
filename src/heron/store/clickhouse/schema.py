"""The ClickHouse events tables, as versioned migrations (applied by ``migrations.migrate``).

Every table is a ReplacingMergeTree whose sorting key is the row's identity, starting with
``project_id``: a span re-sent, or the same span written through two replicas, is one key,
and background merges keep only its highest ``row_version`` (the writer's clock in µs).
Merges happen whenever ClickHouse likes, so every read says ``FINAL``: answers are exact
before the merge as after. Nothing mutable is in a sorting key (a span's start time can
change when a later version brings the real one), otherwise two versions would be two keys.

Trace rows hold only what the trace itself carries (name, user, session, tags, metadata,
input, output...) and its own time; the aggregates (time span, latency, cost, tokens,
counts, highest level, models, root) are computed from the observations when read, so no
interleaving of writers can leave them stale (see ``heron.store.clickhouse.reads``).
Times are ``DateTime64(6, 'UTC')``; JSON (metadata, model parameters) is text.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events tables: observations, traces, scores",
        (
            """
            CREATE TABLE IF NOT EXISTS observations (
                project_id String,
                id String,
                trace_id String,
                parent_id Nullable(String),
                type LowCardinality(String),
                name String,
                start_time DateTime64(6, 'UTC'),
                end_time Nullable(DateTime64(6, 'UTC')),
                completion_start_time Nullable(DateTime64(6, 'UTC')),
                model Nullable(String),
                model_parameters Nullable(String),
                input Nullable(String),
                output Nullable(String),
                metadata Nullable(String),
                level LowCardinality(String),
                status_message Nullable(String),
                usage Map(String, Int64),
                cost Map(String, Float64),
                cost_source Nullable(String),
                input_tokens Nullable(Int64),
                output_tokens Nullable(Int64),
                total_tokens Nullable(Int64),
                total_cost Nullable(Float64),
                prompt_name Nullable(String),
                prompt_version Nullable(Int32),
                updated_at DateTime64(6, 'UTC'),
                row_version UInt64
            )
            ENGINE = ReplacingMergeTree(row_version)
            ORDER BY (project_id, trace_id, id)
            """,
            """
            CREATE TABLE IF NOT EXISTS traces (
                project_id String,
                id String,
                name Nullable(String),
                user_id Nullable(String),
                session_id Nullable(String),
                release Nullable(String),
                version Nullable(String),
                environment Nullable(String),
                tags Array(String),
                metadata Nullable(String),
                input Nullable(String),
                output Nullable(String),
                input_preview Nullable(String),
                public Nullable(Bool),
                explicit Array(String),
                own_time Nullable(DateTime64(6, 'UTC')),
                updated_at DateTime64(6, 'UTC'),
                row_version UInt64
            )
            ENGINE = ReplacingMergeTree(row_version)
            ORDER BY (project_id, id)
            """,
            """
            CREATE TABLE IF NOT EXISTS scores (
                project_id String,
                id String,
                trace_id Nullable(String),
                observation_id Nullable(String),
                session_id Nullable(String),
                name String,
                value Nullable(Float64),
                string_value Nullable(String),
                data_type LowCardinality(String),
                source LowCardinality(String),
                comment Nullable(String),
                author Nullable(String),
                timestamp DateTime64(6, 'UTC'),
                metadata Nullable(String),
                environment Nullable(String),
                config_id Nullable(String),
                queue_id Nullable(String),
                dataset_run_id Nullable(String),
                created_at DateTime64(6, 'UTC'),
                updated_at DateTime64(6, 'UTC'),
                row_version UInt64
            )
            ENGINE = ReplacingMergeTree(row_version)
            ORDER BY (project_id, id)
            """,
        ),
    ),
)
