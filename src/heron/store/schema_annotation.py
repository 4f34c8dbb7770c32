"""Annotation queues, their items, who annotated what, and assignments (Langfuse's shape,
heron's leases); one migration of :mod:`heron.store.schema`.

- ``annotation_queues``: a project's queues; ``score_config_ids`` is a JSON list of score
  config ids; ``annotations_per_item`` is how many distinct people must annotate an item
  before it is COMPLETED (1, or 2 for double annotation). Names are unique per project
  (checked by :mod:`heron.store.annotation` under the store's admin lock).
- ``annotation_queue_items``: the objects to annotate (TRACE, OBSERVATION or SESSION), at
  most once per queue; ``lease_user_id``/``lease_until`` is the one annotator holding the
  item until then; ``position`` orders the items (the order they were added, which a fill
  may have ranked).
- ``annotation_queue_annotations``: one row per (item, user) who completed it.
- ``annotation_queue_assignments``: the project members who may annotate a queue.
"""

DDL = """
CREATE TABLE IF NOT EXISTS annotation_queues (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    score_config_ids VARCHAR NOT NULL,
    annotations_per_item INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_queue_items (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    queue_id VARCHAR NOT NULL,
    object_type VARCHAR NOT NULL,
    object_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    lease_user_id VARCHAR,
    lease_until TIMESTAMP,
    completed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_items_by_queue
    ON annotation_queue_items (project_id, queue_id);
CREATE TABLE IF NOT EXISTS annotation_queue_annotations (
    project_id VARCHAR NOT NULL,
    queue_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    completed_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_queue_assignments (
    project_id VARCHAR NOT NULL,
    queue_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
"""
