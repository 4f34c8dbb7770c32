"""Projects, API keys, members, invitations, web users, sessions, login tokens and the
store's meta pairs on PostgreSQL (:mod:`heron.store.projects`, :mod:`heron.store.members`,
:mod:`heron.store.users`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.store import keys as keymod
from heron.store import members
from heron.store import projects as projectdb
from heron.store import users as usermod
from heron.store.postgres.transactions import Transactions


class Accounts(Transactions):
    """Projects, keys, members, users and sessions (a part of ``PostgresControl``)."""

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

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._read() as cur:
            return projectdb.get_meta(cur, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._admin() as cur:
            projectdb.set_meta(cur, key, value)


def _members(project_id: str) -> str:
    """The serial key of a project's memberships (see ``Transactions._admin``)."""
    return f"members:{project_id}"
