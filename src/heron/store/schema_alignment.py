"""Alignment runs of evaluators against people's labels (placeholder: the owner of
:mod:`heron.evals.alignment` rewrites this DDL); one migration of :mod:`heron.store.schema`."""

DDL = """
CREATE TABLE IF NOT EXISTS evaluator_alignments (project_id VARCHAR NOT NULL, id VARCHAR NOT NULL);
"""
