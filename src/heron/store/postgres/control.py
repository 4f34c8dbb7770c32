"""The control half of heron's store on PostgreSQL: :class:`PostgresControl`.

Each method has the signature and the return shape of :class:`heron.store.EmbeddedStore`'s
and runs the same topic-module function through a
:class:`~heron.store.postgres.cursor.PgCursor`, in a pooled transaction (see
:mod:`.transactions`). One class per topic group, in its own module:

- :class:`.accounts.Accounts`: projects, API keys, members, invitations, web users,
  sessions, login tokens, meta;
- :class:`.project_settings.ProjectSettings`: prices, browser and implicit feedback, score
  configs, saved views, dashboards;
- :class:`.automation.Automation`: evaluators and LLM connections, signal rules, alerts,
  notification channels with the outbox and delivery log, error analyses, the runner's
  backfill jobs and cursors, alignment runs;
- :class:`.annotation.Annotation`: annotation queues, their items and assignments;
- :class:`.datasets.Datasets`: datasets and their versioned items;
- :class:`.dataset_runs.DatasetRuns`: dataset runs (their items are events).
- :class:`.runner_feed.RunnerControl`: the runner's re-checks, outputs and leases.
"""

from __future__ import annotations

from heron.store.postgres.accounts import Accounts
from heron.store.postgres.annotation import Annotation
from heron.store.postgres.automation import Automation
from heron.store.postgres.dataset_runs import DatasetRuns
from heron.store.postgres.datasets import Datasets
from heron.store.postgres.project_settings import ProjectSettings
from heron.store.postgres.runner_feed import RunnerControl
from heron.store.postgres.trace_links import TraceLinks


class PostgresControl(
    Accounts,
    ProjectSettings,
    Automation,
    Annotation,
    Datasets,
    DatasetRuns,
    TraceLinks,
    RunnerControl,
):
    """heron's control data on PostgreSQL (see :mod:`heron.store.postgres`). Opening
    migrates the schema (once, under an advisory lock, see :mod:`.migrations`)."""
