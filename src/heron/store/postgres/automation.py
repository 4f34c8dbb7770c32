"""What heron's background tasks configure and record, on PostgreSQL: evaluators and LLM
connections, signal rules, alerts, notification channels with the outbox and the delivery
log, error analyses, the runner's backfill jobs and cursors, alignment runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from heron.signals import outbox
from heron.store import alerts as alertdb
from heron.store import alignment as aligndb
from heron.store import analysis as analysisdb
from heron.store import channels as channeldb
from heron.store import evaluators as evaldb
from heron.store import runner as runnerdb
from heron.store import signals as signaldb
from heron.store.postgres.transactions import Transactions


class Automation(Transactions):
    """Evaluators, rules, alerts, channels, analyses (a part of ``PostgresControl``)."""

    # -- evaluators and LLM connections --------------------------------------------------------

    def list_evaluators(
        self, project_id: str | None, active_only: bool = False
    ) -> list[dict[str, Any]]:
        """A project's evaluators (``None``: every project's), by name."""
        with self._read() as cur:
            return evaldb.list_evaluators(cur, project_id, active_only)

    def get_evaluator(self, project_id: str, name: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return evaldb.get_evaluator(cur, project_id, name)

    def put_evaluator(
        self, project_id: str, name: str, spec: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """Create, or version when the spec changed (validated by the caller)."""
        with self._admin(f"evaluator:{project_id}:{name}") as cur:
            evaldb.require_project(cur, project_id)
            return evaldb.put_evaluator(cur, project_id, name, spec)

    def set_evaluator_status(
        self, project_id: str, evaluator_id: str, status: str, reason: str | None = None
    ) -> bool:
        with self._admin() as cur:
            return evaldb.set_status(cur, project_id, evaluator_id, status, reason)

    def delete_evaluator(self, project_id: str, evaluator_id: str) -> bool:
        with self._admin() as cur:
            return evaldb.delete_evaluator(cur, project_id, evaluator_id)

    def evaluator_versions(self, project_id: str, evaluator_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return evaldb.versions(cur, project_id, evaluator_id)

    def record_evaluator_runs(
        self, stats: Sequence[dict[str, Any]], log: Sequence[dict[str, Any]]
    ) -> None:
        """Add run counts and log lines (see :func:`heron.store.evaluators.record_runs`)."""
        if stats or log:
            with self._admin() as cur:
                evaldb.record_runs(cur, stats, log)

    def evaluator_stats(self, project_id: str, evaluator_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return evaldb.stats(cur, project_id, evaluator_id)

    def evaluator_log(
        self, project_id: str, evaluator_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self._read() as cur:
            return evaldb.log_lines(cur, project_id, evaluator_id, limit)

    def list_connections(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return evaldb.list_connections(cur, project_id)

    def get_connection(
        self, project_id: str, name: str, with_key: bool = False
    ) -> dict[str, Any] | None:
        with self._read() as cur:
            return evaldb.get_connection(cur, project_id, name, with_key)

    def put_connection(
        self,
        project_id: str,
        name: str,
        spec: dict[str, Any],
        api_key: str | None,
        api_key_hint: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Create or update (``api_key`` encrypted by the caller; ``None`` keeps it)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return evaldb.put_connection(cur, project_id, name, spec, api_key, api_key_hint)

    def delete_connection(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return evaldb.delete_connection(cur, project_id, name)

    # -- signal rules -----------------------------------------------------------------------

    def list_signal_rules(self, project_id: str | None) -> list[dict[str, Any]]:
        """Stored rules and built-in overrides (one project's; every project's with None)."""
        with self._read() as cur:
            return signaldb.list_rules(cur, project_id)

    def put_signal_rule(self, project_id: str, name: str, spec: dict[str, Any]) -> str:
        """Store a checked rule; ``created``, ``updated`` or ``unchanged``."""
        with self._admin() as cur:
            return signaldb.put_rule(cur, project_id, name, spec, _utcnow())

    def delete_signal_rule(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return signaldb.delete_rule(cur, project_id, name)

    # -- alerts on aggregates ---------------------------------------------------------------

    def list_alerts(self, project_id: str | None) -> list[dict[str, Any]]:
        """A project's alerts with their states (``None``: every project's), by name."""
        with self._read() as cur:
            return alertdb.list_alerts(cur, project_id)

    def get_alert(self, project_id: str, name: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return alertdb.get_alert(cur, project_id, name)

    def put_alert(self, project_id: str, name: str, spec: dict[str, Any]) -> str:
        """Create or replace: ``created``, ``updated`` or ``unchanged``."""
        with self._admin() as cur:
            return alertdb.put_alert(cur, project_id, name, spec)

    def delete_alert(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return alertdb.delete_alert(cur, project_id, name)

    def alert_history(
        self,
        project_id: str,
        name: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """An alert's evaluations, newest first."""
        with self._read() as cur:
            return alertdb.alert_history(cur, project_id, name, start, end, limit)

    def record_alert_evaluation(self, evaluation: alertdb.Evaluation) -> bool:
        """The evaluation, the alert's state and its notification in one transaction."""
        with self._admin() as cur:
            return alertdb.record_evaluation(cur, evaluation)

    # -- notification channels, the outbox's delivery, the delivery log ---------------------

    def list_channels(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return channeldb.list_channels(cur, project_id)

    def get_channel(
        self, project_id: str, name: str, with_secret: bool = False
    ) -> dict[str, Any] | None:
        with self._read() as cur:
            return channeldb.get_channel(cur, project_id, name, with_secret)

    def put_channel(
        self,
        project_id: str,
        name: str,
        spec: dict[str, Any],
        secret: str | None,
        secret_hint: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Create or update (``secret`` encrypted by the caller; ``None`` keeps it)."""
        with self._admin() as cur:
            evaldb.require_project(cur, project_id)
            return channeldb.put_channel(cur, project_id, name, spec, secret, secret_hint)

    def delete_channel(self, project_id: str, name: str) -> bool:
        with self._admin() as cur:
            return channeldb.delete_channel(cur, project_id, name)

    def claim_notifications(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Lease the notifications due at ``now`` (see :func:`heron.store.channels.claim_due`;
        replicas claiming at once never take one twice)."""
        with self._admin() as cur:
            return channeldb.claim_due(cur, now, lease_until, limit)

    def enqueue_notifications(
        self, project_id: str, channels: Sequence[str], event: dict[str, Any]
    ) -> list[str]:
        with self._admin() as cur:
            return outbox.enqueue(cur, project_id, channels, event)

    def release_notifications(self, ids: Sequence[str], at: datetime) -> None:
        with self._admin() as cur:
            channeldb.release(cur, ids, at)

    def next_notification_due(self) -> datetime | None:
        with self._read() as cur:
            return channeldb.next_due(cur)

    def notifications(self, project_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        with self._read() as cur:
            return channeldb.notifications(cur, project_id, ids)

    def record_deliveries(self, attempts: Sequence[dict[str, Any]]) -> None:
        """Log attempts and move their notifications on (one transaction)."""
        if attempts:
            with self._admin() as cur:
                channeldb.record_attempts(cur, attempts)

    def channel_deliveries(
        self, project_id: str, channel: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self._read() as cur:
            return channeldb.deliveries(cur, project_id, channel, limit)

    # -- error analyses (their notes are read from the events' store) -----------------------

    def create_error_analysis(
        self,
        project_id: str,
        analysis: dict[str, Any],
        categories: Sequence[dict[str, Any]],
        notes: Sequence[tuple[str, str, str, str]],
    ) -> None:
        with self._admin() as cur:
            analysisdb.create_analysis(cur, project_id, analysis, categories, notes)

    def get_error_analysis(self, project_id: str, analysis_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return analysisdb.get_analysis(cur, project_id, analysis_id)

    def list_error_analyses(self, project_id: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._read() as cur:
            return analysisdb.list_analyses(cur, project_id, limit)

    def edit_error_analysis(
        self, project_id: str, analysis_id: str, edits: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """Rename, add, move, delete ... in one transaction (see heron.store.analysis)."""
        with self._admin(f"analysis:{project_id}:{analysis_id}") as cur:
            analysisdb.apply_edits(cur, project_id, analysis_id, edits)

    # -- the runner's backfill jobs and cursors -----------------------------------------------

    def runner_cursor(self, task: str) -> int | None:
        """The change marker up to which ``task``'s work is done (None: never ran)."""
        with self._read() as cur:
            return runnerdb.get_cursor(cur, task)

    def create_runner_job(self, job_id: str, project_id: str, spec: dict[str, Any]) -> None:
        with self._admin() as cur:
            runnerdb.insert_job(cur, job_id, project_id, spec)

    def runner_jobs(
        self, project_id: str | None = None, active: bool = False
    ) -> list[dict[str, Any]]:
        """Backfill jobs, newest first (one project's, or all with ``None``); ``active``:
        the queued and running ones, oldest first."""
        with self._read() as cur:
            return runnerdb.list_jobs(cur, project_id, active)

    def runner_job(self, job_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return runnerdb.get_job(cur, job_id)

    def update_runner_job(self, job_id: str, **values: Any) -> bool:
        """Change a queued or running job (status, total, phase, after, error); False if it
        had ended (a cancelled job stays cancelled)."""
        with self._admin() as cur:
            return runnerdb.update_job(cur, job_id, **values)

    # -- alignment runs of evaluators against people's labels ---------------------------------

    def create_alignment(self, project_id: str, run: dict[str, Any]) -> None:
        with self._admin() as cur:
            aligndb.create_run(cur, project_id, run)

    def set_alignment_job(self, project_id: str, run_id: str, job_id: str) -> None:
        with self._admin() as cur:
            aligndb.set_job(cur, project_id, run_id, job_id)

    def put_alignment_items(
        self, project_id: str, run_id: str, items: Sequence[dict[str, Any]]
    ) -> None:
        with self._admin() as cur:
            aligndb.put_items(cur, project_id, run_id, items)

    def get_alignment(self, project_id: str, run_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return aligndb.get_run(cur, project_id, run_id)

    def latest_alignment(
        self, project_id: str, evaluator_id: str, version: int | None
    ) -> dict[str, Any] | None:
        with self._read() as cur:
            return aligndb.latest_run(cur, project_id, evaluator_id, version)

    def alignment_items(self, project_id: str, run_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return aligndb.run_items(cur, project_id, run_id)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
