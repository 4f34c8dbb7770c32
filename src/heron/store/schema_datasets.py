"""Datasets, their versioned items, experiment runs and the items of a run (Langfuse's
shape); one migration of :mod:`heron.store.schema`.

- ``datasets``: a project's datasets, names unique per project (checked under the store's
  admin lock); ``input_schema`` / ``expected_output_schema`` are JSON Schemas (JSON text)
  every item write is validated against.
- ``dataset_items``: one row per version of an item. A write (create, upsert by id,
  archive) closes the current row (``valid_to`` = the write's time) and adds a row valid
  from then; a delete only closes it. The current items are those with ``valid_to`` NULL;
  the items as of a time ``t`` are those with ``valid_from <= t < valid_to``. An item's
  ``version`` is its row's ``valid_from``, which a run item records.
- ``dataset_runs``: experiment runs of a dataset (Langfuse "dataset runs"), names unique per
  dataset; ``experiment_id`` is the id an SDK gave the experiment (Langfuse v5 spans carry
  it), else the run's own id.
- ``dataset_run_items``: one row per (run, item): the trace (and optionally the
  observation) that produced the item's output, the item version it ran against, and the
  run item's own ``output`` when a client reported one beside the trace. Scores of an item
  in a run are the scores of that trace; run-level scores are scores with
  ``dataset_run_id``.
"""

DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    metadata JSON,
    input_schema JSON,
    expected_output_schema JSON,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_by_name ON datasets (project_id, name);
CREATE TABLE IF NOT EXISTS dataset_items (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    status VARCHAR NOT NULL,
    input JSON,
    expected_output JSON,
    metadata JSON,
    source_trace_id VARCHAR,
    source_observation_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    CHECK (status IN ('ACTIVE', 'ARCHIVED'))
);
CREATE INDEX IF NOT EXISTS dataset_items_by_dataset ON dataset_items (project_id, dataset_id);
CREATE INDEX IF NOT EXISTS dataset_items_id ON dataset_items (id);
CREATE INDEX IF NOT EXISTS dataset_items_source ON dataset_items (source_trace_id);
CREATE TABLE IF NOT EXISTS dataset_runs (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    metadata JSON,
    experiment_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS dataset_runs_by_dataset ON dataset_runs (project_id, dataset_id);
CREATE TABLE IF NOT EXISTS dataset_run_items (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    dataset_item_id VARCHAR NOT NULL,
    dataset_item_version TIMESTAMP,
    trace_id VARCHAR,
    observation_id VARCHAR,
    output JSON,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS dataset_run_items_by_run ON dataset_run_items (project_id, run_id);
CREATE INDEX IF NOT EXISTS dataset_run_items_trace ON dataset_run_items (trace_id);
CREATE INDEX IF NOT EXISTS scores_dataset_run ON scores (dataset_run_id);
"""
