"""Alignment runs of evaluators against people's labels (:mod:`heron.evals.alignment`); one
migration of :mod:`heron.store.schema`.

``evaluator_alignments``: one run, for an evaluator version (``evaluator_id`` NULL: a draft
run on its own), the labels it was compared with (``score_name``, ``positive``, ``source``)
and the runner job that ran it. ``evaluator_alignment_items``: one labelled trace of a run,
the person's label (``human``) and what the evaluator said (``predicted``, NULL when it
failed on the trace, then ``error``).
"""

DDL = """
CREATE TABLE IF NOT EXISTS evaluator_alignments (
    project_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    evaluator_id VARCHAR,
    evaluator_name VARCHAR NOT NULL,
    version INTEGER,
    spec JSON NOT NULL,
    score_name VARCHAR NOT NULL,
    positive JSON NOT NULL,
    source VARCHAR NOT NULL,
    labelled BIGINT NOT NULL,
    sampled BIGINT NOT NULL,
    job_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE TABLE IF NOT EXISTS evaluator_alignment_items (
    project_id VARCHAR NOT NULL,
    alignment_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    human BOOLEAN NOT NULL,
    predicted BOOLEAN,
    value VARCHAR,
    reasoning VARCHAR,
    error VARCHAR,
    judge_trace_id VARCHAR,
    PRIMARY KEY (project_id, alignment_id, trace_id)
);
"""
