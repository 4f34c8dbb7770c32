"""PostgreSQL migration of dataset runs (:mod:`.dataset_runs`): one run of a name per dataset.

Dataset run writes are serialised per project by an advisory lock; this index makes the
database refuse a second run of one name in a dataset anyway. Runs of experiments on local
data (dataset id ``''``) are found by their id only and may share a name, as on DuckDB.
"""

DATASET_RUNS_V1 = """
CREATE UNIQUE INDEX dataset_runs_name ON dataset_runs (project_id, dataset_id, name)
    WHERE dataset_id <> '';
"""
