"""The control half of heron's store on PostgreSQL: projects, API keys, users, members,
invitations, web sessions and login tokens; project settings (prices, browser and implicit
feedback, score configs), saved views and dashboards; evaluators and LLM connections,
signal rules, alerts, notification channels with their outbox and delivery log, error
analyses (more topics follow, one block each).

Each method has the signature and the return shape of :class:`heron.store.EmbeddedStore`'s
and runs the same topic-module function (:mod:`heron.store.projects`, :mod:`.users`,
:mod:`.members`) through a :class:`~heron.store.postgres.cursor.PgCursor`. A write runs in
one transaction on a pooled connection, committed at the end of the block.

Several replicas share the database, so no process lock serialises writes as the embedded
store's admin lock does: of two writes racing past a check-then-insert, the database's
unique constraint refuses the second, which surfaces as :class:`~heron.errors.Conflict`
(409), what the check itself raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from heron.errors import Conflict
from heron.signals import outbox
from heron.store import alerts as alertdb
from heron.store import analysis as analysisdb
from heron.store import channels as channeldb
from heron.store import dashboards as dashmod
from heron.store import evaluators as evaldb
from heron.store import feedback, members, saved
from heron.store import keys as keymod
from heron.store import prices as pricedb
from heron.store import projects as projectdb
from heron.store import scores as scoremod
from heron.store import signals as signaldb
from heron.store import users as usermod
from heron.store.postgres.connect import DEFAULT_POOL_SIZE, connect, open_pool
from heron.store.postgres.cursor import PgCursor
from heron.store.postgres.migrations import migrate


class PostgresControl:
    """heron's control data on PostgreSQL (see :mod:`heron.store.postgres`).

    Opening migrates the schema (once, under an advisory lock, see :mod:`.migrations`).
    """

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        with connect(url) as conn:
            migrate(conn)
        self._pool = open_pool(url, max_size=pool_size)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _read(self) -> Iterator[PgCursor]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield PgCursor(cur)

    @contextmanager
    def _admin(self, serial: str | None = None) -> Iterator[PgCursor]:
        """One write transaction (rolled back on an exception); a unique constraint's refusal
        is a Conflict. With ``serial``, the transaction first takes the advisory lock of that
        key, so that writes of one key (a project's members) run one at a time across
        replicas, as the embedded store's admin lock runs them: what they check (the last
        owner) still holds when they write."""
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                if serial is not None:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [serial])
                yield PgCursor(cur)
        except psycopg.errors.UniqueViolation as e:
            raise Conflict(f"already exists ({e.diag.constraint_name})") from e

    # -- projects and keys -------------------------------------------------------------------

    def list_projects(self) -> list[dict[str, Any]]:
        with self._read() as cur:
            return projectdb.list_projects(cur)

    def project_by_name(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.list_projects() if p["name"] == name), None)

    def create_project(self, name: str, owner_id: str | None = None) -> dict[str, Any]:
        """A new project; ``owner_id`` (a web user) becomes its owner."""
        with self._admin() as cur:
            return projectdb.create_project(cur, name, owner_id)

    def create_key(
        self,
        project_id: str,
        public_key: str | None = None,
        secret_key: str | None = None,
        scope: str = keymod.DEFAULT_SCOPE,
    ) -> dict[str, str]:
        """A new key pair for a project. The secret is returned once and stored hashed."""
        keymod.check_scope(scope)
        public_key = public_key or keymod.new_public_key()
        secret_key = secret_key or keymod.new_secret_key()
        with self._admin() as cur:
            return projectdb.create_key(cur, project_id, public_key, secret_key, scope)

    def list_keys(self, project_id: str | None = None) -> list[dict[str, Any]]:
        with self._read() as cur:
            return projectdb.list_keys(cur, project_id)

    def key_table(self) -> dict[str, tuple[str, str, str]]:
        """secret hash -> (public key, project id, scope), for the authenticator's cache."""
        with self._read() as cur:
            return projectdb.key_table(cur)

    def has_key(self, public_key: str) -> bool:
        with self._read() as cur:
            return projectdb.has_key(cur, public_key)

    def set_retention(self, project_id: str, days: int | None) -> None:
        """Keep the project's traces ``days`` days (``None``: forever)."""
        with self._admin() as cur:
            projectdb.set_retention(cur, project_id, days)

    # -- project settings: rename, members, invitations, revoking keys -----------------------

    def rename_project(self, project_id: str, name: str) -> dict[str, Any]:
        with self._admin() as cur:
            return members.rename_project(cur, project_id, name)

    def revoke_key(self, project_id: str, public_key: str) -> None:
        """Delete a key (callers refresh the authenticator's cache so it stops at once)."""
        with self._admin() as cur:
            members.revoke_key(cur, project_id, public_key)

    def list_members(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return members.list_members(cur, project_id)

    def add_member(self, project_id: str, user_id: str, role: str) -> None:
        with self._admin(_members(project_id)) as cur:
            members.add_member(cur, project_id, user_id, role)

    def set_member_role(self, project_id: str, user_id: str, role: str) -> None:
        with self._admin(_members(project_id)) as cur:
            members.set_role(cur, project_id, user_id, role)

    def remove_member(self, project_id: str, user_id: str) -> None:
        with self._admin(_members(project_id)) as cur:
            members.remove_member(cur, project_id, user_id)

    def create_invite(
        self, project_id: str, role: str, created_by: str | None = None
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return members.create_invite(cur, project_id, role, created_by)

    def peek_invite(self, token: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return members.peek_invite(cur, token)

    def accept_invite(
        self, token: str, user_id: str | None = None, email: str = "", password: str = ""
    ) -> dict[str, Any] | None:
        """Spend an invitation: add ``user_id``, or a new user (email, password) to its project
        with its role. None if the token is unknown, spent or expired."""
        hashed = None
        if user_id is None:
            usermod.check_new_password(password)
            hashed = usermod.hash_password(password)  # slow on purpose: outside the transaction
        with self._admin() as cur:
            invite = members.spend_invite(cur, token)
            if invite is None:
                return None
            if user_id is None:
                assert hashed is not None
                user_id = usermod.create_user(cur, email, hashed, False, [])["id"]
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(?))", [_members(invite["project_id"])]
            )
            members.add_member(cur, invite["project_id"], user_id, invite["role"])
            return {**invite, "user_id": user_id}

    # -- web users and sessions --------------------------------------------------------------

    def create_user(
        self,
        email: str,
        password: str,
        *,
        is_admin: bool = False,
        project_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A web UI user (admins join every project). The password is stored hashed."""
        usermod.check_new_password(password)
        hashed = usermod.hash_password(password)  # slow on purpose: outside the transaction
        with self._admin() as cur:
            return usermod.create_user(cur, email, hashed, is_admin, list(project_ids))

    def set_password(self, email: str, password: str) -> None:
        usermod.check_new_password(password)
        hashed = usermod.hash_password(password)
        with self._admin() as cur:
            usermod.set_password(cur, email, hashed)

    def list_accounts(self) -> list[dict[str, Any]]:
        """Web UI users, oldest first (``list_users`` is the traces' end users)."""
        with self._read() as cur:
            return usermod.list_users(cur)

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return usermod.user_by_email(cur, email)

    def check_login(self, email: str, password: str) -> dict[str, Any] | None:
        with self._read() as cur:
            row = usermod.login_row(cur, email)
        return usermod.check_login_row(row, password)  # the slow hash, connection returned

    def user_projects(self, user_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return usermod.user_projects(cur, user_id)

    def create_web_session(self, user_id: str, ttl_s: float) -> dict[str, str]:
        with self._admin() as cur:
            return usermod.create_session(cur, user_id, ttl_s)

    def web_session(self, token: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return usermod.session_user(cur, token)

    def delete_web_session(self, token: str) -> None:
        with self._admin() as cur:
            usermod.delete_session(cur, token)

    def create_login_token(self, user_id: str, ttl_s: float) -> str:
        with self._admin() as cur:
            return usermod.create_login_token(cur, user_id, ttl_s)

    def use_login_token(self, token: str) -> dict[str, Any] | None:
        with self._admin() as cur:
            return usermod.use_login_token(cur, token)

    # -- project settings: prices, feedback, implicit feedback, score configs -------------------

    def list_prices(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return pricedb.list_prices(cur, project_id)

    def put_price(self, project_id: str, entry: dict[str, Any]) -> None:
        with self._admin() as cur:
            pricedb.put_price(cur, project_id, entry)

    def delete_price(self, project_id: str, entry_id: str) -> None:
        with self._admin() as cur:
            pricedb.delete_price(cur, project_id, entry_id)

    def feedback_settings(self, project_id: str) -> dict[str, Any]:
        with self._read() as cur:
            return feedback.get(cur, project_id)

    def set_feedback_settings(
        self, project_id: str, origins: list[str], names: list[str]
    ) -> dict[str, Any]:
        with self._admin() as cur:
            return feedback.put(cur, project_id, origins, names)

    def all_feedback_settings(self) -> dict[str, dict[str, Any]]:
        with self._read() as cur:
            return feedback.all_settings(cur)

    def implicit_settings(self, project_id: str) -> dict[str, Any] | None:
        """The project's stored detector settings (JSON-shaped), None: the defaults."""
        with self._read() as cur:
            return feedback.implicit_settings(cur, project_id)

    def set_implicit_settings(self, project_id: str, settings: dict[str, Any] | None) -> None:
        """Store the project's detector settings (validated by the caller); None: defaults."""
        with self._admin() as cur:
            feedback.set_implicit_settings(cur, project_id, settings)

    def list_score_configs(
        self, project_id: str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as cur:
            return scoremod.list_configs(cur, project_id, page, limit)

    def score_configs_by_id(
        self, project_id: str, config_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        with self._read() as cur:
            return scoremod.configs_by_id(cur, project_id, sorted(set(config_ids)))

    def put_score_config(self, project_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a config (checked by :mod:`heron.scores.configs`); returns it."""
        with self._admin() as cur:
            scoremod.put_config(cur, project_id, config)
            return scoremod.configs_by_id(cur, project_id, [config["id"]])[config["id"]]

    # -- saved views and dashboards ------------------------------------------------------------

    def list_saved_views(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return saved.list_views(cur, project_id)

    def get_saved_view(self, project_id: str, view_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return saved.get_view(cur, project_id, view_id)

    def create_saved_view(
        self, project_id: str, view_id: str, name: str, query: str, created_by: str
    ) -> None:
        with self._admin() as cur:
            saved.create_view(cur, project_id, view_id, name, query, created_by)

    def delete_saved_view(self, project_id: str, view_id: str) -> bool:
        with self._admin() as cur:
            return saved.delete_view(cur, project_id, view_id)

    def list_dashboards(self, project_id: str) -> list[dict[str, Any]]:
        with self._read() as cur:
            return dashmod.list_dashboards(cur, project_id)

    def get_dashboard(self, project_id: str, dashboard_id: str) -> dict[str, Any] | None:
        with self._read() as cur:
            return dashmod.get_dashboard(cur, project_id, dashboard_id)

    def create_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> None:
        with self._admin() as cur:
            dashmod.create_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def update_dashboard(
        self, project_id: str, dashboard_id: str, name: str, description: str, spec: dict[str, Any]
    ) -> bool:
        with self._admin() as cur:
            return dashmod.update_dashboard(cur, project_id, dashboard_id, name, description, spec)

    def delete_dashboard(self, project_id: str, dashboard_id: str) -> bool:
        with self._admin() as cur:
            return dashmod.delete_dashboard(cur, project_id, dashboard_id)

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

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._read() as cur:
            return projectdb.get_meta(cur, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._admin() as cur:
            projectdb.set_meta(cur, key, value)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _members(project_id: str) -> str:
    """The serial key of a project's memberships (see ``PostgresControl._admin``)."""
    return f"members:{project_id}"
