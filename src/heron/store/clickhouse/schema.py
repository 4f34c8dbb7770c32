"""The ClickHouse events tables, as versioned migrations (applied by ``migrations.migrate``).

Every table is a ReplacingMergeTree whose sorting key is the row's identity, starting with
``project_id``: a span re-sent, or the same span written through two replicas, is one key,
and background merges keep only its highest ``row_version`` (the writer's clock in µs).
Merges happen whenever ClickHouse likes, so every read says ``FINAL``: answers are exact
before the merge as after. Nothing mutable is in a sorting key (a span's start time can
change when a later version brings the real one), otherwise two versions would be two keys.

A trace row holds what the trace itself carries (name, user, session, tags, metadata,
input, output...), its own time, and (migration 2) its aggregates over its spans: start and
end, latency, cost, tokens, counts, highest level, models, root span, as DuckDB's trace rows
hold them. The writer recomputes them from the trace's spans at every batch touching the
trace (:mod:`heron.store.clickhouse.writes`, which says when they are exact), so trace reads
and trace metrics read one row per trace instead of regrouping the spans. Times are
``DateTime64(6, 'UTC')``; JSON (metadata, model parameters) is text.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


# A trace's aggregates over its spans (start_time: its own time when it has none).
_AGGREGATES = (
    "start_time Nullable(DateTime64(6, 'UTC'))",
    "end_time Nullable(DateTime64(6, 'UTC'))",
    "latency_ms Nullable(Float64)",
    "total_cost Nullable(Float64)",
    "input_tokens Nullable(Int64)",
    "output_tokens Nullable(Int64)",
    "total_tokens Nullable(Int64)",
    "observation_count UInt64",
    "error_count UInt64",
    "level LowCardinality(String) DEFAULT 'DEFAULT'",
    "models Array(String)",
    "root_observation_id Nullable(String)",
)

_LEVELS = "['DEBUG', 'DEFAULT', 'WARNING', 'ERROR']"  # by heron.model.LEVEL_RANK
_RANK = "multiIf(level = 'DEBUG', 0, level = 'WARNING', 2, level = 'ERROR', 3, 1)"
# Per trace of the observations read (FINAL, filtered by the caller): the raw aggregates, as
# ``trace_id, min_start, max_end, cost, tokens_in, tokens_out, tokens, n, errors, top_level,
# model_names, root`` (times as DateTime64). The writer and the backfill finish them alike.
SPAN_AGGREGATES = (
    "min(start_time) AS min_start, max(end_time) AS max_end, sum(total_cost) AS cost, "
    "sum(input_tokens) AS tokens_in, sum(output_tokens) AS tokens_out, "
    "sum(total_tokens) AS tokens, count() AS n, countIf(level = 'ERROR') AS errors, "
    f"arrayElement({_LEVELS}, max({_RANK}) + 1) AS top_level, "
    "arraySort(groupUniqArrayIf(assumeNotNull(model), model IS NOT NULL AND model != '')) "
    "AS model_names, if(countIf(parent_id IS NULL) > 0, "
    "argMinIf(id, start_time, parent_id IS NULL), NULL) AS root"
)

# Existing traces (a database of migration 1) get their aggregates: a new version of every
# trace row, computed as the writer computes them. Replicas migrate under a lock before
# serving; every replica must run this version (a writer of migration 1 would store trace
# rows without aggregates, hidden from reads until the trace's next write).
BACKFILL_TRACE_AGGREGATES = f"""
INSERT INTO traces (project_id, id, name, user_id, session_id, release, version, environment,
    tags, metadata, input, output, input_preview, public, explicit, own_time, updated_at,
    row_version, start_time, end_time, latency_ms, total_cost, input_tokens, output_tokens,
    total_tokens, observation_count, error_count, level, models, root_observation_id)
SELECT t.project_id, t.id, t.name, t.user_id, t.session_id, t.release, t.version,
    t.environment, t.tags, t.metadata, t.input, t.output, t.input_preview, t.public,
    t.explicit, t.own_time, t.updated_at, t.row_version + 1,
    coalesce(a.min_start, t.own_time),
    if(a.max_end < a.min_start, a.min_start, a.max_end),
    (toUnixTimestamp64Micro(greatest(a.max_end, a.min_start))
        - toUnixTimestamp64Micro(a.min_start)) / 1000,
    a.cost, a.tokens_in, a.tokens_out, a.tokens, coalesce(a.n, 0), coalesce(a.errors, 0),
    coalesce(a.top_level, 'DEFAULT'), a.model_names, a.root
FROM traces AS t FINAL
LEFT JOIN (
    SELECT project_id, trace_id, {SPAN_AGGREGATES}
    FROM observations FINAL GROUP BY project_id, trace_id
) AS a ON a.project_id = t.project_id AND a.trace_id = t.id
SETTINGS join_use_nulls = 1
"""

# Which trace ran a dataset item in an experiment run: one row per (run, item), keyed so
# (a run item sent again, or written through another replica, is a newer version of it);
# a deleted run's items get a newer version with ``is_deleted`` (see
# :mod:`heron.store.clickhouse.dataset_run_items`).
DATASET_RUN_ITEMS = """
CREATE TABLE IF NOT EXISTS dataset_run_items (
    project_id String,
    run_id String,
    dataset_item_id String,
    id String,
    dataset_item_version Nullable(DateTime64(6, 'UTC')),
    trace_id Nullable(String),
    observation_id Nullable(String),
    output Nullable(String),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    is_deleted UInt8 DEFAULT 0,
    row_version UInt64,
    INDEX by_trace trace_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(row_version)
ORDER BY (project_id, run_id, dataset_item_id)
"""

# Retention by ClickHouse's TTL (see heron.store.clickhouse.retention): each events table gets
# the days its project keeps it (0: forever), and a TTL that drops a row once it is older than
# that by its own time. ALTERs, so they compose with migrations re-creating the tables. The
# TTL is not materialised on the parts existing then (a rewrite of every part, to drop
# nothing: all rows are 0 until a retention sync rewrites theirs, which applies the TTL).
RETENTION_TTL = {
    "observations": "start_time",
    "traces": "ifNull(start_time, updated_at)",
    "scores": "timestamp",
    "signals": "time",  # migration 8: the time of what matched (its trace, span or score)
}


def _retention(tables: tuple[str, ...]) -> tuple[str, ...]:
    """The statements giving these tables their ``retention_days`` column and TTL."""
    return tuple(
        statement
        for table in tables
        for statement in (
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 0",
            f"ALTER TABLE {table} MODIFY TTL toDateTime({RETENTION_TTL[table]}) "
            "+ toIntervalDay(retention_days) WHERE retention_days > 0 "
            "SETTINGS materialize_ttl_after_modify = 0",
        )
    )


# Reads that are not by a table's sorting key (a trace's scores, a session's traces) skip the
# granules these indexes rule out. With FINAL, ClickHouse uses skip indexes only where it can
# keep the answer exact (``use_skip_indexes_if_final`` with its exact mode, the default since
# 25.x: the ranges of every other version of a matched key are read too); older servers
# ignore them under FINAL. No time index: rows are sorted by identity (a random id), so every
# granule spans the whole time range and a min/max of ``start_time`` would skip nothing, and
# a time-ordered key or partition would put the versions of a span whose start changes in
# two places (see docs/scale-out.md, "Why the events tables are not ordered by time").
SKIP_INDEXES = (
    "ALTER TABLE scores ADD INDEX IF NOT EXISTS scores_trace_id trace_id "
    "TYPE bloom_filter(0.01) GRANULARITY 1",
    "ALTER TABLE traces ADD INDEX IF NOT EXISTS traces_session_id session_id "
    "TYPE bloom_filter(0.01) GRANULARITY 1",
    "ALTER TABLE scores MATERIALIZE INDEX scores_trace_id SETTINGS mutations_sync = 2",
    "ALTER TABLE traces MATERIALIZE INDEX traces_session_id SETTINGS mutations_sync = 2",
)
# Columns that metrics group or filter by and that hold few distinct values, stored as
# dictionaries (the values are unchanged; modifying a column to the type it has is a no-op).
LOW_CARDINALITY = (
    "ALTER TABLE traces MODIFY COLUMN name LowCardinality(Nullable(String)), "
    "MODIFY COLUMN environment LowCardinality(Nullable(String)) SETTINGS mutations_sync = 2",
    "ALTER TABLE observations MODIFY COLUMN model LowCardinality(Nullable(String)) "
    "SETTINGS mutations_sync = 2",
    "ALTER TABLE scores MODIFY COLUMN name LowCardinality(String) SETTINGS mutations_sync = 2",
)

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
    Migration(
        2,
        "trace aggregates stored on the trace rows",
        (
            f"ALTER TABLE traces {', '.join(f'ADD COLUMN IF NOT EXISTS {c}' for c in _AGGREGATES)}",
            BACKFILL_TRACE_AGGREGATES,
        ),
    ),
    Migration(
        3,
        "skip indexes for the reads not by sorting key; low-cardinality columns",
        SKIP_INDEXES + LOW_CARDINALITY,
    ),
    Migration(
        4,
        "signals: one row per rule match (issues are control data, on PostgreSQL)",
        (
            """
            CREATE TABLE IF NOT EXISTS signals (
                project_id String,
                id String,
                rule String,
                severity LowCardinality(String),
                trace_id String,
                observation_id Nullable(String),
                score_id Nullable(String),
                time DateTime64(6, 'UTC'),
                created_at DateTime64(6, 'UTC'),
                message String,
                issue_id String,
                user_id Nullable(String),
                session_id Nullable(String),
                row_version UInt64
            )
            ENGINE = ReplacingMergeTree(row_version)
            ORDER BY (project_id, id)
            """,
        ),
    ),
    Migration(
        5,
        "comments on traces, observations and sessions",
        (
            """
            CREATE TABLE IF NOT EXISTS comments (
                project_id String,
                id String,
                object_type LowCardinality(String),
                object_id String,
                trace_id Nullable(String),
                content String,
                author_user_id Nullable(String),
                created_at DateTime64(6, 'UTC'),
                updated_at DateTime64(6, 'UTC'),
                is_deleted UInt8,
                row_version UInt64
            )
            ENGINE = ReplacingMergeTree(row_version)
            ORDER BY (project_id, id)
            """,
        ),
    ),
    Migration(
        6,
        "dataset run items (the runs themselves are in PostgreSQL)",
        (DATASET_RUN_ITEMS,),
    ),
    Migration(
        7,
        "retention by TTL: retention_days on the events tables",
        _retention(("observations", "traces", "scores")),
    ),
    Migration(8, "retention by TTL on signals too", _retention(("signals",))),
)
